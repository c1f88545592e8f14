package store

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/sqldb"
)

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

func namedExec(ctx context.Context, ext sqlx.ExtContext, query string, arg any) (int64, error) {
	return sqldb.NamedExec(ctx, ext, query, arg)
}

func namedGet(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedGet(ctx, ext, query, arg, dest)
}

func namedSelect(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedSelect(ctx, ext, query, arg, dest)
}
