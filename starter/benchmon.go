package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The worker's own figures, from its Prometheus endpoint.

// metricsTarget is one --metrics-url: a process to sample, named for the report.
type metricsTarget struct{ name, url string }

// metricsTargets is the repeatable --metrics-url flag: URL, or NAME=URL.
type metricsTargets []metricsTarget

func (m *metricsTargets) String() string {
	parts := make([]string, len(*m))
	for i, t := range *m {
		parts[i] = t.name + "=" + t.url
	}
	return strings.Join(parts, ",")
}

func (m *metricsTargets) Set(v string) error {
	t := metricsTarget{name: "worker", url: v}
	if name, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(name, "/") && !strings.Contains(name, ":") {
		t = metricsTarget{name: name, url: rest}
	}
	if u, err := url.Parse(t.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want the URL of a Prometheus endpoint, e.g. http://127.0.0.1:8080/metrics, or NAME=URL", v)
	}
	for _, o := range *m {
		if o.name == t.name {
			return fmt.Errorf("%q: a second process named %s; name them apart, e.g. worker=URL and temporal=URL", v, t.name)
		}
	}
	*m = append(*m, t)
	return nil
}

// workerSample is one scrape of the worker's /metrics.
type workerSample struct {
	AtSec float64 `json:"atSec"`
	Phase string  `json:"phase"`
	// Started is how many workflows the phase had started when the sample was taken.
	Started      int64   `json:"started"`
	RSSMiB       float64 `json:"rssMiB"`
	LiveHeapMiB  float64 `json:"liveHeapMiB,omitempty"`
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	Goroutines   float64 `json:"goroutines"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	at           time.Time
}

// workerReport is one process's memory and CPU over the run.
type workerReport struct {
	Name       string `json:"name"`
	MetricsURL string `json:"metricsUrl"`
	Error      string `json:"error,omitempty"`
	// Per phase: RSS at its start and end, the most seen, and the CPU seconds the process spent in it.
	Phases []workerPhase `json:"phases,omitempty"`
	// Slope is the memory's growth over the incident phase, per 1,000 incidents started.
	Slope   *memorySlope   `json:"slope,omitempty"`
	Samples []workerSample `json:"samples,omitempty"`
	// every is the step, in incidents, of the rows the text report prints.
	every int64
}

type workerPhase struct {
	Phase       string  `json:"phase"`
	RSSStartMiB float64 `json:"rssStartMiB"`
	RSSEndMiB   float64 `json:"rssEndMiB"`
	RSSMaxMiB   float64 `json:"rssMaxMiB"`
	HeapEndMiB  float64 `json:"heapInuseEndMiB"`
	CPUSeconds  float64 `json:"cpuSeconds"`
}

// memorySlope is a least-squares line through the incident phase's samples: KiB (or goroutines) per
// 1,000 incidents started, over the whole phase and over its second half.
type memorySlope struct {
	Samples           int     `json:"samples"`
	RSSKiBPer1000     float64 `json:"rssKiBPer1000"`
	RSSKiBPer1000Late float64 `json:"rssKiBPer1000SecondHalf"`
	// The live heap's figures are there when the process exports go_gc_heap_live_bytes.
	LiveHeap              bool    `json:"liveHeap"`
	LiveHeapKiBPer1000    float64 `json:"liveHeapKiBPer1000"`
	LiveHeapKiBPer1000L   float64 `json:"liveHeapKiBPer1000SecondHalf"`
	GoroutinesPer1000     float64 `json:"goroutinesPer1000"`
	GoroutinesPer1000Late float64 `json:"goroutinesPer1000SecondHalf"`
}

// workerMonitor scrapes a process's /metrics every interval.
type workerMonitor struct {
	name, url, token string
	interval         time.Duration
	started          func() int64
	http             *http.Client
	begin            time.Time

	mu      sync.Mutex
	phase   string
	samples []workerSample
	lastErr error
	stopCh  chan struct{}
	done    chan struct{}
}

func newWorkerMonitor(name, url, token string, interval time.Duration, started func() int64) *workerMonitor {
	return &workerMonitor{name: name, url: url, token: token, interval: interval, started: started,
		http: &http.Client{Timeout: 10 * time.Second}, begin: time.Now(), stopCh: make(chan struct{}), done: make(chan struct{})}
}

func (m *workerMonitor) start(ctx context.Context) {
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			select {
			case <-m.stopCh:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				m.scrape(ctx)
			}
		}
	}()
}

// mark starts a phase: it scrapes once so that the phase has its starting figures.
func (m *workerMonitor) mark(phase string) {
	m.mu.Lock()
	m.phase = phase
	m.mu.Unlock()
	m.scrape(context.Background())
}

func (m *workerMonitor) scrape(ctx context.Context) {
	n := m.started()
	s, err := scrapeWorker(ctx, m.http, m.url, m.token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.lastErr = err
		return
	}
	s.at = time.Now()
	s.AtSec = round2(s.at.Sub(m.begin).Seconds())
	s.Phase = m.phase
	s.Started = n
	m.samples = append(m.samples, s)
}

// stop ends the sampling and summarizes it; incidents is the size of the run, for the printed rows.
func (m *workerMonitor) stop(incidents int) *workerReport {
	close(m.stopCh)
	<-m.done
	m.scrape(context.Background())
	m.mu.Lock()
	defer m.mu.Unlock()
	rep := &workerReport{Name: m.name, MetricsURL: m.url, Samples: m.samples, every: max(1, int64(incidents)/10)}
	if m.lastErr != nil {
		rep.Error = m.lastErr.Error()
	}
	// A phase's figures run from its first sample to the first sample of the next phase (or its own
	// last). "PHASE end" is a phase's closing sample: not a phase of its own.
	var phases [][]workerSample
	for i := 0; i < len(m.samples); {
		j := i
		for j < len(m.samples) && m.samples[j].Phase == m.samples[i].Phase {
			j++
		}
		last := j - 1
		if j < len(m.samples) {
			last = j
		}
		if !strings.HasSuffix(m.samples[i].Phase, " end") {
			phases = append(phases, m.samples[i:last+1])
		}
		i = j
	}
	for _, seg := range phases {
		first, end := seg[0], seg[len(seg)-1]
		p := workerPhase{Phase: first.Phase, RSSStartMiB: first.RSSMiB, RSSEndMiB: end.RSSMiB,
			HeapEndMiB: end.HeapInuseMiB, CPUSeconds: round2(end.CPUSeconds - first.CPUSeconds)}
		for _, s := range seg {
			p.RSSMaxMiB = max(p.RSSMaxMiB, s.RSSMiB)
		}
		rep.Phases = append(rep.Phases, p)
	}
	rep.Slope = slopeOf(m.samples, "product", int64(incidents))
	return rep
}

// series is a copy of the samples so far.
func (m *workerMonitor) series() []workerSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.samples)
}

// monitors are every --metrics-url's monitor.
type monitors []*workerMonitor

func (ms monitors) mark(phase string) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.mark(phase) }()
	}
	wg.Wait()
}

// slopeOf fits memory against incidents started over the samples of phase (and its closing sample).
func slopeOf(samples []workerSample, phase string, incidents int64) *memorySlope {
	var xs []float64
	var rss, live, gor []float64
	var lxs, lrss, llive, lgor []float64
	hasLive := true
	ended := false
	for _, s := range samples {
		if s.Phase == phase+" end" {
			if ended {
				continue // after the closing sample: the incidents are being terminated
			}
			ended = true
		} else if s.Phase != phase {
			continue
		}
		x := float64(s.Started)
		xs, rss, gor = append(xs, x), append(rss, s.RSSMiB*1024), append(gor, s.Goroutines)
		live = append(live, s.LiveHeapMiB*1024)
		hasLive = hasLive && s.LiveHeapMiB > 0
		if s.Started >= incidents/2 {
			lxs, lrss, lgor = append(lxs, x), append(lrss, s.RSSMiB*1024), append(lgor, s.Goroutines)
			llive = append(llive, s.LiveHeapMiB*1024)
		}
	}
	if len(xs) < 3 {
		return nil
	}
	per1000 := func(x, y []float64) float64 { return round2(1000 * leastSquares(x, y)) }
	sl := &memorySlope{Samples: len(xs), RSSKiBPer1000: per1000(xs, rss), GoroutinesPer1000: per1000(xs, gor)}
	if hasLive {
		sl.LiveHeap, sl.LiveHeapKiBPer1000 = true, per1000(xs, live)
	}
	if len(lxs) >= 3 {
		sl.RSSKiBPer1000Late, sl.GoroutinesPer1000Late = per1000(lxs, lrss), per1000(lxs, lgor)
		if hasLive {
			sl.LiveHeapKiBPer1000L = per1000(lxs, llive)
		}
	}
	return sl
}

// leastSquares is the slope of the least-squares line through (x, y); 0 when x does not vary.
func leastSquares(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

func scrapeWorker(ctx context.Context, hc *http.Client, url, token string) (workerSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return workerSample{}, fmt.Errorf("worker metrics: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return workerSample{}, fmt.Errorf("worker metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return workerSample{}, fmt.Errorf("worker metrics: GET %s: %s (give --token, an API token)", url, resp.Status)
	}
	g, err := parseGauges(resp.Body, "process_resident_memory_bytes", "go_gc_heap_live_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines", "process_cpu_seconds_total")
	if err != nil {
		return workerSample{}, fmt.Errorf("worker metrics: %w", err)
	}
	rss, ok := g["process_resident_memory_bytes"]
	if !ok {
		return workerSample{}, fmt.Errorf("worker metrics: %s has no process_resident_memory_bytes", url)
	}
	return workerSample{
		RSSMiB:       round2(rss / (1 << 20)),
		LiveHeapMiB:  round2(g["go_gc_heap_live_bytes"] / (1 << 20)),
		HeapInuseMiB: round2(g["go_memstats_heap_inuse_bytes"] / (1 << 20)),
		Goroutines:   g["go_goroutines"],
		CPUSeconds:   g["process_cpu_seconds_total"],
	}, nil
}

// parseGauges reads the unlabelled samples named in the Prometheus text exposition format.
func parseGauges(r io.Reader, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

func writeWorkerText(w io.Writer, r *workerReport) {
	if r.Error != "" && len(r.Samples) == 0 {
		fmt.Fprintf(w, "%s: no figures: %s\n", r.Name, r.Error)
		return
	}
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%s during %s (%s): RSS %.1f → %.1f MiB (max %.1f), heap in use %.1f MiB at the end, CPU %.1f s\n",
			r.Name, p.Phase, r.MetricsURL, p.RSSStartMiB, p.RSSEndMiB, p.RSSMaxMiB, p.HeapEndMiB, p.CPUSeconds)
	}
	// The memory at the start, at every tenth of the run, and at the end of each phase.
	fmt.Fprintf(w, "%s memory over the run:\n", r.Name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  at s\tphase\tstarted\tRSS MiB\tlive heap MiB\theap in use MiB\tgoroutines\t")
	var next int64
	for i, s := range r.Samples {
		first := i == 0 || r.Samples[i-1].Phase != s.Phase
		last := i == len(r.Samples)-1 || r.Samples[i+1].Phase != s.Phase
		if !first && !last && s.Started < next {
			continue
		}
		next = (s.Started/r.every + 1) * r.every
		live := "-"
		if s.LiveHeapMiB > 0 {
			live = fmt.Sprintf("%.1f", s.LiveHeapMiB)
		}
		fmt.Fprintf(tw, "  %.0f\t%s\t%d\t%.1f\t%s\t%.1f\t%.0f\t\n", s.AtSec, s.Phase, s.Started, s.RSSMiB, live, s.HeapInuseMiB, s.Goroutines)
	}
	_ = tw.Flush()
	if sl := r.Slope; sl != nil {
		fmt.Fprintf(w, "%s slope over the incident phase (%d samples), per 1,000 incidents started: RSS %+.0f KiB (second half %+.0f)",
			r.Name, sl.Samples, sl.RSSKiBPer1000, sl.RSSKiBPer1000Late)
		if sl.LiveHeap {
			fmt.Fprintf(w, ", live heap %+.0f KiB (second half %+.0f)", sl.LiveHeapKiBPer1000, sl.LiveHeapKiBPer1000L)
		}
		fmt.Fprintf(w, ", goroutines %+.0f (second half %+.0f)\n", sl.GoroutinesPer1000, sl.GoroutinesPer1000Late)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: some scrapes failed: %s\n", r.Name, r.Error)
	}
}
