// Package devstack starts, in this process, everything the product needs on one machine: the embedded
// Temporal server with its Web UI, and a local PostgreSQL (unless a DATABASE_URL is given) with the
// migrations applied. `worker --dev` and the end-to-end tests use it; production uses none of it.
package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver

	"github.com/guided-response/guided/internal/devtemporal"
	"github.com/guided-response/guided/internal/localpg"
	"github.com/guided-response/guided/migrations"
	"github.com/guided-response/guided/workflows"
)

// Options configure the stack.
type Options struct {
	// DataDir holds the Temporal SQLite file and the Postgres cluster; a second start reuses both.
	DataDir string
	// Ports; 0 picks a free port. UIPort -1 runs no UI.
	TemporalPort int
	UIPort       int
	PostgresPort int
	// DatabaseURL, when set, is used instead of starting a local Postgres.
	DatabaseURL string
	// PostgresBin is where initdb and postgres are, "" to search for them.
	PostgresBin string
	Namespace   string
	Logger      hclog.Logger
	// TemporalLogger receives the embedded server's logs; nil means Logger.Named("temporal").
	TemporalLogger hclog.Logger
}

// Stack is the running stack.
type Stack struct {
	Temporal *devtemporal.Server
	// Postgres is nil when Options.DatabaseURL was given.
	Postgres *localpg.Server
	// DB is open on the database, migrations applied.
	DB          *sqlx.DB
	databaseURL string
	lock        *os.File
}

// Start starts Postgres (or connects to DatabaseURL), applies the migrations, then starts Temporal with the
// namespace and this project's search attributes. On error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", opts.DataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}

	if opts.TemporalLogger == nil {
		opts.TemporalLogger = opts.Logger.Named("temporal")
	}
	s := &Stack{databaseURL: opts.DatabaseURL}
	// One stack per data directory: a second one would corrupt the SQLite file and fight over Postgres.
	s.lock, err = lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Stop(context.WithoutCancel(ctx))
		}
	}()

	if s.databaseURL == "" {
		bin, err := localpg.FindBinaries(opts.PostgresBin)
		if err != nil {
			return nil, err
		}
		pgOpts := localpg.Options{
			DataDir:  filepath.Join(dataDir, "postgres"),
			Port:     opts.PostgresPort,
			BinDir:   bin,
			Database: "guided",
			Logger:   opts.Logger.Named("postgres"),
		}
		s.Postgres, err = localpg.Start(ctx, pgOpts)
		if errors.Is(err, localpg.ErrUnreachable) && os.Geteuid() == 0 {
			// Root with a data directory under a closed home (/root is 0700): PostgreSQL, which runs as an
			// unprivileged user, cannot reach it. Keep the cluster under /var/lib, at a path derived from the
			// data directory so the next start finds it again, and say where it is.
			pgOpts.DataDir, err = fallbackClusterDir(dataDir)
			if err != nil {
				return nil, err
			}
			opts.Logger.Warn("the data directory is closed to the postgres user; the PostgreSQL cluster lives elsewhere",
				"data_dir", dataDir, "cluster", pgOpts.DataDir)
			s.Postgres, err = localpg.Start(ctx, pgOpts)
		}
		if err != nil {
			return nil, fmt.Errorf("start local postgres: %w", err)
		}
		s.databaseURL = s.Postgres.URL()
	}

	s.DB, err = sqlx.ConnectContext(ctx, "postgres", s.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if _, err := migrations.Up(ctx, s.DB.DB, opts.Logger.Named("migrations")); err != nil {
		return nil, err
	}

	s.Temporal, err = devtemporal.Start(devtemporal.Options{
		DatabaseFile:     filepath.Join(dataDir, "temporal.db"),
		FrontendPort:     opts.TemporalPort,
		UIPort:           opts.UIPort,
		Namespace:        opts.Namespace,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           opts.TemporalLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded temporal: %w", err)
	}
	return s, nil
}

// FallbackRoot holds PostgreSQL clusters of data directories the postgres user cannot reach.
const FallbackRoot = "/var/lib/guided-response"

// fallbackClusterDir is the cluster directory for dataDir under FallbackRoot; a note in dataDir says where.
func fallbackClusterDir(dataDir string) (string, error) {
	sum := sha256.Sum256([]byte(dataDir))
	dir := filepath.Join(FallbackRoot, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s for the postgres cluster: %w", dir, err)
	}
	if err := os.Chmod(FallbackRoot, 0o755); err != nil {
		return "", fmt.Errorf("open %s to the postgres user: %w", FallbackRoot, err)
	}
	note := "The PostgreSQL cluster of this data directory is at " + filepath.Join(dir, "postgres") +
		"\n(this directory is closed to the unprivileged user PostgreSQL runs as).\n"
	if err := os.WriteFile(filepath.Join(dataDir, "postgres.location"), []byte(note), 0o644); err != nil {
		return "", fmt.Errorf("write postgres.location: %w", err)
	}
	return filepath.Join(dir, "postgres"), nil
}

// DatabaseURL is the database's connection URL, with its password: never log it; see RedactedDatabaseURL.
func (s *Stack) DatabaseURL() string { return s.databaseURL }

// RedactedDatabaseURL is the database's URL with the password hidden, for printing.
func (s *Stack) RedactedDatabaseURL() string {
	if s.Postgres != nil {
		return s.Postgres.RedactedURL()
	}
	return RedactURL(s.databaseURL)
}

// RedactURL hides the password of a database URL; a URL that does not parse is hidden whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "(database connection string hidden)"
	}
	return u.Redacted()
}

// Stop stops Temporal, closes the database and stops Postgres; it is safe on a partly started stack.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	if s.Temporal != nil {
		if err := s.Temporal.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop temporal: %w", err))
		}
		s.Temporal = nil
	}
	if s.DB != nil {
		_ = s.DB.Close()
		s.DB = nil
	}
	if s.Postgres != nil {
		if err := s.Postgres.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop postgres: %w", err))
		}
		s.Postgres = nil
	}
	if s.lock != nil {
		_ = s.lock.Close() // closing releases the lock
		s.lock = nil
	}
	return errors.Join(errs...)
}
