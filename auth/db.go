package auth

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/sqldb"
)

// Errors of the token store, which callers can test for with errors.Is; the returned errors wrap them
// with context. They are internal/sqldb's, the same values as package store's and rbac's.
var (
	// ErrNotFound means the token, or the principal a token is created for, does not exist in the tenant.
	ErrNotFound = sqldb.ErrNotFound
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = sqldb.ErrDuplicate
	// ErrInvalid means the input was refused: an empty tenant or principal, a negative TTL, a disabled
	// principal.
	ErrInvalid = sqldb.ErrInvalid
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help. Authenticate returns it (not ErrUnauthenticated) when it cannot check a token: the API
	// answers 503, not 401.
	ErrUnavailable = sqldb.ErrUnavailable
)

// mapError adds the matching sentinel error to a database error (see sqldb.MapError).
func mapError(err error) error { return sqldb.MapError(err) }

func namedExec(ctx context.Context, ext sqlx.ExtContext, query string, arg any) (int64, error) {
	return sqldb.NamedExec(ctx, ext, query, arg)
}

func namedGet(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedGet(ctx, ext, query, arg, dest)
}

func namedSelect(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedSelect(ctx, ext, query, arg, dest)
}
