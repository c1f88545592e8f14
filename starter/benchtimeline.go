package main

import (
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"
)

// The timeline: a phase cut into windows by start time, each with its latencies and who used the CPU
// meanwhile (the machine, the --metrics-url processes, the bench, and the rest). On a shared machine the
// tail of the latency follows the rest's CPU: the timeline shows it, and the undisturbed figures leave out
// the windows in which the rest used more than --disturbed cores.

// cpuSample is the machine's and the bench's CPU counters at one moment.
type cpuSample struct {
	at      time.Time
	machine cpuTimes
	own     float64
}

// cpuSampler reads the counters every second until finish.
type cpuSampler struct {
	mu      sync.Mutex
	samples []cpuSample
	stop    chan struct{}
	done    chan struct{}
}

func startCPUSampler() *cpuSampler {
	c := &cpuSampler{stop: make(chan struct{}), done: make(chan struct{})}
	c.read()
	go func() {
		defer close(c.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.read()
			}
		}
	}()
	return c
}

func (c *cpuSampler) read() {
	s := cpuSample{at: time.Now(), machine: machineCPU(), own: ownCPUSeconds()}
	if !s.machine.ok || s.own < 0 {
		return
	}
	c.mu.Lock()
	c.samples = append(c.samples, s)
	c.mu.Unlock()
}

func (c *cpuSampler) finish() []cpuSample {
	close(c.stop)
	<-c.done
	c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.samples
}

// timelineWindow is one window of a phase.
type timelineWindow struct {
	// FromSec is the window's start, in seconds from the phase's beginning; it holds the workflows started
	// in it.
	FromSec float64 `json:"fromSec"`
	Started int     `json:"started"`
	Ready   int     `json:"ready"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	// CPU used during the window, in cores: the whole machine, the --metrics-url processes together (the
	// stack; with --dev, the worker and Temporal), the bench, and the rest (Postgres and other processes).
	MachineCores float64 `json:"machineCores"`
	StackCores   float64 `json:"stackCores,omitempty"`
	BenchCores   float64 `json:"benchCores"`
	RestCores    float64 `json:"restCores"`
	Disturbed    bool    `json:"disturbed,omitempty"`
}

// undisturbed is the time to ready of the workflows started in windows the rest of the machine left
// alone.
type undisturbed struct {
	Windows       int     `json:"windows"`
	OfWindows     int     `json:"ofWindows"`
	ThresholdCore float64 `json:"thresholdCores"`
	TimeToReadyMs latency `json:"timeToReadyMs"`
}

// interpolate is the cumulative value at t of the series (at, v), linear between samples; ok is false
// outside the samples.
func interpolate(ats []time.Time, vs []float64, t time.Time) (float64, bool) {
	for i := 1; i < len(ats); i++ {
		if t.Before(ats[i-1]) {
			return 0, false
		}
		if !t.After(ats[i]) {
			span := ats[i].Sub(ats[i-1]).Seconds()
			if span <= 0 {
				return vs[i], true
			}
			f := t.Sub(ats[i-1]).Seconds() / span
			return vs[i-1] + f*(vs[i]-vs[i-1]), true
		}
	}
	return 0, false
}

// timeline cuts samples into windows of width from begin; cpu is the bench's samples, stack the
// --metrics-url processes' (CPU seconds against wall time, one series per process).
func timeline(samples []sample, begin time.Time, width time.Duration, cpu []cpuSample, stack [][]workerSample, disturbed float64) ([]timelineWindow, *undisturbed) {
	if len(samples) == 0 || width <= 0 {
		return nil, nil
	}
	var last time.Time
	for i := range samples {
		last = maxTime(last, samples[i].start)
	}
	n := int(last.Sub(begin)/width) + 1
	byWindow := make([][]time.Duration, n)
	started := make([]int, n)
	for i := range samples {
		s := &samples[i]
		k := min(max(int(s.start.Sub(begin)/width), 0), n-1)
		started[k]++
		if s.err == nil {
			byWindow[k] = append(byWindow[k], s.ready.Sub(s.start))
		}
	}
	var cpuAt []time.Time
	var busy, own []float64
	for _, c := range cpu {
		cpuAt, busy, own = append(cpuAt, c.at), append(busy, c.machine.busy/100), append(own, c.own)
	}
	out := make([]timelineWindow, n)
	und := &undisturbed{OfWindows: n, ThresholdCore: disturbed}
	var calm []time.Duration
	for k := range out {
		from, to := begin.Add(time.Duration(k)*width), begin.Add(time.Duration(k+1)*width)
		if len(cpuAt) > 0 && to.After(cpuAt[len(cpuAt)-1]) {
			to = cpuAt[len(cpuAt)-1] // the phase ended within the window
		}
		d := distribution(byWindow[k])
		w := timelineWindow{FromSec: round2(from.Sub(begin).Seconds()), Started: started[k], Ready: d.N, P50: d.P50, P99: d.P99, Max: d.Max}
		sec := to.Sub(from).Seconds()
		b0, ok0 := interpolate(cpuAt, busy, from)
		b1, ok1 := interpolate(cpuAt, busy, to)
		o0, _ := interpolate(cpuAt, own, from)
		o1, _ := interpolate(cpuAt, own, to)
		if ok0 && ok1 && sec > 0 {
			w.MachineCores, w.BenchCores = round2((b1-b0)/sec), round2((o1-o0)/sec)
			stackKnown := len(stack) > 0
			for _, ss := range stack {
				var at []time.Time
				var v []float64
				for _, s := range ss {
					at, v = append(at, s.at), append(v, s.CPUSeconds)
				}
				s0, okA := interpolate(at, v, from)
				s1, okB := interpolate(at, v, to)
				if !okA || !okB {
					stackKnown = false
					break
				}
				w.StackCores += (s1 - s0) / sec
			}
			w.StackCores = round2(w.StackCores)
			if stackKnown {
				w.RestCores = round2(max(0, w.MachineCores-w.StackCores-w.BenchCores))
				w.Disturbed = w.RestCores > disturbed
			} else {
				w.StackCores, w.RestCores = 0, round2(max(0, w.MachineCores-w.BenchCores))
			}
		}
		if !w.Disturbed {
			und.Windows++
			calm = append(calm, byWindow[k]...)
		}
		out[k] = w
	}
	if len(stack) == 0 {
		return out, nil // without the stack's CPU the rest is unknown
	}
	und.TimeToReadyMs = distribution(calm)
	return out, und
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func writeTimelineText(w io.Writer, p *phaseReport) {
	if len(p.Timeline) == 0 {
		return
	}
	fmt.Fprintf(w, "%s by start time (cores: machine, stack = the --metrics-url processes, bench, rest = Postgres and other processes):\n", p.Workflow)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  from s\tstarted\tp50 ms\tp99 ms\tmax ms\tmachine\tstack\tbench\trest\t\t")
	for _, t := range p.Timeline {
		mark := ""
		if t.Disturbed {
			mark = "disturbed"
		}
		fmt.Fprintf(tw, "  %.0f\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", t.FromSec, t.Started, t.P50, t.P99, t.Max,
			t.MachineCores, t.StackCores, t.BenchCores, t.RestCores, mark)
	}
	_ = tw.Flush()
	if u := p.Undisturbed; u != nil && u.OfWindows > 0 {
		t := u.TimeToReadyMs
		fmt.Fprintf(w, "%s undisturbed (%d of %d windows, the rest under %.2f cores): %d ready, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			p.Workflow, u.Windows, u.OfWindows, u.ThresholdCore, t.N, t.P50, t.P95, t.P99, t.Max)
	}
}
