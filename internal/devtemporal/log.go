package devtemporal

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger hands the Temporal server's tagged logs to hclog.
type serverLogger struct {
	log hclog.Logger
	// stopping, once set, turns warnings into debug lines: while it stops, the server's own workers and
	// clients warn of every poll and dial the stop cuts short, a screenful on each Ctrl-C.
	stopping *atomic.Bool
}

var _ log.Logger = serverLogger{}
var _ log.WithLogger = serverLogger{}

func newServerLogger(l hclog.Logger, stopping *atomic.Bool) serverLogger {
	return serverLogger{log: l, stopping: stopping}
}

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { l.log.Debug(msg, args(tags)...) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { l.log.Info(msg, args(tags)...) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag) {
	if l.stopping != nil && l.stopping.Load() {
		l.log.Debug(msg, args(tags)...)
		return
	}
	l.log.Warn(msg, args(tags)...)
}
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.log.Error(msg, args(tags)...) }
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
}
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
	panic(newFatal(msg, tags))
}

// Fatal panics where the server's own logger would exit the process: the embedding program decides. Start
// recovers it into an error.
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
	panic(newFatal(msg, tags))
}

// fatal is what Panic and Fatal panic with: the message and the error among the tags, if any, so that
// errors.Is sees through it (e.g. syscall.EADDRINUSE for a port taken by someone else).
type fatal struct {
	msg  string
	addr string
	err  error
}

func newFatal(msg string, tags []tag.Tag) fatal {
	f := fatal{msg: msg}
	for _, t := range tags {
		// The tag's Value is the error's text; the zap field keeps the error itself.
		if zt, ok := t.(tag.ZapTag); ok {
			if err, ok := zt.Field().Interface.(error); ok {
				f.err = err
				continue
			}
		}
		if t.Key() == "address" {
			f.addr = fmt.Sprint(t.Value())
		}
	}
	return f
}

func (f fatal) Error() string {
	s := f.msg
	if f.addr != "" && (f.err == nil || !strings.Contains(f.err.Error(), f.addr)) {
		s += " on " + f.addr
	}
	if f.err != nil {
		s += ": " + f.err.Error()
	}
	return s
}

func (f fatal) Unwrap() error { return f.err }

func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{log: l.log.With(args(tags)...), stopping: l.stopping}
}

func args(tags []tag.Tag) []any {
	out := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		v := t.Value()
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		out = append(out, t.Key(), v)
	}
	return out
}

// waitListening waits until addr accepts TCP connections, or the server reports an error.
func waitListening(addr string, failed <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-failed:
			if err == nil {
				err = errors.New("stopped")
			}
			return err
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not listening after 15s")
}
