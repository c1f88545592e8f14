// Package store keeps incidents, their alerts and the evidence entities of each alert in PostgreSQL
// (schema in package migrations).
//
// An incident is ingested again and again as Defender updates it: UpsertIncident keeps one row per
// incident, replaces its alerts and entities with the latest version, and ignores a version older than
// the stored one. GetIncident rebuilds the domain model from the rows; ListIncidents pages through a
// tenant's incidents, newest first; FindEntities finds the same device, user, file... across incidents.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Errors callers can test for with errors.Is; the returned errors wrap them with context.
var (
	// ErrNotFound means the incident does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = errors.New("duplicate")
	// ErrInvalid means the input was refused: a missing key, a value the schema does not allow, a bad
	// cursor.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help.
	ErrUnavailable = errors.New("database unavailable")
)

// Store reads and writes incidents. It is safe for concurrent use.
type Store struct {
	db     *sqlx.DB
	logger hclog.Logger
}

// New returns a Store over db, whose schema is migrated (migrations.Up).
func New(db *sqlx.DB, logger hclog.Logger) *Store {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Store{db: db, logger: logger}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", mapError(err))
	}
	return nil
}

// inTx runs fn in a transaction, committed when fn succeeds and rolled back otherwise.
func (s *Store) inTx(ctx context.Context, readOnly bool, fn func(tx sqlx.ExtContext) error) error {
	opts := &sql.TxOptions{ReadOnly: readOnly}
	if readOnly {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for the several queries of a read
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", mapError(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}

// Postgres error codes the store maps to its errors.
const (
	pgUniqueViolation  = "23505"
	pgAdminShutdown    = "57P01"
	pgCrashShutdown    = "57P02"
	pgCannotConnectNow = "57P03"
	pgTooManyConns     = "53300"
)

// mapError adds the matching sentinel error to a database error, keeping the original for detail:
// unique violation -> ErrDuplicate, other integrity violations (class 23: check, not-null, foreign
// key) and data exceptions (class 22: a NUL byte in text, a bad time) -> ErrInvalid, connection
// failures -> ErrUnavailable.
func mapError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code == pgUniqueViolation:
			return fmt.Errorf("%w: %w", ErrDuplicate, err)
		case pqErr.Code.Class() == "23", pqErr.Code.Class() == "22": // integrity violation, data exception
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
