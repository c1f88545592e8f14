//go:build linux

package localpg

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts a child in its own process group (a Ctrl-C in our terminal reaches us, and we shut
// PostgreSQL down in order), asks the kernel to send it SIGINT (fast shutdown) when we die, and runs
// it as acct when we are root.
func sysProcAttr(acct account) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	if acct.switchUser {
		attr.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}
	}
	return attr
}

// isPostgres reports whether the live process pid is a PostgreSQL server.
func isPostgres(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true // cannot tell; assume it is, and let the caller report it
	}
	return bytes.Contains(cmdline, []byte("postgres"))
}
