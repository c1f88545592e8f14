// Package migrations holds the database schema as forward-only, numbered SQL files (NNNNN_name.sql,
// embedded in the binary) and applies them with goose. Applying is an explicit step (Up) that the
// product runs at start-up and the tests run on every fresh database; a file, once released, is never
// edited: change the schema with a new file.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// Applied is one migration Up applied.
type Applied struct {
	Version  int64
	File     string
	Duration time.Duration
}

// Migration is the state of one migration, as Status reports it.
type Migration struct {
	Version int64
	File    string
	Applied bool
	// AppliedAt is when it was applied; zero when it is pending.
	AppliedAt time.Time
}

// Up applies every pending migration, in order, each in its own transaction, and returns what it
// applied (nothing when the schema is current). A Postgres advisory lock keeps concurrent callers (two
// workers starting together) from applying the same migration twice.
func Up(ctx context.Context, db *sql.DB, logger hclog.Logger) ([]Applied, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		results = partial.Applied
		err = fmt.Errorf("%s: %w", partial.Failed.Source.Path, partial.Err)
	}
	applied := make([]Applied, 0, len(results))
	for _, r := range results {
		a := Applied{Version: r.Source.Version, File: r.Source.Path, Duration: r.Duration}
		applied = append(applied, a)
		logger.Info("applied migration", "version", a.Version, "file", a.File, "duration", a.Duration)
	}
	if err != nil {
		return applied, fmt.Errorf("apply migrations: %w", err)
	}
	return applied, nil
}

// Status lists every migration this binary knows, oldest first, with whether the database has it.
func Status(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(statuses))
	for _, s := range statuses {
		out = append(out, Migration{
			Version:   s.Source.Version,
			File:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true), // only the SQL files here, nothing registered elsewhere
		goose.WithLogger(goose.NopLogger()),   // Up logs what it applied, key/value, through hclog
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
