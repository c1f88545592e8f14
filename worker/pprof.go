package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
)

// startPprof serves Go's profiling endpoints (/debug/pprof/...) on addr, a listener of its own, until ctx
// ends; the returned func waits for it to stop. Empty addr serves nothing. The endpoints have no
// authentication and show the process's memory, so addr must be a loopback address: reach it from
// elsewhere through an SSH tunnel or `kubectl port-forward`, never by binding it wider.
func startPprof(ctx context.Context, addr string, logger hclog.Logger) (string, func(), error) {
	if addr == "" {
		return "", func() {}, nil
	}
	if err := checkLoopback(addr); err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	// No write timeout: a CPU profile or trace answers after the seconds it was asked for.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = hs.Close() // a profile being taken is cut short: it is of a stopping process
	}()
	url := "http://" + ln.Addr().String() + "/debug/pprof/"
	logger.Info("profiling endpoints", "url", url)
	return url, func() { <-done }, nil
}

// checkLoopback refuses an address whose host is not a loopback IP or localhost: an empty host or
// 0.0.0.0 would serve every interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr %q: %w (want host:port, e.g. 127.0.0.1:6060)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--pprof-addr %q: the profiling endpoints have no authentication; bind them to a loopback address, e.g. 127.0.0.1:6060, and tunnel to it", addr)
}
