//go:build !unix

package localpg

import (
	"io/fs"
	"os"
	"syscall"
)

// Outside Unix there is no user switching, process group or signal to manage: postgres runs as
// ourselves and Stop kills it.

func sysProcAttr(account) *syscall.SysProcAttr { return nil }

func isPostgres(int) bool { return true }

func fileOwner(fs.FileInfo) (uid, gid uint32, ok bool) { return 0, 0, false }

func processAlive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}

func interrupt(p *os.Process) error { return p.Kill() }

func quit(p *os.Process) error { return p.Kill() }

func killGroup(int) error { return nil }

func groupAlive(int) bool { return false }
