//go:build unix && !linux

package localpg

import "syscall"

// sysProcAttr puts a child in its own process group (a Ctrl-C in our terminal reaches us, and we shut
// PostgreSQL down in order) and runs it as acct when we are root. There is no parent-death signal
// outside Linux: Stop must run (defer it), or postgres outlives us.
func sysProcAttr(acct account) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if acct.switchUser {
		attr.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}
	}
	return attr
}

// isPostgres reports whether the live process pid is a PostgreSQL server; without /proc we cannot
// tell, and assume it is.
func isPostgres(int) bool { return true }
