package rbac

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/lib/pq"
)

// Errors callers can test for with errors.Is; the returned errors wrap them with context. They mirror
// package store's (rbac cannot import store: store depends on card, which depends on rbac).
var (
	// ErrNotFound means the principal or role does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalid means the input was refused: a missing key, an unknown permission or kind, a role name
	// taken by a built-in role.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help.
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
