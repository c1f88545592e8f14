package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/guided-response/guided/api"
)

// startMetrics serves the process's Prometheus metrics (GET /metrics: the Temporal SDK's worker metrics,
// the actions applied and failed, Go runtime and process figures) and a liveness check (GET /healthz) on
// addr, a listener of its own, until ctx ends; the returned func waits for it to stop. It is how a worker
// without the API (the compose "worker" service, scaled out) is watched. Empty addr serves nothing. The
// metrics name no incident, principal or secret; still, serve them on a network only the scraper reaches.
func startMetrics(ctx context.Context, addr string, reg *prometheus.Registry, logger hclog.Logger) (string, func(), error) {
	if addr == "" {
		return "", func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-addr: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	url := "http://" + ln.Addr().String() + "/metrics"
	logger.Info("metrics", "url", url)
	return url, func() { <-done }, nil
}
