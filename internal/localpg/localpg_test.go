package localpg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestFindBinariesBadHint(t *testing.T) {
	_, err := FindBinaries(filepath.Join(t.TempDir(), "no-postgres-here"))
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("FindBinaries(bad hint) error = %v, want ErrNotInstalled", err)
	}
	t.Logf("FindBinaries: %v", err)
	for _, want := range []string{"no-postgres-here", "apt-get install postgresql", "brew install postgresql@15",
		"PG_BIN", "DATABASE_URL", "docker compose up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	dir, err := FindBinaries(os.Getenv("PG_BIN"))
	if err != nil {
		t.Fatal(err) // fail, not skip: the store tests need PostgreSQL too
	}
	// The postgres executable itself is a valid hint, meaning its directory.
	got, err := FindBinaries(filepath.Join(dir, "postgres"))
	if err != nil || got != dir {
		t.Errorf("FindBinaries(%s/postgres) = %q, %v; want %q", dir, got, err, dir)
	}
}

func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, filepath.Join(reachableTempDir(t), "cluster"))

	srv := start(t, opts)
	password := readPassword(t, opts.DataDir)
	checkSecretKept(t, srv, password)
	if !strings.Contains(srv.URL(), password) {
		t.Fatalf("URL does not carry the password")
	}
	db := open(t, srv.URL())
	mustExec(t, db, `CREATE TABLE kept (v text)`, `INSERT INTO kept VALUES ('before restart')`)
	var database string
	if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&database); err != nil || database != "guided" {
		t.Fatalf("current_database() = %q, %v; want guided", database, err)
	}
	_ = db.Close()

	// A second server on the same cluster must fail clearly, and leave the first one alone.
	second, err := Start(ctx, testOptions(t, opts.DataDir))
	if err == nil {
		_ = second.Stop(ctx)
		t.Fatal("second Start on a served cluster succeeded")
	}
	t.Logf("second Start: %v", err)
	if !errors.Is(err, ErrClusterInUse) || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("second Start error = %v, want ErrClusterInUse saying it is already served", err)
	}
	if err := open(t, srv.URL()).PingContext(ctx); err != nil {
		t.Fatalf("first server broken by the failed second Start: %v", err)
	}

	pid, port := srv.proc.Pid, srv.Port()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	checkNothingRunning(t, pid, opts.DataDir)
	if l, err := net.Listen("tcp", net.JoinHostPort(listenHost, strconv.Itoa(port))); err != nil {
		t.Errorf("port %d still taken after Stop: %v", port, err)
	} else {
		_ = l.Close()
	}

	// Restart on the same port: same cluster, same password, same data.
	opts.Port = port
	srv = start(t, opts)
	if got := readPassword(t, opts.DataDir); got != password {
		t.Errorf("password changed across restarts")
	}
	db = open(t, srv.URL())
	var v string
	if err := db.QueryRowContext(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != "before restart" {
		t.Fatalf("data after restart = %q, %v", v, err)
	}
	_ = db.Close()
	checkSecretKept(t, srv, password)
}

func TestRestartAfterCrash(t *testing.T) {
	opts := testOptions(t, filepath.Join(reachableTempDir(t), "cluster"))
	srv := start(t, opts)
	mustExec(t, open(t, srv.URL()), `CREATE TABLE kept (v int)`, `INSERT INTO kept VALUES (42)`)

	// Kill everything without a shutdown: postmaster.pid stays behind.
	if err := killGroup(srv.proc.Pid); err != nil {
		t.Fatal(err)
	}
	<-srv.Done()
	if _, err := os.Stat(filepath.Join(opts.DataDir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}
	if err := srv.Stop(context.Background()); err == nil {
		t.Error("Stop of a server that died reported no error")
	}

	srv = start(t, opts)
	var v int
	if err := open(t, srv.URL()).QueryRow(`SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("data after crash recovery = %d, %v", v, err)
	}
}

func TestStartRefusesForeignDirectory(t *testing.T) {
	dir := filepath.Join(reachableTempDir(t), "not-a-cluster")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), testOptions(t, dir))
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start on a non-empty non-cluster directory: error = %v, want one saying it is not empty", err)
	}
}

func TestStartUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root switches users; as ourselves every directory we can create is reachable")
	}
	parent, err := os.MkdirTemp("", "localpg-private-") // mode 0700, owned by root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	_, err = Start(context.Background(), testOptions(t, filepath.Join(parent, "cluster")))
	if err == nil {
		t.Fatal("Start succeeded in a directory the postgres user cannot reach")
	}
	t.Logf("Start: %v", err)
	for _, want := range []string{parent + " is not searchable", "chmod o+x " + parent, "/tmp"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "cluster")); err == nil {
		t.Error("Start created the cluster directory although it then refused")
	}
}

// reachableTempDir is a temporary directory the unprivileged postgres user can traverse (MkdirTemp
// makes 0700 directories), removed when the test ends.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testOptions(t *testing.T, dataDir string) Options {
	return Options{
		DataDir:  dataDir,
		BinDir:   os.Getenv("PG_BIN"),
		Settings: map[string]string{"fsync": "off"},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "localpg", Level: hclog.Debug, Output: testWriter{t}, DisableTime: true,
		}),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	srv, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func readPassword(t *testing.T, dataDir string) string {
	t.Helper()
	path := dataDir + ".password"
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode = %v, want 0600", fi.Mode().Perm())
	}
	if uid, _, ok := fileOwner(fi); ok && int(uid) != os.Geteuid() {
		t.Errorf("password file owned by uid %d, want the invoking user %d", uid, os.Geteuid())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkSecretKept checks that nothing meant for printing shows the password.
func checkSecretKept(t *testing.T, srv *Server, password string) {
	t.Helper()
	if len(password) < 32 {
		t.Fatalf("password too short: %d characters", len(password))
	}
	want := fmt.Sprintf("postgres://%s:xxxxx@127.0.0.1:%d/guided?sslmode=disable", Superuser, srv.Port())
	if got := srv.RedactedURL(); got != want {
		t.Errorf("RedactedURL() = %q, want %q", got, want)
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", srv), "%+v": fmt.Sprintf("%+v", srv), "%#v": fmt.Sprintf("%#v", srv),
	} {
		if strings.Contains(s, password) {
			t.Errorf("formatting the server with %s shows the password", name)
		}
	}
	logText, err := os.ReadFile(srv.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(logText, []byte(password)) {
		t.Errorf("postgres log %s contains the password", srv.LogPath())
	}
	if strings.HasPrefix(srv.LogPath(), srv.DataDir()+string(filepath.Separator)) {
		t.Errorf("log %s is inside the cluster", srv.LogPath())
	}
}

// checkNothingRunning checks that the postmaster and every process of its group are gone, and on Linux
// that no process still runs on the data directory.
func checkNothingRunning(t *testing.T, pid int, dataDir string) {
	t.Helper()
	if processAlive(pid) {
		t.Errorf("postmaster %d still running after Stop", pid)
	}
	if groupAlive(pid) {
		t.Errorf("processes of group %d still running after Stop", pid)
	}
	if runtime.GOOS != "linux" {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err == nil && bytes.Contains(cmdline, []byte(dataDir)) {
			t.Errorf("%s still runs on %s: %q", p, dataDir, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}
