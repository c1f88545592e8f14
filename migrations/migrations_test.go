package migrations_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUpAndStatus(t *testing.T) {
	ctx := context.Background()
	db, err := sqlx.Open("postgres", pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	files := sqlFiles(t)
	before, err := migrations.Status(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(files) {
		t.Fatalf("Status lists %d migrations, want one per file (%d)", len(before), len(files))
	}
	for _, m := range before {
		if m.Applied {
			t.Errorf("migration %d applied on an empty database", m.Version)
		}
	}

	applied, err := migrations.Up(ctx, db.DB, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(files) || applied[0].Version != 1 || applied[0].File != "00001_incidents.sql" {
		t.Fatalf("Up applied %+v, want every file from 00001_incidents.sql on", applied)
	}
	again, err := migrations.Up(ctx, db.DB, nil)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Up = %+v, %v; want nothing to do", again, err)
	}
	after, err := migrations.Status(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range after {
		if !m.Applied || m.AppliedAt.IsZero() {
			t.Errorf("migration %d (%s) not applied after Up", m.Version, m.File)
		}
	}
}

var fileName = regexp.MustCompile(`^[0-9]{5}_[a-z0-9_]+\.sql$`)

// sqlFiles are the migration files in this directory: the embedded set must match them.
func sqlFiles(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(os.DirFS("."), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if !fileName.MatchString(n) || !strings.HasPrefix(n, fmt.Sprintf("%05d_", i+1)) {
			t.Errorf("migration file %s: want NNNNN_name.sql numbered from 00001 without gaps", n)
		}
	}
	return names
}
