package migrations_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/lib/pq"

	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/migrations"
)

// A production worker refuses an unmigrated database and says how to fix it; after Up it starts.
func TestCheckRefusesPendingMigrations(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("postgres", pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = migrations.Check(ctx, db)
	if err == nil || !strings.Contains(err.Error(), "worker migrate") || !strings.Contains(err.Error(), "00001_incidents.sql") {
		t.Fatalf("Check on an empty database: %v", err)
	}
	if _, err := migrations.Up(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Check(ctx, db); err != nil {
		t.Fatalf("Check after Up: %v", err)
	}
}
