package auth

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

// Errors of the token store, which callers can test for with errors.Is; the returned errors wrap them
// with context. They mirror package store's and rbac's.
var (
	// ErrNotFound means the token, or the principal a token is created for, does not exist in the tenant.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalid means the input was refused: an empty tenant or principal, a negative TTL, a disabled
	// principal.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help. Authenticate returns it (not ErrUnauthenticated) when it cannot check a token: the API
	// answers 503, not 401.
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

// mapError adds the matching sentinel error to a database error, keeping the original for detail:
// unique violation -> ErrDuplicate, other integrity violations (class 23) and data exceptions (class
// 22) -> ErrInvalid, connection failures -> ErrUnavailable.
func mapError(err error) error {
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

// namedExec runs a statement with named parameters and returns the number of rows affected.
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
