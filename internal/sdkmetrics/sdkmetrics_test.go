package sdkmetrics

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.temporal.io/sdk/client"
)

// exposition is the registry's metrics in the text format, as /metrics serves them.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func contains(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %s in:\n%s", w, text)
		}
	}
}

func TestCountersGaugesTimers(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg, "guided").WithTags(map[string]string{"namespace": "default", "task_queue": "guided-response"})

	h.Counter("temporal_request").Inc(2)
	h.Counter("temporal_request").Inc(1)
	h.Counter("temporal_request").Inc(-5) // a counter never goes down
	h.Gauge("temporal_num_pollers").Update(3)
	h.Gauge("temporal_num_pollers").Update(2)
	h.Timer("temporal_request_latency").Record(250 * time.Millisecond)
	h.Timer("temporal_request_latency").Record(2 * time.Second)

	text := exposition(t, reg)
	contains(t, text,
		`guided_temporal_request_total{namespace="default",task_queue="guided-response"} 3`,
		`guided_temporal_num_pollers{namespace="default",task_queue="guided-response"} 2`,
		`# TYPE guided_temporal_request_latency_seconds histogram`,
		`guided_temporal_request_latency_seconds_bucket{namespace="default",task_queue="guided-response",le="0.25"} 1`,
		`guided_temporal_request_latency_seconds_bucket{namespace="default",task_queue="guided-response",le="2.5"} 2`,
		`guided_temporal_request_latency_seconds_sum{namespace="default",task_queue="guided-response"} 2.25`,
		`guided_temporal_request_latency_seconds_count{namespace="default",task_queue="guided-response"} 2`,
	)
}

func TestPrefixNotDoubled(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg, "temporal")
	h.Counter("temporal_request").Inc(1)
	h.Counter("sticky_cache_hit").Inc(1)
	text := exposition(t, reg)
	contains(t, text, "\ntemporal_request_total 1", "\ntemporal_sticky_cache_hit_total 1")
	if strings.Contains(text, "temporal_temporal") {
		t.Errorf("prefix doubled:\n%s", text)
	}
}

func TestWithTagsMergesAndOverrides(t *testing.T) {
	reg := prometheus.NewRegistry()
	root := New(reg, "")
	base := root.WithTags(map[string]string{"namespace": "default", "worker_type": "WorkflowWorker"})
	child := base.WithTags(map[string]string{"worker_type": "ActivityWorker", "task_queue": "q"})
	sibling := base.WithTags(map[string]string{"worker_type": "LocalActivityWorker", "task_queue": "q"})

	child.Counter("temporal_poll").Inc(1)
	sibling.Counter("temporal_poll").Inc(4)
	base.Counter("temporal_poll").Inc(1) // the parent is unchanged by its children

	text := exposition(t, reg)
	contains(t, text,
		`temporal_poll_total{namespace="default",task_queue="q",worker_type="ActivityWorker"} 1`,
		`temporal_poll_total{namespace="default",task_queue="q",worker_type="LocalActivityWorker"} 4`,
	)
	// base has another key set: its own vector, under a suffixed name.
	if !strings.Contains(text, `{namespace="default",worker_type="WorkflowWorker"} 1`) {
		t.Errorf("the parent's counter is missing:\n%s", text)
	}
	if strings.Count(text, "# TYPE temporal_poll_") != 2 {
		t.Errorf("want two vectors for two key sets:\n%s", text)
	}
}

func TestSameNameOtherKeysGetsSuffixedName(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg, "")
	h.WithTags(map[string]string{"a": "1"}).Counter("requests").Inc(1)
	h.WithTags(map[string]string{"a": "1", "b": "2"}).Counter("requests").Inc(1)
	h.Counter("requests").Inc(1)
	h.WithTags(map[string]string{"a": "9"}).Counter("requests").Inc(1) // the first key set again

	text := exposition(t, reg)
	contains(t, text, `requests_total{a="1"} 1`, `requests_total{a="9"} 1`)
	suffixAB := "requests_" + keysSuffix([]string{"a", "b"}) + "_total"
	suffixNone := "requests_" + keysSuffix(nil) + "_total"
	contains(t, text, suffixAB+`{a="1",b="2"} 1`, suffixNone+" 1")

	// The suffix depends on the keys only: another process names the same key set the same.
	if keysSuffix([]string{"a", "b"}) == keysSuffix([]string{"ab"}) {
		t.Error("key sets collide")
	}
}

func TestSanitize(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg, "my-app").WithTags(map[string]string{
		"task-queue": "q", "task.queue": "r", "__name__": "x", "9lives": "y", "": "z", "ok": "bad\xffutf8",
	})
	h.Counter("temporal.request-failure/count").Inc(1)
	h.Gauge("1st gauge").Update(1)

	text := exposition(t, reg)
	contains(t, text,
		`my_app_temporal_request_failure_count_total{`,
		`task_queue="q"`, `task_queue_2="r"`, `tag__name__="x"`, `_9lives="y"`, `tag="z"`, `ok="bad`+"\uFFFD"+`utf8"`,
		`my_app__1st_gauge{`,
	)
}

func TestNameTakenByAnotherCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	taken := prometheus.NewGauge(prometheus.GaugeOpts{Name: "temporal_x_total", Help: "not ours"})
	reg.MustRegister(taken)
	h := New(reg, "")
	h.Counter("temporal_x").Inc(7) // temporal_x_total is taken: the suffixed name is used
	contains(t, exposition(t, reg), "temporal_x_"+keysSuffix(nil)+"_total 7")
}

func TestCounterAndTimerOfOneName(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(reg, "")
	h.Counter("temporal_activity_execution").Inc(1)
	h.Timer("temporal_activity_execution").Record(time.Second)
	h.Gauge("temporal_activity_execution").Update(5)
	contains(t, exposition(t, reg),
		"temporal_activity_execution_total 1", "temporal_activity_execution_seconds_count 1", "temporal_activity_execution 5")
}

func TestTwoHandlersOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "").WithTags(map[string]string{"k": "a"}).Counter("c").Inc(1)
	New(reg, "").WithTags(map[string]string{"k": "b"}).Counter("c").Inc(2)
	contains(t, exposition(t, reg), `c_total{k="a"} 1`, `c_total{k="b"} 2`)
}

func TestNilRegistry(t *testing.T) {
	h := New(nil, "x")
	h.WithTags(map[string]string{"a": "b"}).Counter("c").Inc(1)
	h.Gauge("g").Update(1)
	h.Timer("t").Record(time.Second)
}

func TestConcurrentUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	root := New(reg, "")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := root.WithTags(map[string]string{"worker": string(rune('a' + g))})
			for i := range 500 {
				h.Counter("polls").Inc(1)
				h.Gauge("slots").Update(float64(i))
				h.WithTags(map[string]string{"op": "x"}).Timer("latency").Record(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	contains(t, exposition(t, reg), `polls_total{worker="a"} 500`, `polls_total{worker="h"} 500`)
}

// The handler is what the SDK takes.
var _ client.Options = client.Options{MetricsHandler: New(prometheus.NewRegistry(), "")}
