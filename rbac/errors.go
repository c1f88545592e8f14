package rbac

import (
	"github.com/guided-response/guided/internal/sqldb"
)

// Errors callers can test for with errors.Is; the returned errors wrap them with context. They are
// internal/sqldb's, the same values as package store's and auth's.
var (
	// ErrNotFound means the principal or role does not exist.
	ErrNotFound = sqldb.ErrNotFound
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = sqldb.ErrDuplicate
	// ErrInvalid means the input was refused: a missing key, an unknown permission or kind, a role name
	// taken by a built-in role.
	ErrInvalid = sqldb.ErrInvalid
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help.
	ErrUnavailable = sqldb.ErrUnavailable
)

// mapError adds the matching sentinel error to a database error (see sqldb.MapError).
func mapError(err error) error { return sqldb.MapError(err) }
