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
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/sqldb"
)

// Errors callers can test for with errors.Is; the returned errors wrap them with context.
var (
	// ErrNotFound means the incident does not exist.
	ErrNotFound = sqldb.ErrNotFound
	// ErrDuplicate means a row with the same key already exists (unique violation).
	ErrDuplicate = sqldb.ErrDuplicate
	// ErrInvalid means the input was refused: a missing key, a value the schema does not allow, a bad
	// cursor.
	ErrInvalid = sqldb.ErrInvalid
	// ErrUnavailable means the database could not be reached or is shutting down; retrying later may
	// help.
	ErrUnavailable = sqldb.ErrUnavailable
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

// mapError adds the matching sentinel error to a database error (see sqldb.MapError).
func mapError(err error) error { return sqldb.MapError(err) }
