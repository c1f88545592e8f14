package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/envflag"
	"github.com/hashicorp/go-hclog"
)

// The profiling endpoints have no authentication: only loopback addresses are taken.
func TestPprofAddrIsLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"localhost:6060", true},
		{"[::1]:6060", true},
		{"127.0.0.1:0", true},
		{":6060", false},
		{"0.0.0.0:6060", false},
		{"10.0.0.5:6060", false},
		{"example.com:6060", false},
		{"6060", false},
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestTuningFlags(t *testing.T) {
	var cfg config
	fs := newFlagSet("run", &cfg, io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.Tuning.StickyCacheSize != defaultStickyCacheSize || cfg.Tuning.DBMaxConns != defaultDBMaxConns || cfg.Tuning.PprofAddr != "" {
		t.Fatalf("defaults: %+v", cfg.Tuning)
	}
	if err := cfg.Tuning.validate(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GUIDED_STICKY_CACHE_SIZE", "250")
	cfg = config{}
	fs = newFlagSet("run", &cfg, io.Discard)
	if err := fs.Parse([]string{"--db-max-conns", "5", "--pprof-addr", "127.0.0.1:6060"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Tuning.StickyCacheSize != 250 || cfg.Tuning.DBMaxConns != 5 || cfg.Tuning.PprofAddr != "127.0.0.1:6060" {
		t.Fatalf("set: %+v", cfg.Tuning)
	}
	for _, bad := range []tuningConfig{
		{StickyCacheSize: -1, DBMaxConns: 1},
		{StickyCacheSize: 10, DBMaxConns: 0},
		{StickyCacheSize: 10, DBMaxConns: 1, PprofAddr: ":6060"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	// worker api takes the pool size, not the worker's cache or profiling flags.
	cfg = config{}
	fs = newFlagSet("api", &cfg, io.Discard)
	if err := fs.Parse([]string{"--db-max-conns", "7"}); err != nil || cfg.Tuning.DBMaxConns != 7 {
		t.Fatalf("api --db-max-conns: %v, %+v", err, cfg.Tuning)
	}
	if fs.Lookup("sticky-cache-size") != nil || fs.Lookup("pprof-addr") != nil {
		t.Fatal("worker api registers worker-only flags")
	}
}

// The profiling endpoints answer on their own listener and stop with the context.
func TestPprofServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, wait, err := startPprof(ctx, "127.0.0.1:0", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("GET goroutine: %s\n%.200s", resp.Status, body)
	}
	cancel()
	wait()
	if url, wait, err := startPprof(context.Background(), "", hclog.NewNullLogger()); err != nil || url != "" {
		t.Fatalf("empty address: %q, %v", url, err)
	} else {
		wait()
	}
}

// TestBadVariableStopsTheWorker: a variable that does not parse is an error naming it, where it used to
// leave the built-in default in force without a word.
func TestBadVariableStopsTheWorker(t *testing.T) {
	t.Setenv("GUIDED_APPROVAL_TTL", "1day")
	t.Setenv("GUIDED_STICKY_CACHE_SIZE", "lots")
	var stderr strings.Builder
	err := run(context.Background(), []string{"--log-level", "error"}, io.Discard, &stderr)
	if err == nil {
		t.Fatal("the worker started with GUIDED_APPROVAL_TTL=1day")
	}
	for _, want := range []string{`GUIDED_APPROVAL_TTL="1day" (for --approval-ttl)`, `GUIDED_STICKY_CACHE_SIZE="lots"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// The command line still wins over a bad variable.
	t.Setenv("GUIDED_STICKY_CACHE_SIZE", "")
	var cfg config
	fs := newFlagSet("run", &cfg, io.Discard)
	if err := fs.Parse([]string{"--approval-ttl", "2h"}); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs); err != nil || cfg.Guided.ApprovalTTL != 2*time.Hour {
		t.Fatalf("--approval-ttl 2h with a bad variable: %v, ttl %v", err, cfg.Guided.ApprovalTTL)
	}
}

func TestPolicyFlags(t *testing.T) {
	var cfg config
	fs := newFlagSet("run", &cfg, io.Discard)
	if err := fs.Parse([]string{"--apply-attempts", "3", "--apply-timeout", "2m", "--classification-sla", "High=30m, low=2h",
		"--high-risk-approvals", "3", "--approval-ttl", "8h"}); err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Guided.policy()
	if err != nil {
		t.Fatal(err)
	}
	def := activities.DefaultPolicy()
	if p.ApplyAttempts != 3 || p.ApplyTimeout != 2*time.Minute || p.ApprovalTTL != 8*time.Hour || p.RequiredApprovals[card.RiskHigh] != 3 {
		t.Errorf("policy %+v", p)
	}
	if p.ClassificationSLA[incident.SeverityHigh] != 30*time.Minute || p.ClassificationSLA[incident.SeverityLow] != 2*time.Hour ||
		p.ClassificationSLA[incident.SeverityMedium] != def.ClassificationSLA[incident.SeverityMedium] {
		t.Errorf("SLA %v: high and low as given, medium the default", p.ClassificationSLA)
	}

	// The defaults are the activities' defaults.
	cfg = config{}
	fs = newFlagSet("run", &cfg, io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if p, err := cfg.Guided.policy(); err != nil || p.ApplyAttempts != def.ApplyAttempts || p.ApplyTimeout != def.ApplyTimeout ||
		p.ApprovalTTL != def.ApprovalTTL || p.RequiredApprovals[card.RiskHigh] != 2 {
		t.Errorf("defaults: %+v, %v", p, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--apply-attempts", "0"}, "--apply-attempts 0"},
		{[]string{"--apply-timeout", "1s"}, "--apply-timeout 1s"},
		{[]string{"--classification-sla", "critical=1h"}, `"critical=1h": want SEVERITY=DURATION, SEVERITY one of high, informational, low, medium, unknown`},
		{[]string{"--classification-sla", "high=soon"}, `"high=soon": want a positive duration`},
		{[]string{"--classification-sla", "high"}, `"high": want SEVERITY=DURATION`},
		{[]string{"--high-risk-approvals", "0"}, "--high-risk-approvals 0"},
		{[]string{"--approval-ttl", "-1h"}, "--approval-ttl -1h0m0s"},
		{[]string{"--triage-threshold", "70"}, "--triage-threshold 70"},
		{[]string{"--model-threshold", "-0.1"}, "--model-threshold -0.1"},
		{[]string{"--llm-timeout", "0s"}, "--llm-timeout 0s"},
	} {
		cfg = config{}
		fs = newFlagSet("run", &cfg, io.Discard)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Guided.policy(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to say %q", tc.args, err, tc.want)
		}
	}
	// The worker refuses before it starts anything.
	err = run(context.Background(), []string{"--apply-attempts", "0", "--log-level", "error"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--apply-attempts") {
		t.Fatalf("worker with --apply-attempts 0: %v", err)
	}
}
