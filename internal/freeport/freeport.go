// Package freeport hands out free TCP ports on 127.0.0.1 for servers that are told their port before they
// bind it: the embedded Temporal services and the local PostgreSQL.
//
// Asking the kernel for port 0 and closing the listener is not enough when several such processes start
// at once (go test runs packages in parallel): the port comes from the ephemeral range, where any other
// process's outgoing connection or port-0 listener can take it before our server binds it. So ports come
// from below (or above) the kernel's ephemeral range, which the kernel never hands out by itself, and each
// is reserved with a lock file, in a private directory of the user, that every process using this
// package honours. The lock goes with the
// process, so a crash leaves nothing to clean up. The empty lock files stay (removing one another process
// may be about to lock would break the reservation); there are at most as many as ports in the range.
package freeport

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

const host = "127.0.0.1"

// errBusy is a port whose lock another process holds.
var errBusy = errors.New("reserved by another process")

// Port is a reserved port. Release it once the server using it has stopped.
type Port struct {
	Number  int
	release func()
	once    sync.Once
}

// Release gives the port back. It is safe to call more than once and on a nil Port.
func (p *Port) Release() {
	if p == nil || p.release == nil {
		return
	}
	p.once.Do(p.release)
}

// Set is a group of reserved ports released together.
type Set []*Port

// Release gives every port of the set back.
func (s Set) Release() {
	for _, p := range s {
		p.Release()
	}
}

// attempts bounds the search: a range of thousands of ports with a few dozen in use finds one at once.
const attempts = 200

// Take reserves a free port. Where the machine does not say its ephemeral range, or locks are not
// supported, it falls back to a port the kernel picks.
func Take() (*Port, error) {
	lo, hi, ok := reservedRange()
	dir, dirErr := lockDir()
	if !ok || dirErr != nil || !locksSupported {
		return kernelPort()
	}
	var lastErr error
	for range attempts {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo+1)))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		port := lo + int(n.Int64())
		release, err := lock(filepath.Join(dir, strconv.Itoa(port)))
		if errors.Is(err, errBusy) {
			lastErr = err
			continue
		}
		if err != nil {
			// The lock directory is not usable by this user: no reservation, as before this package.
			return kernelPort()
		}
		if !bindable(port) {
			release()
			lastErr = fmt.Errorf("port %d is in use", port)
			continue
		}
		return &Port{Number: port, release: release}, nil
	}
	return nil, fmt.Errorf("find a free port in %d-%d after %d tries: %w", lo, hi, attempts, lastErr)
}

// TakeN reserves n distinct ports; on failure none stay reserved.
func TakeN(n int) (Set, error) {
	set := make(Set, 0, n)
	for range n {
		p, err := Take()
		if err != nil {
			set.Release()
			return nil, err
		}
		set = append(set, p)
	}
	return set, nil
}

func kernelPort() (*Port, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	return &Port{Number: port}, nil
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// minPort keeps clear of the well-known and commonly configured ports (Postgres 5432, Temporal 7233 and
// 8233, 8080 and the like).
const (
	minPort   = 10000
	maxPort   = 65535
	minSpread = 1000
)

// rangeFile is where Linux says which ports it hands out on its own.
var rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// reservedRange is the larger stretch of ports outside the kernel's ephemeral range.
func reservedRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0, 0, false
	}
	return rangeOutside(string(b))
}

func rangeOutside(s string) (lo, hi int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	first, err1 := strconv.Atoi(f[0])
	last, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, false
	}
	below := first - 1 - minPort
	above := maxPort - (last + 1)
	switch {
	case below >= above && below >= minSpread:
		return minPort, first - 1, true
	case above >= minSpread:
		return last + 1, maxPort, true
	}
	return 0, 0, false
}

var (
	dirOnce sync.Once
	dirPath string
	dirErr  error
)

// lockDir is this user's directory of port locks in the temporary directory (see privateDir).
func lockDir() (string, error) {
	dirOnce.Do(func() { dirPath, dirErr = privateDir(os.TempDir()) })
	return dirPath, dirErr
}

// privateDir makes or finds base/guided-response-ports-UID: private (0700) and checked to be a directory
// this user owns, not a link someone planted in a shared /tmp to have us create files elsewhere. Users do
// not share reservations; two users running tests side by side still get ports outside the ephemeral
// range.
func privateDir(base string) (string, error) {
	dir := filepath.Join(base, "guided-response-ports-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || !ownedByMe(fi) {
		return "", errors.New(dir + " is not a private directory of this user; port reservations are off")
	}
	return dir, nil
}
