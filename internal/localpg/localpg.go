// Package localpg runs a PostgreSQL server from the binaries installed on this machine: the database of
// the product's dev mode and of the tests (see internal/pgtest).
//
// The cluster lives in Options.DataDir and is created with initdb on first use. It only listens on
// 127.0.0.1 (no Unix socket) and requires a password: the superuser "guided" gets a random password on
// first init, kept in DataDir+".password" (mode 0600, outside the cluster) so it survives restarts.
// postgres's own output goes to DataDir+".log". Neither file is inside the cluster, so initdb can use
// an empty DataDir and a restart reuses the cluster as it is.
//
// initdb and postgres refuse to run as root. When we are root they run as an unprivileged user
// (Options.User, else "postgres", else "nobody") that owns DataDir; every directory above DataDir must
// be searchable by that user, which Start checks before anything else. When we are not root they run as
// ourselves.
//
// postgres runs as our child, in its own process group; on Linux the kernel sends it SIGINT (fast
// shutdown) if we die. Call Server.Stop to shut it down.
package localpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guided-response/guided/internal/freeport"
	"github.com/hashicorp/go-hclog"
	"github.com/lib/pq"
)

const (
	// Superuser is the PostgreSQL superuser initdb creates; its password is in DataDir+".password".
	Superuser = "guided"
	// DefaultDatabase is the database Start creates when Options.Database is empty.
	DefaultDatabase = "guided"

	listenHost          = "127.0.0.1"
	defaultStartTimeout = 60 * time.Second
	defaultStopTimeout  = 30 * time.Second
	quitTimeout         = 10 * time.Second
	portAttempts        = 5
	logTailLines        = 30
)

// ErrClusterInUse means another live postgres already serves the cluster in the data directory.
var ErrClusterInUse = errors.New("cluster already in use")

// ErrUnreachable is returned by Start when the unprivileged user postgres runs as (when we are root)
// cannot traverse a parent directory of the data directory.
var ErrUnreachable = errors.New("data directory unreachable by the postgres user")

// Options configure Start. Only DataDir is required.
type Options struct {
	// DataDir is the cluster directory. A missing or empty directory gets a new cluster (initdb); a
	// directory holding a cluster is reused. Its parent also holds DataDir+".password" and
	// DataDir+".log".
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (a different one on every start).
	Port int
	// BinDir is the directory holding postgres and initdb; empty finds them with FindBinaries.
	BinDir string
	// User is the OS user to run PostgreSQL as when we are root; empty picks "postgres" if it exists,
	// else "nobody". When we are not root PostgreSQL runs as ourselves and User must be empty or our own.
	User string
	// Database is created when missing; empty means DefaultDatabase.
	Database string
	// Settings are extra server settings passed as `-c name=value` (say fsync=off for tests). They cannot
	// change the listen address, port or socket directories.
	Settings map[string]string
	// StartTimeout bounds the wait for the server to accept connections; 0 means one minute.
	StartTimeout time.Duration
	// Logger receives what localpg does; postgres's own log goes to DataDir+".log". Nil discards.
	Logger hclog.Logger
}

// Server is a running PostgreSQL server started by Start.
type Server struct {
	logger   hclog.Logger
	dataDir  string
	logPath  string
	logFile  *os.File
	database string
	password string
	port     int
	reserved *freeport.Port // the port we chose, held until Stop

	proc    *os.Process
	exited  chan struct{} // closed once postgres has exited and been waited for
	waitErr error         // how it exited; read only after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts PostgreSQL with opts and returns once it accepts connections and Database exists.
// ctx bounds the start only; the server runs until Stop. Start fails when another postgres already
// serves the cluster (ErrClusterInUse) or when PostgreSQL is not installed (ErrNotInstalled).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("start postgres: Options.DataDir is empty: name the cluster directory")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: data directory: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	database := opts.Database
	if database == "" {
		database = DefaultDatabase
	}
	startTimeout := opts.StartTimeout
	if startTimeout <= 0 {
		startTimeout = defaultStartTimeout
	}
	binDir, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	acct, err := resolveAccount(opts.User)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("start postgres: create parent of data directory: %w", err)
	}
	if acct.switchUser {
		if err := checkReachable(dataDir, acct); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	initialized, err := prepareDataDir(dataDir, acct)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	password, err := loadOrCreatePassword(dataDir, initialized, logger)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	logPath := dataDir + ".log"
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start postgres: open log: %w", err)
	}
	s := &Server{
		logger:   logger,
		dataDir:  dataDir,
		logPath:  logPath,
		logFile:  logFile,
		database: database,
		password: password,
	}

	if initialized {
		err = checkOwner(dataDir, acct)
		if err == nil {
			err = checkNotServed(dataDir)
		}
	} else {
		err = s.initCluster(ctx, binDir, acct)
	}
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; attempt++ {
		port := opts.Port
		var reserved *freeport.Port
		if port == 0 {
			if reserved, err = freeport.Take(); err != nil {
				_ = logFile.Close()
				return nil, fmt.Errorf("start postgres: %w", err)
			}
			port = reserved.Number
		}
		err = s.launch(ctx, binDir, acct, port, opts.Settings, startTimeout)
		if err == nil {
			s.reserved = reserved
			break
		}
		reserved.Release()
		retry := false
		switch {
		case errors.Is(err, ErrPortInUse):
			// Someone took the free port before postgres bound it.
			retry = opts.Port == 0 && attempt < portAttempts
		case errors.Is(err, errOldProcesses):
			// The processes of a server that was killed are still exiting.
			retry = time.Now().Before(deadline)
		}
		if retry {
			logger.Debug("postgres could not start yet, retrying", "port", port, "attempt", attempt)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
				continue
			}
		}
		_ = logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	if err := s.ensureDatabase(ctx); err != nil {
		_ = s.Stop(context.Background())
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	logger.Info("postgres ready", "url", s.RedactedURL(), "data_dir", dataDir, "log", logPath,
		"pid", s.proc.Pid, "run_as", acct.name)
	return s, nil
}

// URL is the connection URL of Database, password included: hand it to a driver, never print it (print
// RedactedURL).
func (s *Server) URL() string { return s.urlFor(s.database, false) }

// RedactedURL is URL with the password replaced by "xxxxx", for logs and messages.
func (s *Server) RedactedURL() string { return s.urlFor(s.database, true) }

// String is RedactedURL, so that printing a Server never shows the password.
func (s *Server) String() string { return s.RedactedURL() }

// GoString is RedactedURL too, for %#v.
func (s *Server) GoString() string { return "localpg.Server(" + s.RedactedURL() + ")" }

// Port is the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DataDir is the absolute path of the cluster directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath is the file postgres writes its log to.
func (s *Server) LogPath() string { return s.logPath }

// Done is closed when postgres has exited, whether through Stop or not.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Stop shuts the server down: SIGINT (fast shutdown: disconnect clients, checkpoint), then, when it has
// not exited by ctx's deadline (default 30s), SIGQUIT (immediate shutdown), then SIGKILL to its process
// group. It returns once nothing of it is left running. Stop is idempotent; later calls return the
// first call's result. It reports an error when postgres had already exited on its own.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop(ctx)
		_ = s.logFile.Close()
		s.reserved.Release()
	})
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	select {
	case <-s.exited:
		_ = killGroup(s.proc.Pid)
		return fmt.Errorf("stop postgres: it had already exited (%v); see %s", s.waitErr, s.logPath)
	default:
	}
	if err := interrupt(s.proc); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.logger.Warn("signal postgres to shut down", "error", err)
	}
	timeout := defaultStopTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	if s.waitExit(ctx, timeout) {
		s.logger.Info("postgres stopped", "data_dir", s.dataDir)
		return nil
	}
	s.logger.Warn("postgres did not shut down in time, forcing it", "timeout", timeout, "log", s.logPath)
	s.kill()
	return nil
}

// kill ends postgres fast: SIGQUIT, then SIGKILL to the whole process group. It returns once postgres
// has exited.
func (s *Server) kill() {
	if err := quit(s.proc); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.logger.Warn("signal postgres to quit", "error", err)
	}
	if !s.waitExit(context.Background(), quitTimeout) {
		if err := killGroup(s.proc.Pid); err != nil {
			s.logger.Warn("kill postgres", "error", err)
		}
		if err := s.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.logger.Warn("kill postgres", "error", err)
		}
		<-s.exited
	}
	// Backends notice the postmaster's death by themselves; make sure none lingers.
	_ = killGroup(s.proc.Pid)
}

// waitExit waits up to d (or until ctx ends) for postgres to exit and reports whether it did.
func (s *Server) waitExit(ctx context.Context, d time.Duration) bool {
	if d < 0 {
		d = 0
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-s.exited:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

func (s *Server) urlFor(database string, redacted bool) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, s.password),
		Host:     net.JoinHostPort(listenHost, strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	if redacted {
		return u.Redacted()
	}
	return u.String()
}

// prepareDataDir reports whether dataDir already holds a cluster; otherwise it makes sure dataDir is an
// empty directory that acct owns with mode 0700, as initdb requires.
func prepareDataDir(dataDir string, acct account) (initialized bool, err error) {
	fi, err := os.Stat(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			return false, fmt.Errorf("create data directory: %w", err)
		}
	case err != nil:
		return false, fmt.Errorf("check data directory: %w", err)
	case !fi.IsDir():
		return false, fmt.Errorf("data directory %s is not a directory; choose a directory path", dataDir)
	default:
		if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
			return true, nil
		}
		entries, err := os.ReadDir(dataDir)
		if err != nil {
			return false, fmt.Errorf("check data directory: %w", err)
		}
		if len(entries) > 0 {
			return false, fmt.Errorf("data directory %s is not empty and holds no PostgreSQL cluster "+
				"(no PG_VERSION file); choose an empty or missing directory", dataDir)
		}
		if err := os.Chmod(dataDir, 0o700); err != nil {
			return false, fmt.Errorf("data directory: %w", err)
		}
	}
	return false, chownFor(dataDir, acct)
}

// loadOrCreatePassword returns the superuser password kept in dataDir+".password", creating the file
// with a random password when there is no cluster yet.
func loadOrCreatePassword(dataDir string, initialized bool, logger hclog.Logger) (string, error) {
	path := dataDir + ".password"
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		password := strings.TrimSpace(string(b))
		if password == "" {
			return "", fmt.Errorf("password file %s is empty; remove it and %s to start a new, empty cluster",
				path, dataDir)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		if uid, _, ok := fileOwner(fi); ok && !initialized && int(uid) != os.Geteuid() {
			// Someone else could have planted it to know the password of the cluster we are to create.
			return "", fmt.Errorf("password file %s belongs to uid %d, not to us (uid %d); remove it, or choose "+
				"another data directory", path, uid, os.Geteuid())
		}
		if fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("password file readable by others, restricting it to its owner", "path", path)
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("restrict password file: %w", err)
			}
		}
		return password, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read password file: %w", err)
	case initialized:
		return "", fmt.Errorf("cluster %s exists but its password file %s is missing, so the password of %q "+
			"is lost; remove %s to start a new, empty cluster", dataDir, path, Superuser, dataDir)
	}

	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(buf)
	if err := writeFileAtomic(path, password+"\n"); err != nil {
		return "", fmt.Errorf("write password file: %w", err)
	}
	return password, nil
}

// writeFileAtomic writes a 0600 file through a temporary file and a rename, so a crash never leaves a
// half-written password behind.
func writeFileAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// initCluster runs initdb on the empty data directory.
func (s *Server) initCluster(ctx context.Context, binDir string, acct account) error {
	// initdb reads the password from a file, which the user it runs as must be able to open: a copy
	// that user owns, next to the password file, removed as soon as initdb is done.
	pwFile := s.dataDir + ".initdb-password"
	_ = os.Remove(pwFile) // left over from a crash
	f, err := os.OpenFile(pwFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("initdb: password file: %w", err)
	}
	defer func() { _ = os.Remove(pwFile) }()
	_, err = f.WriteString(s.password + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = chownFor(pwFile, acct)
	}
	if err != nil {
		return fmt.Errorf("initdb: password file: %w", err)
	}

	offset := s.logOffset()
	s.logf("initdb %s as user %s", s.dataDir, acct.name)
	s.logger.Info("creating cluster", "data_dir", s.dataDir, "run_as", acct.name)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"--pgdata="+s.dataDir,
		"--username="+Superuser,
		"--pwfile="+pwFile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
	)
	s.prepare(cmd, acct)
	done, err := startLocked(cmd)
	if err != nil {
		return fmt.Errorf("run initdb: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("initdb %s: %w; %s ends with:\n%s", s.dataDir, err, s.logPath, s.logTail(offset))
	}
	return nil
}

// Start-up failures that a retry may cure.
var (
	// ErrPortInUse means postgres could not bind its port.
	ErrPortInUse = errors.New("port in use")
	// errOldProcesses means processes of an earlier server still hold the cluster's shared memory.
	errOldProcesses = errors.New("processes of an earlier server still running")
)

// launch starts postgres on port and waits until it accepts connections.
func (s *Server) launch(ctx context.Context, binDir string, acct account, port int, settings map[string]string,
	timeout time.Duration) error {
	var args []string
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "-c", name+"="+settings[name])
	}
	// Last, so that Settings cannot override them.
	args = append(args, "-D", s.dataDir,
		"-c", "listen_addresses="+listenHost,
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories=",
	)

	offset := s.logOffset()
	s.logf("starting postgres on %s:%d as user %s", listenHost, port, acct.name)
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	s.prepare(cmd, acct)
	done, err := startLocked(cmd)
	if err != nil {
		return fmt.Errorf("run postgres: %w", err)
	}
	s.port = port
	s.proc = cmd.Process
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = <-done
		close(s.exited)
	}()

	if err := s.waitReady(ctx, timeout); err != nil {
		s.kill()
		tail := s.logTail(offset)
		switch {
		case strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use"):
			return fmt.Errorf("postgres could not listen on %s:%d (%w); stop what holds it or choose another port; %s ends with:\n%s",
				listenHost, port, ErrPortInUse, s.logPath, tail)
		case strings.Contains(tail, "pre-existing shared memory block"):
			return fmt.Errorf("%w on %s (a server that was killed?): wait for them to exit, or end them; "+
				"%s ends with:\n%s", errOldProcesses, s.dataDir, s.logPath, tail)
		case strings.Contains(tail, "postmaster.pid") && strings.Contains(tail, "already exists"):
			return fmt.Errorf("%w: another postgres serves %s; stop it or use another data directory; "+
				"%s ends with:\n%s", ErrClusterInUse, s.dataDir, s.logPath, tail)
		}
		return fmt.Errorf("%w; %s ends with:\n%s", err, s.logPath, tail)
	}
	return nil
}

// prepare sets what initdb and postgres share: output to the log file, a minimal environment (no PG*
// variables of ours leak in), the data directory as working directory, and the process attributes.
func (s *Server) prepare(cmd *exec.Cmd, acct account) {
	cmd.Stdout = s.logFile
	cmd.Stderr = s.logFile
	cmd.Dir = s.dataDir
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC"}
	if path, ok := os.LookupEnv("PATH"); ok {
		cmd.Env = append(cmd.Env, "PATH="+path)
	}
	cmd.SysProcAttr = sysProcAttr(acct)
}

// startLocked starts cmd from a goroutine locked to its OS thread until cmd exits, and returns the
// channel that receives cmd.Wait's result. Linux sends the parent-death signal when the thread that
// forked the child ends, not the process; a locked thread ends only with its goroutine.
func startLocked(cmd *exec.Cmd) (<-chan error, error) {
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes away with this goroutine, after cmd
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// waitReady polls until postgres accepts a login, it exits, or timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := sql.Open("postgres", s.urlFor("postgres", false)+"&connect_timeout=2")
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer func() { _ = db.Close() }()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pingCtx)
		pingCancel()
		if err == nil {
			return nil
		}
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code.Class() == "28" { // invalid authorization
			return fmt.Errorf("log in as %q: %v; the password in %s.password does not match the cluster; "+
				"remove %s and that file to start a new, empty cluster", Superuser, err, s.dataDir, s.dataDir)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start-up (%v)", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %v (%v; last attempt: %v)",
				timeout, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// ensureDatabase creates the database when it is missing.
func (s *Server) ensureDatabase(ctx context.Context) error {
	if s.database == "postgres" {
		return nil
	}
	db, err := sql.Open("postgres", s.urlFor("postgres", false))
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	defer func() { _ = db.Close() }()
	var exists bool
	const q = `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`
	if err := db.QueryRowContext(ctx, q, s.database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", s.database, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(s.database))
	var pqErr *pq.Error
	if err != nil && !(errors.As(err, &pqErr) && pqErr.Code == "42P04") { // 42P04: created meanwhile
		return fmt.Errorf("create database %q: %w", s.database, err)
	}
	s.logger.Info("created database", "database", s.database)
	return nil
}

// checkNotServed fails when a live postgres still serves dataDir. A postmaster.pid left by a killed
// server is fine: postgres sees that its process is gone and replaces the file.
func checkNotServed(dataDir string) error {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return nil // none (or unreadable: postgres will judge)
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 || pid == os.Getpid() || pid == os.Getppid() {
		return nil
	}
	if !processAlive(pid) || !isPostgres(pid) {
		return nil
	}
	port := "unknown"
	if len(lines) > 3 && strings.TrimSpace(lines[3]) != "" {
		port = strings.TrimSpace(lines[3])
	}
	return fmt.Errorf("%w: postgres PID %d (port %s) already serves %s; stop it (kill -INT %d) or use "+
		"another data directory", ErrClusterInUse, pid, port, dataDir, pid)
}

// logf writes a line of ours into postgres's log, to tell runs apart.
func (s *Server) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.logFile, "%s localpg: %s\n", time.Now().UTC().Format(time.RFC3339),
		fmt.Sprintf(format, args...))
}

func (s *Server) logOffset() int64 {
	fi, err := s.logFile.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logTail returns the last lines postgres logged since offset.
func (s *Server) logTail(offset int64) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}
