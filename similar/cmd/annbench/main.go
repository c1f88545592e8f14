// Command annbench measures the similar index on synthetic, clustered incident-like embeddings (see
// similar/internal/clustered): build time, memory, Search latency and recall@k against Exact, Exact
// latency and the speed-up, and the cost of Add after Build and of a round trip through a file.
//
//	go run ./similar/cmd/annbench --n 1000000 --dim 64 --queries 2000
//
// Queries are fresh draws from the same mixture as the stored vectors (new incidents of known kinds,
// with the same share of noise), never stored vectors themselves. Latencies are of one query at a
// time on one goroutine; the machine's load average is printed before and after, since other work
// on the machine inflates them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guided-response/guided/internal/interrupt"
	"github.com/guided-response/guided/similar"
	"github.com/guided-response/guided/similar/internal/clustered"
)

func main() {
	ctx, stop := interrupt.Context()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "annbench:", err)
		}
		os.Exit(1)
	}
}

type config struct {
	n, dim, queries, k int
	clusters           int
	noise, spread      float64
	lists, probes      int
	sweep              string
	seed               uint64
	adds               int
	persist            bool
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet("annbench", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", 1_000_000, "vectors to store")
	fs.IntVar(&c.dim, "dim", 64, "dimensions")
	fs.IntVar(&c.queries, "queries", 2000, "queries to time and to measure recall with")
	fs.IntVar(&c.k, "k", 10, "neighbours per query")
	fs.IntVar(&c.clusters, "clusters", 2000, "clusters in the mixture")
	fs.Float64Var(&c.noise, "noise", 0.02, "share of uniform noise vectors")
	fs.Float64Var(&c.spread, "spread", 1, "scale of the clusters' spread (2: much more overlap, a harder case)")
	fs.IntVar(&c.lists, "lists", 0, "similar.Options.Lists (0: automatic)")
	fs.IntVar(&c.probes, "probes", 0, "similar.Options.Probes (0: automatic)")
	fs.StringVar(&c.sweep, "sweep", "", "also measure these probe counts, comma-separated (e.g. 8,16,32,64)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the data and of Build")
	fs.IntVar(&c.adds, "adds", 10000, "vectors to Add after Build, timed")
	fs.BoolVar(&c.persist, "persist", true, "time a round trip through WriteTo and ReadIndex (in memory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.n < 1 || c.dim < 1 || c.queries < 1 || c.k < 1 {
		return errors.New("--n, --dim, --queries and --k must be at least 1")
	}
	var sweep []int
	if c.sweep != "" {
		for f := range strings.SplitSeq(c.sweep, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || p < 1 {
				return fmt.Errorf("--sweep: %q is not a positive number", f)
			}
			sweep = append(sweep, p)
		}
	}
	return bench(ctx, c, sweep, out)
}

func bench(ctx context.Context, c config, sweep []int, out io.Writer) error {
	fmt.Fprintf(out, "annbench: n=%d dim=%d queries=%d k=%d clusters=%d noise=%.3f spread=%.2f GOMAXPROCS=%d %s\n",
		c.n, c.dim, c.queries, c.k, c.clusters, c.noise, c.spread, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(out, "load average at start: %s\n", loadavg())

	gen := clustered.New(clustered.Spec{Dim: c.dim, Clusters: c.clusters, Noise: c.noise, Spread: c.spread, Seed: c.seed})
	ix := similar.New(c.dim, similar.Options{Lists: c.lists, Probes: c.probes, Seed: c.seed})
	v := make([]float32, c.dim)
	start := time.Now()
	for i := range c.n {
		if err := ix.Add(uint64(i), gen.Next(v)); err != nil {
			return err
		}
	}
	addTime := time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	start = time.Now()
	if err := ix.Build(); err != nil {
		return err
	}
	buildTime := time.Since(start)
	st := ix.Stats()
	heap := heapInUse()
	fmt.Fprintf(out, "add: %d vectors in %s (%.0f/s, before Build)\n", c.n, addTime.Round(time.Millisecond), float64(c.n)/addTime.Seconds())
	fmt.Fprintf(out, "build: %s; lists=%d probes=%d largest list=%d (mean %d)\n",
		buildTime.Round(time.Millisecond), st.Lists, st.Probes, st.LargestList, c.n/st.Lists)
	fmt.Fprintf(out, "memory: heap in use %.0f MiB after Build and GC (raw vectors %.0f MiB); peak RSS so far %s\n",
		float64(heap)/(1<<20), float64(c.n*c.dim*4)/(1<<20), peakRSS())

	queries := make([][]float32, c.queries)
	for i := range queries {
		queries[i] = gen.Next(nil)
	}
	fmt.Fprintf(out, "exact: timing %d queries...\n", len(queries))
	truth := make([][]similar.Hit, len(queries))
	exactLat := make([]time.Duration, len(queries))
	for i, q := range queries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.Now()
		h, err := ix.Exact(q, c.k)
		exactLat[i] = time.Since(t)
		if err != nil {
			return err
		}
		truth[i] = h
	}
	exact := summarise(exactLat)
	var top1, topK float64
	for _, h := range truth {
		top1 += float64(h[0].Score)
		topK += float64(h[len(h)-1].Score)
	}
	fmt.Fprintf(out, "exact: p50 %s p95 %s p99 %s; mean cosine of the nearest %.3f, of the %d-th %.3f\n",
		exact.p50, exact.p95, exact.p99, top1/float64(len(truth)), c.k, topK/float64(len(truth)))

	probes := []int{st.Probes}
	for _, p := range sweep {
		if p != st.Probes {
			probes = append(probes, p)
		}
	}
	for i, p := range probes {
		lat, recall, err := measure(ix, p, queries, truth, c.k)
		if err != nil {
			return err
		}
		r := summarise(lat)
		label := "search"
		if i > 0 {
			label = "sweep "
		}
		fmt.Fprintf(out, "%s probes=%-4d p50 %-10s p95 %-10s p99 %-10s recall@%d %.4f (min %.2f, queries <0.8: %d)  speed-up vs exact p50 %.0fx\n",
			label, p, r.p50, r.p95, r.p99, c.k, mean(recall), slices.Min(recall), countBelow(recall, 0.8),
			float64(exact.p50)/float64(r.p50))
	}

	if c.adds > 0 {
		extra := make([][]float32, c.adds)
		for i := range extra {
			extra[i] = gen.Next(nil)
		}
		t := time.Now()
		for i, v := range extra {
			if err := ix.Add(uint64(c.n+i), v); err != nil {
				return err
			}
		}
		d := time.Since(t)
		fmt.Fprintf(out, "add after build: %d vectors, %s each\n", c.adds, (d / time.Duration(c.adds)).Round(100*time.Nanosecond))
	}
	if c.persist {
		var buf bytes.Buffer
		buf.Grow(c.n*(c.dim*4+8) + 1<<20)
		t := time.Now()
		size, err := ix.WriteTo(&buf)
		if err != nil {
			return err
		}
		wt := time.Since(t)
		t = time.Now()
		back, err := similar.ReadIndex(&buf)
		if err != nil {
			return err
		}
		rt := time.Since(t)
		fmt.Fprintf(out, "persist: %.0f MiB, write %s, read %s, %d vectors back\n",
			float64(size)/(1<<20), wt.Round(time.Millisecond), rt.Round(time.Millisecond), back.Len())
	}
	fmt.Fprintf(out, "load average at end: %s\n", loadavg())
	return nil
}

// measure times SearchProbes on each query and scores it against truth.
func measure(ix *similar.Index, probes int, queries [][]float32, truth [][]similar.Hit, k int) ([]time.Duration, []float64, error) {
	lat := make([]time.Duration, len(queries))
	recall := make([]float64, len(queries))
	for i, q := range queries {
		t := time.Now()
		h, err := ix.SearchProbes(q, k, probes)
		lat[i] = time.Since(t)
		if err != nil {
			return nil, nil, err
		}
		recall[i] = similar.Recall(h, truth[i])
	}
	return lat, recall, nil
}

type latencies struct{ p50, p95, p99 time.Duration }

func summarise(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) time.Duration {
		return s[min(len(s)-1, int(p*float64(len(s))))].Round(time.Microsecond)
	}
	return latencies{at(0.50), at(0.95), at(0.99)}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func countBelow(xs []float64, t float64) int {
	n := 0
	for _, x := range xs {
		if x < t {
			n++
		}
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// peakRSS is the process's peak resident set size (Linux), which includes what the benchmark itself
// holds (queries, ground truth).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}
