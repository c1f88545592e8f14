package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/rbac"
)

// runBenchJSON runs the bench command against env and decodes the JSON object on its last line.
func runBenchJSON(t *testing.T, env *testenv.Env, args ...string) benchReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{"--temporal-address", env.Stack.Temporal.FrontendAddress(), "--task-queue", env.TaskQueue, "--json", "--progress", "0"}, args...)
	if err := runBench(context.Background(), full, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	t.Logf("bench %s:\n%s", strings.Join(args, " "), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var rep benchReport
	dec := json.NewDecoder(strings.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("the last line is not the report: %v\n%s", err, last)
	}
	// Only figures, no thresholds: time targets belong to benchmark runs, not to pass/fail tests.
	return rep
}

// The bench on the embedded stack: 20 generated incidents at 20/s, each classified once its cards are
// ready by a principal granted in the bench's tenant, then 20 bare workflows: every figure is reported,
// every incident got its cards, nothing failed.
func TestBench(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	const tenant = "bench-test-tenant"
	if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: tenant, ID: alice}); err != nil {
		t.Fatal(err)
	}
	if err := env.Activities.Access.GrantRole(ctx, tenant, alice, rbac.RoleSecurityOperator); err != nil {
		t.Fatal(err)
	}

	rep := runBenchJSON(t, env, "--incidents", "20", "--rate", "20", "--bare", "--decide", "--tenant", tenant, "--principal", alice, "--run-id", "test-1")
	if rep.Errors != 0 || rep.Product.Errors != 0 {
		t.Fatalf("errors: %d (%v)", rep.Errors, rep.Product.FirstErrors)
	}
	for _, p := range []*phaseReport{&rep.Product, rep.Bare} {
		if p == nil {
			t.Fatal("no bare figures with --bare")
		}
		if p.Started != 20 || p.Ready != 20 || p.Errors != 0 {
			t.Errorf("%s: %d started, %d ready, %d errors (%v); want 20, 20, 0", p.Workflow, p.Started, p.Ready, p.Errors, p.FirstErrors)
		}
		tr := p.TimeToReadyMs
		if tr.N != 20 || tr.P50 <= 0 || tr.P95 < tr.P50 || tr.P99 < tr.P95 || tr.Max < tr.P99 {
			t.Errorf("%s: time to ready %+v", p.Workflow, tr)
		}
		if p.StartedPerSec <= 0 || p.ReadyPerSec <= 0 || p.Polls < 20 {
			t.Errorf("%s: rates %.2f started/s, %.2f ready/s, %d status queries", p.Workflow, p.StartedPerSec, p.ReadyPerSec, p.Polls)
		}
	}
	if len(rep.Product.ByGroup) != 4 {
		t.Errorf("figures for %d mixes, want the 4: %v", len(rep.Product.ByGroup), rep.Product.ByGroup)
	}
	if !(rep.RatioP99 > 0) || !(rep.RatioP50 > 0) {
		t.Errorf("overhead ratio p99 %v, p50 %v: want positive numbers", rep.RatioP99, rep.RatioP50)
	}
	d := rep.Decisions
	if d == nil || d.Sent != 20 || d.Answered != 20 || d.Accepted != 20 || d.Errors != 0 || d.PerSec <= 0 || d.LatencyMs.P99 <= 0 {
		t.Errorf("decisions %+v: want 20 sent, answered and accepted", d)
	}
	if rep.Terminated != 20 {
		t.Errorf("%d incidents terminated after the run, want 20", rep.Terminated)
	}
	if rep.Bench.SysMiB <= 0 {
		t.Errorf("the bench's own memory is missing: %+v", rep.Bench)
	}

	// With the default principal, unknown in the run's own tenant, every classification is refused: the
	// Update still goes to the workflow and back through the validator.
	rep = runBenchJSON(t, env, "--incidents", "4", "--rate", "50", "--decide", "--run-id", "test-2")
	if rep.TenantID != "bench-test-2" || rep.Bare != nil {
		t.Errorf("tenant %s, bare %v: want bench-test-2 and no bare phase", rep.TenantID, rep.Bare)
	}
	if d := rep.Decisions; rep.Errors != 0 || d == nil || d.Answered != 4 || d.Rejected != 4 || !strings.Contains(d.RejectReason, "not known") {
		t.Errorf("errors %d, decisions %+v: want 4 refused for an unknown principal", rep.Errors, d)
	}
}

func TestBenchParseGauges(t *testing.T) {
	const text = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 123
go_memstats_heap_inuse_bytes 2.5e+07
process_resident_memory_bytes 1.048576e+08
process_resident_memory_bytes_other 7
http_requests_total{route="/metrics"} 3
`
	g, err := parseGauges(strings.NewReader(text), "process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if g["process_resident_memory_bytes"] != 104857600 || g["go_goroutines"] != 123 || g["go_memstats_heap_inuse_bytes"] != 25e6 || len(g) != 3 {
		t.Fatalf("parsed %v", g)
	}
}

func TestBenchDistribution(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := distribution(ds)
	if l.N != 100 || l.P50 != 50 || l.P95 != 95 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Fatalf("%+v", l)
	}
	if l := distribution(nil); l.N != 0 {
		t.Fatalf("%+v", l)
	}
}
