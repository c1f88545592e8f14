//go:build unix

package localpg

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// fileOwner returns the owner and group of fi.
func fileOwner(fi fs.FileInfo) (uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Uid, st.Gid, true
}

// processAlive reports whether a process with this pid exists (it may belong to another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// interrupt asks postgres for a fast shutdown.
func interrupt(p *os.Process) error { return p.Signal(syscall.SIGINT) }

// quit asks postgres for an immediate shutdown.
func quit(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }

// killGroup kills the process group led by pid: the postmaster and any backend it left behind.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// groupAlive reports whether any process of the process group led by pid is left.
func groupAlive(pid int) bool {
	err := syscall.Kill(-pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
