// Package pgtest gives tests in any package a fresh, empty PostgreSQL database of their own.
//
// The first NewDB of a test binary starts a throwaway server (internal/localpg) in a temporary
// directory, on a free port; every NewDB then creates a database with a unique name on it and drops it
// when the test ends. Every test package that uses pgtest runs its tests through Main, which stops the
// server and removes its directory afterwards:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// With DATABASE_TEST_URL set (postgres://user:password@host:port/db?sslmode=disable, a user allowed to
// create databases) the databases are created on that server instead and no server is started. Without
// it PostgreSQL must be installed (PG_BIN may name its bin directory): tests fail, never skip, when it
// is not.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/guided-response/guided/internal/localpg"
	"github.com/guided-response/guided/migrations"
)

// EnvURL names the environment variable of an existing server to use instead of starting one.
const EnvURL = "DATABASE_TEST_URL"

// cluster is the server of this test binary. It is the one package-level variable: a test binary has
// one server, started by the first test that needs it and stopped by Main.
type cluster struct {
	once   sync.Once
	err    error
	admin  *sql.DB  // connected to the maintenance database; creates and drops the test databases
	base   *url.URL // the server's URL; test databases differ in the path only
	server *localpg.Server
	tmpDir string
}

var shared cluster

// Main runs the tests, then stops the server (if one was started) and removes its directory, and exits
// with the tests' status. Use it as the body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shared.close(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// NewDB creates an empty database for this test and returns its URL (password included). The database
// is dropped, connections and all, when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	c, err := shared.get()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections the test left open (PostgreSQL 13 and later).
		q := "DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)"
		if _, err := c.admin.ExecContext(ctx, q); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *c.base
	u.Path = "/" + name
	return u.String()
}

// MigratedDB creates an empty database for this test, applies the project's migrations and returns an
// open handle, closed (and the database dropped) when the test ends.
func MigratedDB(t testing.TB) *sqlx.DB {
	t.Helper()
	dbURL := NewDB(t)
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatalf("pgtest: open database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() }) // runs before NewDB's drop
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrations.Up(ctx, db.DB, hclog.NewNullLogger()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return db
}

// get starts or connects to the server on first use and returns it, or the error that prevented it for
// every later caller too.
func (c *cluster) get() (*cluster, error) {
	c.once.Do(func() { c.err = c.open() })
	return c, c.err
}

func (c *cluster) open() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	adminURL := os.Getenv(EnvURL)
	if adminURL == "" {
		srv, dir, err := startServer(ctx)
		if err != nil {
			return err
		}
		c.server, c.tmpDir = srv, dir
		adminURL = srv.URL()
	}
	base, err := url.Parse(adminURL)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return fmt.Errorf("%s is not a postgres:// URL; set it like "+
			"postgres://user:password@127.0.0.1:5432/postgres?sslmode=disable", EnvURL)
	}
	admin, err := sql.Open("postgres", adminURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", base.Redacted(), err)
	}
	c.admin, c.base = admin, base
	return nil
}

// startServer starts a server in a new temporary directory, tuned for tests: no durability.
func startServer(ctx context.Context) (*localpg.Server, string, error) {
	binDir, err := localpg.FindBinaries(os.Getenv("PG_BIN"))
	if err != nil {
		return nil, "", fmt.Errorf("%w; or set %s to a server tests may create databases on", err, EnvURL)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", fmt.Errorf("create server directory: %w", err)
	}
	// MkdirTemp makes it 0700; when we are root, postgres runs as another user that must traverse it.
	if err := os.Chmod(dir, 0o711); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", fmt.Errorf("create server directory: %w", err)
	}
	srv, err := localpg.Start(ctx, localpg.Options{
		DataDir:  filepath.Join(dir, "data"),
		BinDir:   binDir,
		Database: "postgres",
		Settings: map[string]string{
			"fsync":              "off",
			"synchronous_commit": "off",
			"full_page_writes":   "off",
		},
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

// close stops the server and removes its directory.
func (c *cluster) close() error {
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.server.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop test server: %w", err))
		}
	}
	if c.tmpDir != "" {
		if err := os.RemoveAll(c.tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("remove test server directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName is unique, and readable enough to tell which test left a database behind: "t_", the
// test's name cut short, and random hex, within PostgreSQL's 63-byte limit.
func databaseName(testName string) string {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix) // crypto/rand.Read never fails
	name := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return "t_" + name + "_" + hex.EncodeToString(suffix)
}
