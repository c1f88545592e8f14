package localpg

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// account is the OS user initdb and postgres run as.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups, primary included
	// switchUser is set when we are root: children run with these credentials, and files they must own
	// are chowned to them. Otherwise children run as ourselves.
	switchUser bool
}

// resolveAccount picks the user to run PostgreSQL as. initdb and postgres refuse to run as root, so as
// root we run them as name, or when name is empty as "postgres" if that user exists, else "nobody".
// When we are not root we run them as ourselves; name may then only be our own user name.
func resolveAccount(name string) (account, error) {
	if os.Geteuid() != 0 {
		cur, err := user.Current()
		if err != nil {
			return account{}, fmt.Errorf("look up current user: %w", err)
		}
		if name != "" && name != cur.Username {
			return account{}, fmt.Errorf("run postgres as user %q: switching users needs root, and we run as %q; "+
				"leave User empty to run as ourselves", name, cur.Username)
		}
		return accountOf(cur, false)
	}

	candidates := []string{name}
	if name == "" {
		candidates = []string{"postgres", "nobody"}
	}
	var lookupErr error
	for _, c := range candidates {
		u, err := user.Lookup(c)
		if err != nil {
			lookupErr = err
			continue
		}
		acct, err := accountOf(u, true)
		if err != nil {
			return account{}, err
		}
		if acct.uid == 0 {
			return account{}, fmt.Errorf("run postgres as user %q: that is root, and postgres refuses to run as "+
				"root; set User to an unprivileged user", c)
		}
		return acct, nil
	}
	return account{}, fmt.Errorf("find an unprivileged user to run postgres as (tried %s): %w; "+
		"create one (useradd --system postgres) or set User", strings.Join(candidates, ", "), lookupErr)
}

func accountOf(u *user.User, switchUser bool) (account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %q: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %q: gid %q: %w", u.Username, u.Gid, err)
	}
	acct := account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)},
		switchUser: switchUser}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != acct.gid {
				acct.groups = append(acct.groups, uint32(g))
			}
		}
	}
	return acct, nil
}

func (a account) String() string { return fmt.Sprintf("%q (uid %d)", a.name, a.uid) }

// checkReachable fails when acct cannot search every directory from / down to the parent of dataDir,
// which postgres needs to reach its data directory. The error names the directory that blocks it. It
// never changes permissions itself: that is the operator's call.
func checkReachable(dataDir string, acct account) error {
	real, err := filepath.EvalSymlinks(filepath.Dir(dataDir))
	if err != nil {
		return fmt.Errorf("resolve %s: %w", filepath.Dir(dataDir), err)
	}
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check access to %s: %w", p, err)
		}
		if !searchable(fi, acct) {
			return fmt.Errorf("%w: postgres runs as user %s, which cannot reach data directory %s: %s is not "+
				"searchable by that user (mode %#o); choose a data directory under /tmp (or any path every "+
				"user can traverse), or allow traversal with `chmod o+x %s`",
				ErrUnreachable, acct, dataDir, p, fi.Mode().Perm(), p)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// searchable reports whether acct may search (traverse) the directory fi describes.
func searchable(fi fs.FileInfo, acct account) bool {
	uid, gid, ok := fileOwner(fi)
	if !ok {
		return true // no Unix ownership to check; let the OS decide
	}
	perm := fi.Mode().Perm()
	switch {
	case uid == acct.uid:
		return perm&0o100 != 0
	case acct.inGroup(gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func (a account) inGroup(gid uint32) bool {
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// checkOwner fails when the existing cluster in dataDir belongs to another user than acct: postgres
// would refuse it with a less helpful message.
func checkOwner(dataDir string, acct account) error {
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("check data directory: %w", err)
	}
	uid, _, ok := fileOwner(fi)
	if !ok || uid == acct.uid {
		return nil
	}
	return fmt.Errorf("cluster %s is owned by uid %d, but postgres would run as user %s; set User to the "+
		"owner, or give it to that user with `chown -R %d %s`", dataDir, uid, acct, acct.uid, dataDir)
}

// chownFor hands path to acct when we switch users; otherwise it leaves it alone.
func chownFor(path string, acct account) error {
	if !acct.switchUser {
		return nil
	}
	if err := os.Chown(path, int(acct.uid), int(acct.gid)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", path, acct, err)
	}
	return nil
}
