// Package interrupt is how the commands stop: the first Ctrl-C (SIGINT) or SIGTERM ends their context
// and asks for a clean stop; once it is asked, the signals' default comes back, so a second one ends the
// process at once (a step that cannot be interrupted, like training a model, may be long).
package interrupt

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Context is a context the first SIGINT or SIGTERM ends. The signals' default is back before the context
// ends, so whoever sees it end can count on a second signal ending the process. Call stop when the
// command returns.
func Context() (ctx context.Context, stop context.CancelFunc) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-signals:
		case <-ctx.Done():
		}
		signal.Stop(signals)
		cancel()
	}()
	return ctx, cancel
}
