package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/api"
)

// TestMetricsListener: a worker without the API serves its metrics and a liveness check on
// --metrics-addr, and stops serving when its context ends.
func TestMetricsListener(t *testing.T) {
	reg := newRegistry()
	metrics := api.NewMetrics(reg)
	metrics.ObserveAction("device.isolate", "applied")
	ctx, cancel := context.WithCancel(context.Background())
	url, wait, err := startMetrics(ctx, "127.0.0.1:0", reg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(url)
	if code != http.StatusOK || !strings.Contains(body, `guided_actions_total{action="device.isolate",result="applied"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics %d:\n%s", code, body)
	}
	if code, body := get(strings.TrimSuffix(url, "/metrics") + "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	cancel()
	wait()
	if _, err := http.Get(url); err == nil {
		t.Fatal("metrics still served after the context ended")
	}
	if _, _, err := startMetrics(context.Background(), "127.0.0.1:notaport", reg, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("bad address: %v", err)
	}
	if u, w, err := startMetrics(context.Background(), "", reg, hclog.NewNullLogger()); err != nil || u != "" {
		t.Fatalf("empty address: %q, %v", u, err)
	} else {
		w()
	}
}
