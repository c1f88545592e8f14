package playbook

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultCheckEvery is how often Library.Current looks for edits when the config does not say.
const DefaultCheckEvery = 10 * time.Second

// LibraryConfig configures a Library.
type LibraryConfig struct {
	// Dir holds the playbook files; empty serves the embedded default set, which never changes.
	Dir string
	// CheckEvery is how often Current looks at the files for edits: 0 means DefaultCheckEvery, a negative
	// value means only Reload does.
	CheckEvery time.Duration
	// Logger gets reloads and refused edits (name it for the component); nil discards them.
	Logger hclog.Logger
}

// Library holds the current playbook set and reloads it when the files change. Workers call Current in
// the card-generation activity, so edits take effect without restarting them; cards already generated
// keep the playbook version they record. A bad edit is refused as a whole: the library keeps serving the
// last good set, logs the problems and reports them through LastError until the files are fixed.
// A Library is safe for concurrent use.
type Library struct {
	dir        string
	checkEvery time.Duration
	log        hclog.Logger
	now        func() time.Time

	mu        sync.Mutex
	current   *Set
	checked   time.Time
	lastError error
	// refused is the hash of files last refused, so that the same bad edit is logged once.
	refused string
}

// NewLibrary loads the playbooks of cfg.Dir (or the default set) and returns a library serving them. It
// fails when the first load fails: there is no last good set to fall back on.
func NewLibrary(cfg LibraryConfig) (*Library, error) {
	l := &Library{dir: cfg.Dir, checkEvery: cfg.CheckEvery, log: cfg.Logger, now: time.Now}
	if l.checkEvery == 0 {
		l.checkEvery = DefaultCheckEvery
	}
	if l.log == nil {
		l.log = hclog.NewNullLogger()
	}
	var (
		set *Set
		err error
	)
	if l.dir == "" {
		set, err = Default()
	} else {
		set, err = LoadDir(l.dir)
	}
	if err != nil {
		return nil, err
	}
	l.current, l.checked = set, l.now()
	l.log.Info("playbooks loaded", "dir", l.dir, "version", set.Version())
	return l, nil
}

// Current returns the current set, first reloading it when the check interval has passed and the files
// changed. It never returns nil.
func (l *Library) Current() *Set {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir != "" && l.checkEvery > 0 && l.now().Sub(l.checked) >= l.checkEvery {
		_ = l.reload()
	}
	return l.current
}

// Reload looks at the files now and loads them when they changed. It returns the problems of a refused
// edit (the last good set stays current), or nil.
func (l *Library) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dir == "" {
		return nil
	}
	return l.reload()
}

// LastError returns the problems of the last look at the files, or nil when it found them good (or
// unchanged since the last good load).
func (l *Library) LastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastError
}

// reload does the work of Reload; l.mu is held.
func (l *Library) reload() error {
	l.checked = l.now()
	files, err := readFiles(os.DirFS(l.dir), l.dir)
	if err != nil {
		return l.refuse("", err)
	}
	hash := hashFiles(files)
	if hash == l.current.Hash() {
		l.lastError, l.refused = nil, ""
		return nil
	}
	if hash == l.refused {
		return l.lastError
	}
	set, err := compile(files)
	if err != nil {
		return l.refuse(hash, err)
	}
	previous := l.current.Version()
	l.current, l.lastError, l.refused = set, nil, ""
	l.log.Info("playbooks reloaded", "dir", l.dir, "version", set.Version(), "previous", previous)
	return nil
}

// refuse records a failed load and logs it, once for the same problems; l.mu is held.
func (l *Library) refuse(hash string, err error) error {
	repeated := l.lastError != nil && l.lastError.Error() == err.Error()
	l.lastError = err
	l.refused = hash
	if repeated {
		return err
	}
	var problems Errors
	count := 1
	if errors.As(err, &problems) {
		count = len(problems)
	}
	l.log.Error("playbook edit refused; keeping the last good set", "dir", l.dir,
		"version", l.current.Version(), "problems", count, "error", err)
	return err
}
