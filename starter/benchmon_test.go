package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBenchMetricsTargets(t *testing.T) {
	var m metricsTargets
	for _, v := range []string{"http://127.0.0.1:8080/metrics", "temporal=http://127.0.0.1:8081/metrics"} {
		if err := m.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if len(m) != 2 || m[0] != (metricsTarget{"worker", "http://127.0.0.1:8080/metrics"}) || m[1] != (metricsTarget{"temporal", "http://127.0.0.1:8081/metrics"}) {
		t.Fatalf("%+v", m)
	}
	for _, bad := range []string{"http://127.0.0.1:9/metrics", "temporal=http://x/metrics", "not a url", "x=ftp://h/metrics"} {
		if err := m.Set(bad); err == nil {
			t.Errorf("Set(%q): want an error", bad)
		}
	}
}

func TestBenchLeastSquares(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4}
	if got := leastSquares(x, []float64{1, 3, 5, 7, 9}); math.Abs(got-2) > 1e-9 {
		t.Fatalf("slope %v, want 2", got)
	}
	if got := leastSquares([]float64{2, 2, 2}, []float64{1, 2, 3}); got != 0 {
		t.Fatalf("no spread in x: %v, want 0", got)
	}
}

// The slope is per 1,000 incidents started, over the incident phase and its closing sample; samples
// taken while the incidents are terminated, and of the bare phase, are not in it.
func TestBenchSlope(t *testing.T) {
	var samples []workerSample
	for i := int64(0); i <= 10; i++ {
		// RSS grows 1 MiB per 100 incidents in the first half, then stays flat.
		rss := 100 + float64(min(i, 5))
		samples = append(samples, workerSample{Phase: "product", Started: i * 100, RSSMiB: rss, LiveHeapMiB: 50, Goroutines: 10})
	}
	samples = append(samples,
		workerSample{Phase: "product end", Started: 1000, RSSMiB: 105, LiveHeapMiB: 50, Goroutines: 10},
		workerSample{Phase: "product end", Started: 1000, RSSMiB: 900, LiveHeapMiB: 50, Goroutines: 10},
		workerSample{Phase: "bare", Started: 0, RSSMiB: 900, LiveHeapMiB: 50, Goroutines: 10})
	sl := slopeOf(samples, "product", 1000)
	if sl == nil || sl.Samples != 12 {
		t.Fatalf("%+v", sl)
	}
	if sl.RSSKiBPer1000 <= 0 || sl.RSSKiBPer1000Late != 0 || sl.LiveHeapKiBPer1000 != 0 || sl.GoroutinesPer1000 != 0 {
		t.Fatalf("%+v: want growth over the phase, none in its second half, none in live heap and goroutines", sl)
	}
	if slopeOf(samples[:2], "product", 1000) != nil {
		t.Fatal("a slope from two samples")
	}

	var b bytes.Buffer
	writeWorkerText(&b, &workerReport{Name: "worker", MetricsURL: "http://w/metrics", Samples: samples, Slope: sl, every: 500})
	out := b.String()
	for _, want := range []string{"worker memory over the run:", "RSS +", "second half +0", "live heap +0 KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	// Rows: the first and last of each phase and every 500 incidents: 0, 500, 1000; 1000 twice (end);
	// the bare phase's one sample.
	if rows := strings.Count(out, "\n") - 3; rows != 6 {
		t.Errorf("%d rows, want 6:\n%s", rows, out)
	}
}

// The timeline cuts a phase by start time and splits each window's CPU between the stack, the bench and
// the rest; a window in which the rest used more than the threshold is left out of the undisturbed figures.
func TestBenchTimeline(t *testing.T) {
	begin := time.Unix(1_800_000_000, 0)
	at := func(sec float64) time.Time { return begin.Add(time.Duration(sec * float64(time.Second))) }
	var samples []sample
	for i := range 20 {
		start := at(float64(i)) // one a second for 20 s
		d := 50 * time.Millisecond
		if i >= 10 {
			d = 900 * time.Millisecond // the second window is slow
		}
		samples = append(samples, sample{start: start, ready: start.Add(d)})
	}
	// The machine: 1 core busy in the first 10 s, 2 in the next; the bench 0.1 core throughout.
	var cpu []cpuSample
	for sec := 0; sec <= 21; sec++ {
		busy := float64(min(sec, 10)) + 2*float64(max(sec-10, 0))
		cpu = append(cpu, cpuSample{at: at(float64(sec)), machine: cpuTimes{busy: 100 * busy, total: 200 * float64(sec), ok: true}, own: 0.1 * float64(sec)})
	}
	// The stack: 0.8 cores throughout, sampled every 5 s.
	var stack []workerSample
	for sec := 0; sec <= 25; sec += 5 {
		stack = append(stack, workerSample{at: at(float64(sec)), CPUSeconds: 0.8 * float64(sec)})
	}
	tl, und := timeline(samples, begin, 10*time.Second, cpu, [][]workerSample{stack}, 0.25)
	if len(tl) != 2 {
		t.Fatalf("%d windows, want 2: %+v", len(tl), tl)
	}
	if w := tl[0]; w.Started != 10 || w.P99 != 50 || w.MachineCores != 1 || w.StackCores != 0.8 || w.BenchCores != 0.1 || w.RestCores != 0.1 || w.Disturbed {
		t.Errorf("first window %+v", w)
	}
	if w := tl[1]; w.Started != 10 || w.P99 != 900 || w.RestCores != 1.1 || !w.Disturbed {
		t.Errorf("second window %+v", w)
	}
	if und == nil || und.Windows != 1 || und.OfWindows != 2 || und.TimeToReadyMs.N != 10 || und.TimeToReadyMs.Max != 50 {
		t.Errorf("undisturbed %+v", und)
	}
	if _, und := timeline(samples, begin, 10*time.Second, cpu, nil, 0.25); und != nil {
		t.Errorf("undisturbed figures without the stack's CPU: %+v", und)
	}
}
