// Package sqldb holds what the PostgreSQL stores share (store, rbac, auth): the sentinel errors that
// Postgres errors map to, and the sqlx helpers for queries with named parameters. The stores re-export the
// sentinels, so errors.Is works with either name.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Sentinel errors; returned errors wrap them with context and the original error.
var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a row with the same key already exists (unique violation).
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalid: the input was refused (an integrity violation or a data exception, or a store's own
	// check).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the database could not be reached or is shutting down; retrying later may help.
	ErrUnavailable = errors.New("database unavailable")
)

// Postgres error codes mapped to the errors above.
const (
	pgUniqueViolation  = "23505"
	pgAdminShutdown    = "57P01"
	pgCrashShutdown    = "57P02"
	pgCannotConnectNow = "57P03"
	pgTooManyConns     = "53300"
)

// MapError adds the matching sentinel error to a database error, keeping the original for detail:
// unique violation -> ErrDuplicate, other integrity violations (class 23: check, not-null, foreign key)
// and data exceptions (class 22: a NUL byte in text, a bad time) -> ErrInvalid, connection failures ->
// ErrUnavailable.
func MapError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code == pgUniqueViolation:
			return fmt.Errorf("%w: %w", ErrDuplicate, err)
		case pqErr.Code.Class() == "23", pqErr.Code.Class() == "22":
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		case pqErr.Code.Class() == "08", pqErr.Code == pgAdminShutdown, pqErr.Code == pgCrashShutdown,
			pqErr.Code == pgCannotConnectNow, pqErr.Code == pgTooManyConns:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// NamedExec runs a statement with named parameters (arg may be a slice of row structs for a multi-row
// INSERT) and returns the number of rows affected.
func NamedExec(ctx context.Context, ext sqlx.ExtContext, query string, arg any) (int64, error) {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return 0, err
	}
	res, err := ext.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, MapError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, MapError(err)
	}
	return n, nil
}

// NamedGet scans the single row of a query with named parameters into dest; no row is ErrNotFound.
func NamedGet(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return err
	}
	if err := sqlx.GetContext(ctx, ext, dest, q, args...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return MapError(err)
	}
	return nil
}

// NamedSelect scans every row of a query with named parameters into dest, a pointer to a slice.
func NamedSelect(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	q, args, err := ext.BindNamed(query, arg)
	if err != nil {
		return err
	}
	return MapError(sqlx.SelectContext(ctx, ext, dest, q, args...))
}
