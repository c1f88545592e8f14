package devstack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// A data directory inside a directory closed to other users (like /root) still works: as root the
// PostgreSQL cluster moves under FallbackRoot, a note says where, and the next start reuses it. The same
// data directory cannot be used by two stacks at once.
func TestClosedDataDirectory(t *testing.T) {
	closed := t.TempDir() // mode 0700, like a home directory
	dataDir := filepath.Join(closed, ".guided")
	ctx := context.Background()
	start := func() *Stack {
		t.Helper()
		s, err := Start(ctx, Options{DataDir: dataDir, UIPort: -1, Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start()
	if _, err := Start(ctx, Options{DataDir: dataDir, UIPort: -1, Logger: hclog.NewNullLogger()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second stack on the same data directory: %v", err)
	}
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE survives (x int); INSERT INTO survives VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	cluster := s.Postgres.DataDir()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	if os.Geteuid() == 0 {
		t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(cluster)) })
		if !strings.HasPrefix(cluster, FallbackRoot) {
			t.Fatalf("as root, the cluster of a closed data directory should be under %s, is %s", FallbackRoot, cluster)
		}
		note, err := os.ReadFile(filepath.Join(dataDir, "postgres.location"))
		if err != nil || !strings.Contains(string(note), cluster) {
			t.Fatalf("postgres.location does not say where the cluster is: %q, %v", note, err)
		}
	} else if cluster != filepath.Join(dataDir, "postgres") {
		t.Fatalf("the cluster should be in the data directory, is %s", cluster)
	}

	s = start()
	defer s.Stop(ctx)
	var x int
	if err := s.DB.GetContext(ctx, &x, `SELECT x FROM survives`); err != nil || x != 7 {
		t.Fatalf("data from the first start: %d, %v", x, err)
	}
	if s.Postgres.DataDir() != cluster {
		t.Fatalf("second start used another cluster: %s, first %s", s.Postgres.DataDir(), cluster)
	}
}
