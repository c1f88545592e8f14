package localpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// ErrNotInstalled means no PostgreSQL server binaries (postgres and initdb) were found. The error that
// wraps it says where we looked and how to fix it.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (postgres, initdb) not found")

// installHelp says how to get a PostgreSQL server; it ends every ErrNotInstalled error.
const installHelp = "install PostgreSQL (`apt-get install postgresql` on Debian/Ubuntu, " +
	"`brew install postgresql@15` on macOS) or set PG_BIN to the directory holding postgres and initdb; " +
	"or set DATABASE_URL to an existing server; or run `docker compose up`"

// FindBinaries returns the directory that holds the postgres and initdb executables. hint (from the
// PG_BIN environment variable or a flag) wins when set: it may name that directory or the postgres
// executable, and when it holds no binaries FindBinaries fails rather than silently using another
// install. Without a hint it tries PATH, then the newest /usr/lib/postgresql/*/bin,
// /usr/local/pgsql/bin and Homebrew's /opt/homebrew/opt/postgresql*/bin.
func FindBinaries(hint string) (string, error) {
	if hint != "" {
		dir := hint
		if fi, err := os.Stat(hint); err == nil && !fi.IsDir() {
			dir = filepath.Dir(hint)
		}
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in %s (the configured PG_BIN): %s", ErrNotInstalled, hint, installHelp)
	}

	if p, err := exec.LookPath("postgres"); err == nil {
		if dir := filepath.Dir(p); hasBinaries(dir) {
			return dir, nil
		}
	}
	// Well-known install locations, in the order they are tried; within one pattern the newest wins.
	searchGlobs := []string{
		"/usr/lib/postgresql/*/bin",         // Debian, Ubuntu
		"/usr/local/pgsql/bin",              // built from source
		"/opt/homebrew/opt/postgresql*/bin", // Homebrew on Apple silicon
		"/usr/local/opt/postgresql*/bin",    // Homebrew on Intel
	}
	for _, g := range searchGlobs {
		dirs, _ := filepath.Glob(g) // the patterns are constant and valid
		sortNewestFirst(dirs)
		for _, dir := range dirs {
			if hasBinaries(dir) {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("%w in PATH, /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or "+
		"/opt/homebrew/opt/postgresql*/bin: %s", ErrNotInstalled, installHelp)
}

func hasBinaries(dir string) bool {
	return isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)?`)

// sortNewestFirst orders install directories by the version number in their path, highest first;
// directories without a number (Homebrew's unversioned "postgresql") come last.
func sortNewestFirst(dirs []string) {
	version := func(dir string) float64 {
		m := versionRE.FindString(dir)
		v, err := strconv.ParseFloat(m, 64)
		if err != nil {
			return -1
		}
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
}
