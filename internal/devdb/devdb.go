// Package devdb finds the database of the dev stack (`worker --dev`) for commands that work on it
// without DATABASE_URL: `worker grant`, `starter token`.
package devdb

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/guided-response/guided/internal/localpg"
)

// URL is the URL of the dev stack's database in dataDir, whose Postgres listens on 127.0.0.1:port. The
// superuser's password is kept beside the cluster; the cluster is dataDir/postgres, or where
// dataDir/postgres.location says it was moved.
func URL(dataDir string, port int) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	cluster := filepath.Join(abs, "postgres")
	if note, err := os.ReadFile(filepath.Join(abs, "postgres.location")); err == nil {
		for _, f := range strings.Fields(string(note)) {
			if strings.HasPrefix(f, "/") && strings.HasSuffix(f, "/postgres") {
				cluster = f
			}
		}
	}
	pw, err := os.ReadFile(cluster + ".password")
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL is not set and there is no dev stack in %s (%v): set DATABASE_URL, or pass --data-dir", abs, err)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(localpg.Superuser, strings.TrimSpace(string(pw))),
		Host:     "127.0.0.1:" + strconv.Itoa(port),
		Path:     "/" + localpg.DefaultDatabase,
		RawQuery: "sslmode=disable",
	}
	return u.String(), nil
}
