package pgtest

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDB(t *testing.T) {
	var names []string
	t.Run("isolated", func(t *testing.T) {
		first, second := NewDB(t), NewDB(t)
		if first == second {
			t.Fatalf("NewDB returned %s twice", first)
		}
		for _, u := range []string{first, second} {
			db := open(t, u)
			var tables int
			if err := db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("new database has %d tables", tables)
			}
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, strings.TrimPrefix(parsed.Path, "/"))
		}
		// Left open on purpose: the drop must not be blocked by it.
		if _, err := open(t, first).Exec(`CREATE TABLE scratch (v int)`); err != nil {
			t.Fatal(err)
		}
	})

	admin, err := shared.get()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		var exists bool
		if err := admin.admin.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestMigratedDB(t *testing.T) {
	db := MigratedDB(t)
	for _, table := range []string{"incidents", "alerts", "entities"} {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("VeryLongTestName/", 10)
	got := databaseName(long)
	if len(got) > 63 {
		t.Errorf("databaseName(%q) = %q: longer than 63 bytes", long, got)
	}
	if got == databaseName(long) {
		t.Errorf("databaseName is not unique: %q twice", got)
	}
	if want := "t_verylongtestname_"; !strings.HasPrefix(got, want) {
		t.Errorf("databaseName(%q) = %q, want prefix %q", long, got, want)
	}
}

func open(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
