package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
)

// namedExec runs a statement with named parameters; arg may be a slice of row structs for a multi-row
// INSERT. It returns the number of rows affected.
func namedExec(ctx context.Context, ext sqlx.ExtContext, query string, arg any) (int64, error) {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return 0, err
	}
	res, err := ext.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, mapError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapError(err)
	}
	return n, nil
}

// namedGet scans the single row of a query with named parameters into dest; no row is ErrNotFound.
func namedGet(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return err
	}
	if err := sqlx.GetContext(ctx, ext, dest, q, args...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return mapError(err)
	}
	return nil
}

// namedSelect scans every row of a query with named parameters into dest, a pointer to a slice.
func namedSelect(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return err
	}
	return mapError(sqlx.SelectContext(ctx, ext, dest, q, args...))
}

// chunks splits rows into batches small enough for one multi-row INSERT (PostgreSQL takes at most
// 65535 parameters per statement).
func chunks[T any](rows []T, size int) [][]T {
	var out [][]T
	for len(rows) > size {
		out = append(out, rows[:size])
		rows = rows[size:]
	}
	if len(rows) > 0 {
		out = append(out, rows)
	}
	return out
}
