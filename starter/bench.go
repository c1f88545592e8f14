package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/incidentgen"
	"github.com/guided-response/guided/workflows"
)

// The load benchmark: `starter bench` drives generated incidents into a running stack at a fixed rate
// and measures, for each, the time from the start call until the status query says the cards are
// ready; with --bare it does the same for a bare workflow that runs the same number of activities doing
// nothing, so that the product's overhead over Temporal itself is a ratio; with --decide it also sends
// each incident a classification Update once its cards are ready.
//
// How it measures: the incidents are generated before the clock starts (internal/incidentgen, seeded, a
// run ID in every ID so runs never collide). A ticker starts one at each 1/rate seconds, each in its own
// goroutine, at most --concurrency in flight (when they are all busy the ticker waits: the achieved start
// rate then falls below the asked one, and the report says so). The start is the same signal-with-start
// the starter's incident command makes. Then the status query is polled every --poll, and once the
// workflow has waited ten times that, every --poll-growth (10%) of its wait, until it reports Ready: the
// time to cards is from just before the start call to the answer that said Ready, so it includes up to
// one poll interval of waiting (at most 10% of the figure past the first 200 ms) and the query's own
// round trip. The bare phase runs after the incident phase on the same server and worker, measured the
// same way (its status query says Ready once its last activity has run; the poll may reach it completed,
// which Temporal answers by replaying it).
//
// Memory: the worker is another process; the bench reports its own, and the worker's only when given
// the worker's Prometheus endpoint (--metrics-url, --token; repeat the flag, NAME=URL, for several
// processes): process_resident_memory_bytes, go_gc_heap_live_bytes (the heap the last GC found live),
// go_memstats_heap_inuse_bytes, go_goroutines and process_cpu_seconds_total, sampled every --scrape. Each
// sample is taken against the number of workflows started so far, so the report can print the memory
// at the start, every tenth of the run and at the end, and its slope: a least-squares line through the
// samples of the incident phase, in KiB per 1,000 incidents, over the whole phase and over its second
// half (once caches have filled, a leak is the slope that remains). With `worker --dev` that process
// also runs the embedded Temporal server (PostgreSQL is a process of its own).
//
// Profiles: with --pprof-url (the worker's --pprof-addr), --cpu-profile takes a CPU profile of the worker
// over the incident phase and --heap-profile a heap profile at its end, before the incidents are
// terminated; `go tool pprof` reads both.

// benchFlags are the bench command's own flags.
type benchFlags struct {
	incidents     int
	rate          float64
	concurrency   int
	poll          time.Duration
	pollGrowth    float64
	readyTimeout  time.Duration
	decide        bool
	principal     string
	tenant        string
	runID         string
	seed          uint64
	bare          bool
	keep          bool
	metricsURLs   metricsTargets
	token         string
	scrapeEvery   time.Duration
	progressEvery time.Duration
	samplesFile   string
	window        time.Duration
	disturbed     float64
	pprofURL      string
	cpuProfile    string
	heapProfile   string
}

func (b *benchFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&b.incidents, "incidents", 100, "how many incidents to start")
	fs.Float64Var(&b.rate, "rate", 20, "incidents started per second")
	fs.IntVar(&b.concurrency, "concurrency", 500, "most incidents in flight (started, not yet ready or decided); past it the start rate falls")
	fs.DurationVar(&b.poll, "poll", 20*time.Millisecond, "how often the status query is polled until the cards are ready, at first")
	fs.Float64Var(&b.pollGrowth, "poll-growth", 0.1, "then poll every this fraction of the time since the start, when longer than --poll (the measuring error stays under it); 0 polls every --poll")
	fs.DurationVar(&b.readyTimeout, "ready-timeout", time.Minute, "an incident whose cards are not ready this long after its start is an error")
	fs.BoolVar(&b.decide, "decide", false, "once the cards are ready, send each incident a classification Update and measure decisions per second")
	fs.StringVar(&b.principal, "principal", "load-test@bench.invalid", "with --decide: who classifies; unknown in the tenant, the workflow refuses it: the Update still goes to the workflow and back through its validator, but a refusal writes no history")
	fs.StringVar(&b.tenant, "tenant", "", "tenant of the incidents; empty: bench-RUNID, a tenant of this run alone (grant --principal roles in a fixed tenant to have decisions accepted)")
	fs.StringVar(&b.runID, "run-id", "", "run ID in every tenant, incident and workflow ID; empty: a fresh one")
	fs.Uint64Var(&b.seed, "seed", 1, "seed of the incident generator: the same seed makes the same incidents")
	fs.BoolVar(&b.bare, "bare", false, "then run as many bare workflows (4 activities doing nothing) at the same rate, for the overhead ratio")
	fs.BoolVar(&b.keep, "keep", false, "leave the incidents' workflows open; by default they are terminated once measured (they would wait for decisions for days)")
	fs.Var(&b.metricsURLs, "metrics-url", "the worker's Prometheus endpoint, e.g. http://127.0.0.1:8080/metrics, to report its memory and CPU; repeat as NAME=URL for several processes")
	fs.StringVar(&b.token, "token", envOr("GUIDED_API_TOKEN", ""), "API token for --metrics-url (env GUIDED_API_TOKEN; prefer the variable, flags show in process lists)")
	fs.DurationVar(&b.scrapeEvery, "scrape", 5*time.Second, "how often --metrics-url is sampled")
	fs.DurationVar(&b.window, "window", 10*time.Second, "width of the timeline's windows (by start time)")
	fs.Float64Var(&b.disturbed, "disturbed", 0.25, "a timeline window in which the rest of the machine (Postgres, and processes other than the bench and those of --metrics-url) used more than this many cores is disturbed: the undisturbed figures leave it out")
	fs.StringVar(&b.pprofURL, "pprof-url", "", "the worker's profiling endpoints (worker --pprof-addr), e.g. http://127.0.0.1:6060/debug/pprof/")
	fs.StringVar(&b.cpuProfile, "cpu-profile", "", "with --pprof-url: write a CPU profile of the worker over the incident phase to this file")
	fs.StringVar(&b.heapProfile, "heap-profile", "", "with --pprof-url: write a heap profile of the worker at the end of the incident phase to this file")
	fs.DurationVar(&b.progressEvery, "progress", 5*time.Second, "how often progress is printed to stderr; 0 prints none")
	fs.StringVar(&b.samplesFile, "samples", "", "write every workflow's figures to this CSV file, to find the slow ones")
}

// runBench runs `starter bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts options
	var bf benchFlags
	fs := flag.NewFlagSet("starter bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.register(fs)
	bf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: starter bench [flags]\n\nStart generated incidents into a running stack at --rate per second and report the time to cards\n(p50, p95, p99), incidents and decisions per second, and errors; --bare compares with a bare workflow.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("bench: unexpected arguments %q: every setting is a flag", rest)
	case bf.incidents <= 0:
		return errors.New("bench: --incidents must be at least 1")
	case bf.rate <= 0 || math.IsInf(bf.rate, 0) || math.IsNaN(bf.rate):
		return errors.New("bench: --rate must be a positive number of incidents per second")
	case bf.concurrency <= 0:
		return errors.New("bench: --concurrency must be at least 1")
	case bf.poll <= 0 || bf.readyTimeout <= 0:
		return errors.New("bench: --poll and --ready-timeout must be positive")
	case bf.pollGrowth < 0 || bf.pollGrowth >= 1 || math.IsNaN(bf.pollGrowth):
		return errors.New("bench: --poll-growth must be at least 0 and below 1")
	case bf.scrapeEvery <= 0 || bf.window <= 0:
		return errors.New("bench: --scrape and --window must be positive")
	case bf.disturbed < 0 || math.IsNaN(bf.disturbed):
		return errors.New("bench: --disturbed must be at least 0 cores")
	case (bf.cpuProfile != "" || bf.heapProfile != "") && bf.pprofURL == "":
		return errors.New("bench: --cpu-profile and --heap-profile need --pprof-url, the worker's profiling endpoints (worker --pprof-addr)")
	}
	if bf.runID == "" {
		bf.runID = incidentgen.NewRunID()
	}
	gen, err := incidentgen.New(incidentgen.Options{RunID: bf.runID, TenantID: bf.tenant, Seed: bf.seed, Now: time.Now()})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "starter", Level: hclog.LevelFromString(opts.logLevel), Output: stderr})
	c, err := dial(ctx, &opts, logger)
	if err != nil {
		return err
	}
	defer c.Close()

	b := &bench{c: c, opts: &opts, flags: &bf, progress: stderr}
	incs := make([]incident.Incident, bf.incidents)
	mixes := make([]incidentgen.Mix, bf.incidents)
	for i := range incs {
		incs[i], mixes[i] = gen.Next()
	}
	rep := benchReport{
		RunID: bf.runID, TenantID: gen.TenantID(), TaskQueue: opts.taskQueue, Temporal: opts.temporal.Address,
		Incidents: bf.incidents, Rate: bf.rate, PollMs: ms(bf.poll), PollGrowth: bf.pollGrowth, Concurrency: bf.concurrency,
	}
	for _, t := range bf.metricsURLs {
		m := newWorkerMonitor(t.name, t.url, bf.token, bf.scrapeEvery, b.counter)
		m.start(ctx)
		b.mons = append(b.mons, m)
	}

	fmt.Fprintf(stderr, "bench run %s: %d incidents at %g/s into tenant %s, task queue %s (temporal %s)\n",
		bf.runID, bf.incidents, bf.rate, gen.TenantID(), opts.taskQueue, opts.temporal.Address)
	prof := b.startProfiles(ctx, stderr)
	product, decisions := b.runPhase(ctx, "IncidentWorkflow", "product", bf.incidents, func(ctx context.Context, i int) (string, error) {
		res, err := workflows.TriggerIncident(ctx, c, workflows.TriggerOptions{TaskQueue: opts.taskQueue}, &incs[i])
		return res.WorkflowID, err
	}, func(i int) string { return string(mixes[i]) }, b.decider(incs, mixes))
	rep.Product = product
	rep.Decisions = decisions
	rep.Profiles = prof.finish(ctx)
	if !bf.keep {
		rep.Terminated, rep.TerminateErrors = b.terminate(ctx, product.workflowIDs)
	}
	if bf.bare && ctx.Err() == nil {
		bare, _ := b.runPhase(ctx, "BareWorkflow", "bare", bf.incidents, func(ctx context.Context, i int) (string, error) {
			id := workflows.BareWorkflowID(bf.runID, i+1)
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: opts.taskQueue}, workflows.BareWorkflow,
				workflows.BareInput{Activities: workflows.BareActivities})
			return id, err
		}, nil, nil)
		rep.Bare = &bare
		if bare.TimeToReadyMs.P99 > 0 && product.TimeToReadyMs.P99 > 0 {
			rep.RatioP99 = round2(product.TimeToReadyMs.P99 / bare.TimeToReadyMs.P99)
			rep.RatioP50 = round2(product.TimeToReadyMs.P50 / bare.TimeToReadyMs.P50)
		}
		if pu, bu := product.Undisturbed, bare.Undisturbed; pu != nil && bu != nil && pu.TimeToReadyMs.P99 > 0 && bu.TimeToReadyMs.P99 > 0 {
			rep.RatioP99Undisturbed = round2(pu.TimeToReadyMs.P99 / bu.TimeToReadyMs.P99)
			rep.RatioP50Undisturbed = round2(pu.TimeToReadyMs.P50 / bu.TimeToReadyMs.P50)
		}
	}
	rep.Errors = rep.Product.Errors
	if rep.Bare != nil {
		rep.Errors += rep.Bare.Errors
	}
	if rep.Decisions != nil {
		rep.Errors += rep.Decisions.Errors
	}
	rep.Bench = ownMemory()
	for _, m := range b.mons {
		rep.Workers = append(rep.Workers, m.stop(bf.incidents))
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	if bf.samplesFile != "" {
		if err := b.writeSamples(bf.samplesFile); err != nil {
			return err
		}
	}
	if opts.json {
		writeBenchText(stderr, &rep)
		line, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", line)
		return err
	}
	writeBenchText(stdout, &rep)
	return nil
}

// bench holds what the phases share.
type bench struct {
	c        client.Client
	opts     *options
	flags    *benchFlags
	progress io.Writer
	samples  []phaseSamples
	// current counts the running phase's workflows, for the memory samples of mons.
	current atomic.Pointer[phaseProgress]
	mons    monitors
}

// counter is how many workflows the running phase has started so far.
func (b *bench) counter() int64 {
	if p := b.current.Load(); p != nil {
		return p.started.Load()
	}
	return 0
}

// phaseSamples are one phase's measurements, kept for --samples.
type phaseSamples struct {
	name    string
	begin   time.Time
	samples []sample
}

// writeSamples writes one CSV line per workflow: times in milliseconds from the phase's beginning.
func (b *bench) writeSamples(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"phase", "workflowId", "mix", "startAtMs", "startUnixMs", "startCallMs", "timeToReadyMs", "statusQueries", "statusQueryErrors", "decisionMs", "decision", "error"})
	for _, p := range b.samples {
		for i := range p.samples {
			s := &p.samples[i]
			ready, dms, dec, e := "", "", "", ""
			if s.err == nil {
				ready = fmt.Sprint(ms(s.ready.Sub(s.start)))
			} else {
				e = s.err.Error()
			}
			if d := s.decision; d != nil {
				switch {
				case d.err != nil:
					dec = "error: " + d.err.Error()
				case d.accepted:
					dec = "accepted"
				default:
					dec = "rejected"
				}
				dms = fmt.Sprint(ms(d.answered.Sub(d.sent)))
			}
			_ = w.Write([]string{p.name, s.id, s.group, fmt.Sprint(ms(s.start.Sub(p.begin))), strconv.FormatInt(s.start.UnixMilli(), 10),
				fmt.Sprint(ms(s.started.Sub(s.start))), ready,
				strconv.Itoa(s.polls), strconv.Itoa(s.queryErrors), dms, dec, e})
		}
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}

// sample is one workflow's measurement.
type sample struct {
	id          string
	group       string
	start       time.Time // just before the start call
	started     time.Time // the start call returned
	ready       time.Time // the status query said Ready
	err         error
	queryErrors int
	queryErr    error // the first status query error
	polls       int
	decision    *decisionSample
}

type decisionSample struct {
	sent, answered time.Time
	accepted       bool
	reason         string // why it was refused
	err            error  // no answer: the Update did not reach the workflow or timed out
}

// runPhase starts n workflows at the configured rate and waits for each to be ready (then runs after,
// when given, on it). group names each workflow's group (the incident's mix) for the report; phase names
// the phase in the memory samples.
func (b *bench) runPhase(ctx context.Context, name, phase string, n int, start func(context.Context, int) (string, error),
	group func(int) string, after func(context.Context, int, *sample)) (phaseReport, *decisionReport) {
	samples := make([]sample, n)
	sem := make(chan struct{}, b.flags.concurrency)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / b.flags.rate)
	ticker := time.NewTicker(max(interval, time.Microsecond))
	defer ticker.Stop()
	var progress phaseProgress
	b.current.Store(&progress)
	b.mons.mark(phase)
	cpu0, load0 := machineCPU(), loadAverage()
	bench0 := ownCPUSeconds()
	sampler := startCPUSampler()
	begin := time.Now()
	stopProgress := b.printProgress(name, &progress, begin)
	issued := 0
loop:
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				break loop
			case <-ticker.C:
			}
		}
		select {
		case <-ctx.Done():
			break loop
		case sem <- struct{}{}:
		}
		issued++
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s := &samples[i]
			if group != nil {
				s.group = group(i)
			}
			progress.started.Add(1)
			b.measure(ctx, i, s, start)
			if s.err == nil {
				progress.ready.Add(1)
			} else {
				progress.failed.Add(1)
			}
			if s.err == nil && after != nil {
				after(ctx, i, s)
			}
		}(i)
	}
	wg.Wait()
	stopProgress()
	took := time.Since(begin)
	cpu := sampler.finish()
	b.mons.mark(phase + " end")
	samples = samples[:issued]
	b.samples = append(b.samples, phaseSamples{name: name, begin: begin, samples: samples})
	rep := summarizePhase(name, samples, took)
	var stack [][]workerSample
	for _, m := range b.mons {
		stack = append(stack, m.series())
	}
	rep.Timeline, rep.Undisturbed = timeline(samples, begin, b.flags.window, cpu, stack, b.flags.disturbed)
	rep.Machine = machineDelta(cpu0, machineCPU(), load0, loadAverage())
	if own := ownCPUSeconds(); own >= 0 && bench0 >= 0 {
		rep.BenchCPUSeconds = round2(own - bench0)
	}
	var dec *decisionReport
	if after != nil {
		dec = summarizeDecisions(samples)
	}
	return rep, dec
}

// measure starts one workflow and polls its status query until it says Ready.
func (b *bench) measure(ctx context.Context, i int, s *sample, start func(context.Context, int) (string, error)) {
	s.start = time.Now()
	sctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	id, err := start(sctx, i)
	cancel()
	s.started = time.Now()
	s.id = id
	if err != nil {
		s.err = fmt.Errorf("start: %w", err)
		return
	}
	deadline := s.start.Add(b.flags.readyTimeout)
	var lastErr error
	for {
		qctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
		resp, err := b.c.QueryWorkflow(qctx, id, "", workflows.QueryStatus, workflows.StatusInput{})
		s.polls++
		if err == nil {
			var st struct {
				Ready bool `json:"ready"`
			}
			if err = resp.Get(&st); err == nil && st.Ready {
				s.ready = time.Now()
				cancel()
				return
			}
		}
		cancel()
		if err != nil {
			s.queryErrors++
			if s.queryErr == nil {
				s.queryErr = err
			}
			lastErr = err
		}
		if ctx.Err() != nil {
			s.err = ctx.Err()
			return
		}
		if time.Now().After(deadline) {
			s.err = fmt.Errorf("not ready within %s", b.flags.readyTimeout)
			if lastErr != nil {
				s.err = fmt.Errorf("%w (last status query error: %v)", s.err, lastErr)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(b.pollInterval(time.Since(s.start))):
		}
	}
}

// pollInterval is the wait before the next status query of a workflow started elapsed ago: --poll, or
// --poll-growth of elapsed when that is longer. A fixed short interval feeds back on itself: when the
// stack falls behind, every waiting workflow keeps querying, and each query is a round trip through
// Temporal's matching service to the worker, which puts the stack further behind; growing with the
// wait bounds the query rate of a backlog while the measuring error stays under the growth fraction.
func (b *bench) pollInterval(elapsed time.Duration) time.Duration {
	return max(b.flags.poll, time.Duration(b.flags.pollGrowth*float64(elapsed)))
}

// decider sends each ready incident the classification an analyst would give its mix, as an Update, and
// records whether the workflow accepted or refused it.
func (b *bench) decider(incs []incident.Incident, mixes []incidentgen.Mix) func(context.Context, int, *sample) {
	if !b.flags.decide {
		return nil
	}
	return func(ctx context.Context, i int, s *sample) {
		cls, det := mixes[i].Verdict()
		d := &decisionSample{sent: time.Now()}
		s.decision = d
		uctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
		defer cancel()
		var out workflows.ClassifyOutput
		err := update(uctx, b.c, s.id, workflows.MessageClassify, workflows.ClassifyInput{
			Principal: b.flags.principal, Classification: cls, Determination: det,
			Comment: "load test " + b.flags.runID + ", incident " + incs[i].ID,
		}, &out)
		d.answered = time.Now()
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
			d.accepted = true
		case errors.As(err, &appErr):
			d.reason = appErr.Message()
		default:
			d.err = err
		}
	}
}

// terminate ends the incidents' workflows of this run: they would otherwise wait for decisions for days
// (and keep the worker's cache and the server's timers busy for the next phase).
func (b *bench) terminate(ctx context.Context, ids []string) (int, int) {
	var mu sync.Mutex
	done, failed := 0, 0
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.timeout)
				err := b.c.TerminateWorkflow(tctx, id, "", "load benchmark "+b.flags.runID+" finished")
				cancel()
				mu.Lock()
				if err != nil {
					failed++
				} else {
					done++
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return done, failed
}

// phaseProgress counts a phase's workflows as they go, for the progress lines.
type phaseProgress struct {
	started, ready, failed atomic.Int64
}

// printProgress prints a line every --progress until the returned func is called.
func (b *bench) printProgress(name string, p *phaseProgress, begin time.Time) func() {
	if b.flags.progressEvery <= 0 || b.progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.flags.progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			fmt.Fprintf(b.progress, "  %s %4.0fs: %d started, %d ready, %d errors\n", name, time.Since(begin).Seconds(),
				p.started.Load(), p.ready.Load(), p.failed.Load())
		}
	}()
	return func() { close(stop); <-done }
}

// Report types: the JSON the bench prints with --json, one object on the last line.

// benchReport is the whole run's report.
type benchReport struct {
	RunID       string  `json:"runId"`
	TenantID    string  `json:"tenantId"`
	TaskQueue   string  `json:"taskQueue"`
	Temporal    string  `json:"temporal"`
	Incidents   int     `json:"incidents"`
	Rate        float64 `json:"rate"`
	PollMs      float64 `json:"pollMs"`
	PollGrowth  float64 `json:"pollGrowth"`
	Concurrency int     `json:"concurrency"`

	Product   phaseReport     `json:"product"`
	Decisions *decisionReport `json:"decisions,omitempty"`
	Bare      *phaseReport    `json:"bare,omitempty"`
	// RatioP99 is p99(product) / p99(bare) of the time to ready; RatioP50 the same at p50.
	RatioP99 float64 `json:"ratioP99,omitempty"`
	RatioP50 float64 `json:"ratioP50,omitempty"`
	// The same over the undisturbed windows of each phase (see Undisturbed).
	RatioP99Undisturbed float64 `json:"ratioP99Undisturbed,omitempty"`
	RatioP50Undisturbed float64 `json:"ratioP50Undisturbed,omitempty"`
	// Errors is every error of the run: starts, readiness, decisions without an answer.
	Errors          int  `json:"errors"`
	Terminated      int  `json:"terminated"`
	TerminateErrors int  `json:"terminateErrors,omitempty"`
	Interrupted     bool `json:"interrupted,omitempty"`

	Bench memoryReport `json:"bench"`
	// Workers are the processes of --metrics-url: memory over the run and CPU per phase.
	Workers  []*workerReport `json:"workers,omitempty"`
	Profiles *profileReport  `json:"profiles,omitempty"`
}

// latency is a distribution, in milliseconds.
type latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// phaseReport is one phase: the incidents, or the bare workflows.
type phaseReport struct {
	Workflow string `json:"workflow"`
	Started  int    `json:"started"`
	Ready    int    `json:"ready"`
	Errors   int    `json:"errors"`
	// FirstErrors are the first few error messages, with the workflow ID.
	FirstErrors []string `json:"firstErrors,omitempty"`
	// TimeToReadyMs: from just before the start call to the status answer that said Ready.
	TimeToReadyMs latency `json:"timeToReadyMs"`
	// StartCallMs: the start call alone (signal-with-start for incidents).
	StartCallMs latency `json:"startCallMs"`
	// ByGroup is the time to ready per incident mix.
	ByGroup map[string]latency `json:"byMix,omitempty"`
	// StartedPerSec and ReadyPerSec are achieved rates: (count - 1) over the time from the first to the
	// last start call, and from the first to the last ready.
	StartedPerSec float64 `json:"startedPerSec"`
	ReadyPerSec   float64 `json:"readyPerSec"`
	DurationSec   float64 `json:"durationSec"`
	Polls         int     `json:"statusQueries"`
	QueryErrors   int     `json:"statusQueryErrors"`
	// FirstQueryErrors are the first few distinct status query errors (retried: not errors of the run).
	FirstQueryErrors []string       `json:"firstStatusQueryErrors,omitempty"`
	BenchCPUSeconds  float64        `json:"benchCpuSeconds,omitempty"`
	Machine          *machineReport `json:"machine,omitempty"`
	// Timeline is the phase in --window windows by start time; Undisturbed its windows in which the rest
	// of the machine stayed under --disturbed cores.
	Timeline    []timelineWindow `json:"timeline,omitempty"`
	Undisturbed *undisturbed     `json:"undisturbed,omitempty"`

	workflowIDs []string
}

// decisionReport is the classification Updates of --decide.
type decisionReport struct {
	Sent     int `json:"sent"`
	Answered int `json:"answered"`
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	// Errors are Updates without an answer (transport, timeout).
	Errors      int      `json:"errors"`
	FirstErrors []string `json:"firstErrors,omitempty"`
	// RejectReason is the first refusal's reason: with a principal unknown in the tenant, every one.
	RejectReason string `json:"rejectReason,omitempty"`
	// PerSec is answered decisions over the time from the first sent to the last answered.
	PerSec    float64 `json:"perSec"`
	LatencyMs latency `json:"latencyMs"`
}

// machineReport is the whole machine during a phase (Linux: /proc/stat and /proc/loadavg).
type machineReport struct {
	CPUs           int     `json:"cpus"`
	CPUBusyPercent float64 `json:"cpuBusyPercent"`
	// BusySeconds is the CPU time every process of the machine used (all cores).
	BusySeconds float64 `json:"busySeconds"`
	Load1Start  float64 `json:"load1Start"`
	Load1End    float64 `json:"load1End"`
}

// memoryReport is the bench process's own memory, at the end.
type memoryReport struct {
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	SysMiB       float64 `json:"sysMiB"`
	Goroutines   int     `json:"goroutines"`
	CPUSeconds   float64 `json:"cpuSeconds,omitempty"`
}

func summarizePhase(name string, samples []sample, took time.Duration) phaseReport {
	rep := phaseReport{Workflow: name, Started: len(samples), DurationSec: round2(took.Seconds())}
	var ready, startCalls []time.Duration
	groups := map[string][]time.Duration{}
	var firstStart, lastStart, firstReady, lastReady time.Time
	for i := range samples {
		s := &samples[i]
		rep.Polls += s.polls
		rep.QueryErrors += s.queryErrors
		if s.queryErr != nil && len(rep.FirstQueryErrors) < 3 && !slices.Contains(rep.FirstQueryErrors, s.queryErr.Error()) {
			rep.FirstQueryErrors = append(rep.FirstQueryErrors, s.queryErr.Error())
		}
		if s.id != "" {
			rep.workflowIDs = append(rep.workflowIDs, s.id)
		}
		if firstStart.IsZero() || s.start.Before(firstStart) {
			firstStart = s.start
		}
		if s.start.After(lastStart) {
			lastStart = s.start
		}
		startCalls = append(startCalls, s.started.Sub(s.start))
		if s.err != nil {
			rep.Errors++
			if len(rep.FirstErrors) < 5 {
				rep.FirstErrors = append(rep.FirstErrors, fmt.Sprintf("%s: %v", s.id, s.err))
			}
			continue
		}
		rep.Ready++
		d := s.ready.Sub(s.start)
		ready = append(ready, d)
		if s.group != "" {
			groups[s.group] = append(groups[s.group], d)
		}
		if firstReady.IsZero() || s.ready.Before(firstReady) {
			firstReady = s.ready
		}
		if s.ready.After(lastReady) {
			lastReady = s.ready
		}
	}
	rep.TimeToReadyMs = distribution(ready)
	rep.StartCallMs = distribution(startCalls)
	rep.StartedPerSec = perSecond(len(samples), lastStart.Sub(firstStart))
	rep.ReadyPerSec = perSecond(len(ready), lastReady.Sub(firstReady))
	if len(groups) > 0 {
		rep.ByGroup = map[string]latency{}
		for g, ds := range groups {
			rep.ByGroup[g] = distribution(ds)
		}
	}
	return rep
}

func summarizeDecisions(samples []sample) *decisionReport {
	rep := &decisionReport{}
	var lat []time.Duration
	var first, last time.Time
	for i := range samples {
		d := samples[i].decision
		if d == nil {
			continue
		}
		rep.Sent++
		if d.err != nil {
			rep.Errors++
			if len(rep.FirstErrors) < 5 {
				rep.FirstErrors = append(rep.FirstErrors, fmt.Sprintf("%s: %v", samples[i].id, d.err))
			}
			continue
		}
		rep.Answered++
		if d.accepted {
			rep.Accepted++
		} else {
			rep.Rejected++
			if rep.RejectReason == "" {
				rep.RejectReason = d.reason
			}
		}
		lat = append(lat, d.answered.Sub(d.sent))
		if first.IsZero() || d.sent.Before(first) {
			first = d.sent
		}
		if d.answered.After(last) {
			last = d.answered
		}
	}
	rep.LatencyMs = distribution(lat)
	if rep.Answered > 0 {
		// Answered over the span from the first sent to the last answered (not count-1: each decision's
		// own latency is inside the span).
		rep.PerSec = round2(float64(rep.Answered) / last.Sub(first).Seconds())
	}
	return rep
}

// distribution is the nearest-rank percentiles of ds, in milliseconds.
func distribution(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latency{
		N: len(s), P50: ms(rank(0.50)), P95: ms(rank(0.95)), P99: ms(rank(0.99)), Max: ms(s[len(s)-1]),
		Mean: ms(sum / time.Duration(len(s))),
	}
}

func perSecond(n int, span time.Duration) float64 {
	if n < 2 || span <= 0 {
		return 0
	}
	return round2(float64(n-1) / span.Seconds())
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func writeBenchText(w io.Writer, r *benchReport) {
	poll := fmt.Sprintf("every %gms", r.PollMs)
	if r.PollGrowth > 0 {
		poll += fmt.Sprintf(", then every %g%% of the time since the start", 100*r.PollGrowth)
	}
	fmt.Fprintf(w, "\nbench run %s: %d at %g/s, tenant %s, task queue %s, temporal %s; status polled %s\n\n",
		r.RunID, r.Incidents, r.Rate, r.TenantID, r.TaskQueue, r.Temporal, poll)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "time to ready\tstarted\tready\terrors\tp50 ms\tp95 ms\tp99 ms\tmax ms\tstarted/s\tready/s\tmachine cpu\tbench cpu s\t")
	phases := []*phaseReport{&r.Product}
	if r.Bare != nil {
		phases = append(phases, r.Bare)
	}
	for _, p := range phases {
		cpu := "-"
		if p.Machine != nil {
			cpu = fmt.Sprintf("%.0f%% of %d", p.Machine.CPUBusyPercent, p.Machine.CPUs)
		}
		t := p.TimeToReadyMs
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%s\t%.1f\t\n", p.Workflow, p.Started, p.Ready, p.Errors,
			t.P50, t.P95, t.P99, t.Max, p.StartedPerSec, p.ReadyPerSec, cpu, p.BenchCPUSeconds)
	}
	if len(r.Product.ByGroup) > 0 {
		groups := make([]string, 0, len(r.Product.ByGroup))
		for g := range r.Product.ByGroup {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			t := r.Product.ByGroup[g]
			fmt.Fprintf(tw, "  %s\t%d\t%d\t\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\t\n", g, t.N, t.N, t.P50, t.P95, t.P99, t.Max)
		}
	}
	_ = tw.Flush()
	if r.Bare != nil && r.RatioP99 > 0 {
		fmt.Fprintf(w, "\noverhead: p99 IncidentWorkflow / BareWorkflow = %.2f (p50 %.2f)", r.RatioP99, r.RatioP50)
		if r.RatioP99Undisturbed > 0 {
			fmt.Fprintf(w, "; over the undisturbed windows %.2f (p50 %.2f)", r.RatioP99Undisturbed, r.RatioP50Undisturbed)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "start call (IncidentWorkflow signal-with-start) p50 %.1f ms, p99 %.1f ms; %d status queries, %d query errors\n",
		r.Product.StartCallMs.P50, r.Product.StartCallMs.P99, r.Product.Polls, r.Product.QueryErrors)
	if d := r.Decisions; d != nil {
		fmt.Fprintf(w, "decisions (classify Updates): %d sent, %d answered (%d accepted, %d rejected), %d errors; %.2f answered/s; latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n",
			d.Sent, d.Answered, d.Accepted, d.Rejected, d.Errors, d.PerSec, d.LatencyMs.P50, d.LatencyMs.P95, d.LatencyMs.P99)
		if d.RejectReason != "" {
			fmt.Fprintf(w, "  refused: %s\n", d.RejectReason)
		}
	}
	for _, p := range phases {
		for _, e := range p.FirstErrors {
			fmt.Fprintf(w, "error (%s): %s\n", p.Workflow, e)
		}
		for _, e := range p.FirstQueryErrors {
			fmt.Fprintf(w, "status query error, retried (%s): %s\n", p.Workflow, e)
		}
	}
	if r.Decisions != nil {
		for _, e := range r.Decisions.FirstErrors {
			fmt.Fprintf(w, "error (decision): %s\n", e)
		}
	}
	fmt.Fprintf(w, "errors: %d; incidents terminated after measuring: %d", r.Errors, r.Terminated)
	if r.TerminateErrors > 0 {
		fmt.Fprintf(w, " (%d could not be)", r.TerminateErrors)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "bench process: heap in use %.1f MiB, from the OS %.1f MiB, %d goroutines, CPU %.1f s\n",
		r.Bench.HeapInuseMiB, r.Bench.SysMiB, r.Bench.Goroutines, r.Bench.CPUSeconds)
	if len(r.Workers) == 0 {
		fmt.Fprintln(w, "worker: another process; give --metrics-url and --token for its memory (process_resident_memory_bytes of its /metrics)")
	}
	for _, wr := range r.Workers {
		writeWorkerText(w, wr)
	}
	writeMachineText(w, r, phases)
	for _, p := range phases {
		writeTimelineText(w, p)
	}
	writeProfilesText(w, r.Profiles)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the figures cover what ran")
	}
}

// Measurements of processes and the machine. Linux only (/proc); elsewhere they are left out.

func ownMemory() memoryReport {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rep := memoryReport{
		HeapInuseMiB: round2(float64(m.HeapInuse) / (1 << 20)),
		SysMiB:       round2(float64(m.Sys) / (1 << 20)),
		Goroutines:   runtime.NumGoroutine(),
	}
	if s := ownCPUSeconds(); s >= 0 {
		rep.CPUSeconds = round2(s)
	}
	return rep
}

// ownCPUSeconds is this process's user and system CPU time from /proc/self/stat; -1 when unknown.
func ownCPUSeconds() float64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// cpuTimes are the machine's busy and total jiffies (first line of /proc/stat).
type cpuTimes struct {
	busy, total float64
	ok          bool
}

func machineCPU() cpuTimes {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return cpuTimes{}
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for k, v := range fields[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return cpuTimes{}
		}
		if k >= 8 { // guest and guest_nice are counted in user and nice already
			break
		}
		t.total += n
		if k != 3 && k != 4 { // idle, iowait
			t.busy += n
		}
	}
	t.ok = true
	return t
}

func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func machineDelta(a, b cpuTimes, load0, load1 float64) *machineReport {
	if !a.ok || !b.ok || b.total <= a.total {
		return nil
	}
	return &machineReport{
		CPUs:           runtime.NumCPU(),
		CPUBusyPercent: round2(100 * (b.busy - a.busy) / (b.total - a.total)),
		BusySeconds:    round2((b.busy - a.busy) / 100), // USER_HZ
		Load1Start:     load0,
		Load1End:       load1,
	}
}

// writeMachineText splits each phase's machine CPU between the processes the bench knows: the first
// --metrics-url process (the worker, with --dev also Temporal), the bench, and the rest (PostgreSQL, and
// whatever else runs on the machine: on a shared machine, the figure that says the run was disturbed).
func writeMachineText(w io.Writer, r *benchReport, phases []*phaseReport) {
	for _, p := range phases {
		m := p.Machine
		if m == nil {
			continue
		}
		known := p.BenchCPUSeconds
		line := fmt.Sprintf("machine during %s: %.1f CPU-s busy (%.0f%% of %d cores), load %.2f → %.2f; bench %.1f s",
			p.Workflow, m.BusySeconds, m.CPUBusyPercent, m.CPUs, m.Load1Start, m.Load1End, p.BenchCPUSeconds)
		for _, wr := range r.Workers {
			for _, ph := range wr.Phases {
				if ph.Phase == map[string]string{"IncidentWorkflow": "product", "BareWorkflow": "bare"}[p.Workflow] {
					known += ph.CPUSeconds
					line += fmt.Sprintf(", %s %.1f s", wr.Name, ph.CPUSeconds)
				}
			}
		}
		if len(r.Workers) > 0 {
			line += fmt.Sprintf(", the rest (Postgres, other processes) %.1f s", max(0, m.BusySeconds-known))
		}
		fmt.Fprintln(w, line)
	}
}
