package devtemporal

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger hands the Temporal server's tagged logs to hclog.
type serverLogger struct {
	log hclog.Logger
}

var _ log.Logger = serverLogger{}
var _ log.WithLogger = serverLogger{}

func newServerLogger(l hclog.Logger) serverLogger { return serverLogger{log: l} }

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { l.log.Debug(msg, args(tags)...) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { l.log.Info(msg, args(tags)...) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { l.log.Warn(msg, args(tags)...) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.log.Error(msg, args(tags)...) }
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
}
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
	panic(msg)
}
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.log.Error(msg, args(tags)...)
	panic(msg)
}

func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{log: l.log.With(args(tags)...)}
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
