// Package sdkmetrics exports the Temporal Go SDK's metrics to Prometheus: New makes a
// client.MetricsHandler (set it as client.Options.MetricsHandler) that records every counter, gauge and
// timer the SDK emits on a Prometheus registry.
//
// The SDK names a metric and tags it freely; Prometheus wants fixed label names per metric. Each metric
// name with each set of tag keys is therefore its own vector: the label names are the sorted tag keys,
// and the first key set seen for a name gets the name itself while another key set gets the name with a
// suffix made from its keys (stable across restarts). Names and label names are sanitized to
// [a-zA-Z0-9_]; counters end in _total, and timers are histograms in seconds ending in _seconds.
package sdkmetrics

import (
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TimerBuckets are the histogram buckets of timers, in seconds: from a millisecond (a poll, a local
// activity) to an hour (a schedule-to-start backlog, a workflow's end-to-end time).
var TimerBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// New returns a handler that registers the SDK's metrics on reg, each name prefixed with prefix and "_"
// unless it starts with them already (the SDK's own names start with "temporal_": New(reg, "temporal")
// keeps them as they are). An empty prefix adds nothing. A nil reg records nothing.
func New(reg prometheus.Registerer, prefix string) client.MetricsHandler {
	if reg == nil {
		return client.MetricsNopHandler
	}
	p := sanitize(prefix)
	if p != "" && !strings.HasSuffix(p, "_") {
		p += "_"
	}
	return &handler{vecs: &vectors{reg: reg, prefix: p, byKey: map[string]*vector{}, names: map[string]bool{}}}
}

// handler is a MetricsHandler with a fixed set of tags.
type handler struct {
	vecs   *vectors
	keys   []string // tag keys, sorted
	values []string // their values, in the same order
}

var _ client.MetricsHandler = (*handler)(nil)

// WithTags implements client.MetricsHandler: the new tags are added, replacing those with the same keys.
func (h *handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.keys)+len(tags))
	for i, k := range h.keys {
		merged[k] = h.values[i]
	}
	for k, v := range tags {
		merged[k] = v
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = strings.ToValidUTF8(merged[k], "\uFFFD")
	}
	return &handler{vecs: h.vecs, keys: keys, values: values}
}

// Counter implements client.MetricsHandler.
func (h *handler) Counter(name string) client.MetricsCounter {
	v := h.vecs.get(kindCounter, name, h.keys)
	if v == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c, err := v.counter.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return client.MetricsNopHandler.Counter(name)
	}
	return counter{c}
}

// Gauge implements client.MetricsHandler.
func (h *handler) Gauge(name string) client.MetricsGauge {
	v := h.vecs.get(kindGauge, name, h.keys)
	if v == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g, err := v.gauge.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	return gauge{g}
}

// Timer implements client.MetricsHandler.
func (h *handler) Timer(name string) client.MetricsTimer {
	v := h.vecs.get(kindTimer, name, h.keys)
	if v == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o, err := v.timer.GetMetricWithLabelValues(h.values...)
	if err != nil {
		return client.MetricsNopHandler.Timer(name)
	}
	return timer{o}
}

type counter struct{ c prometheus.Counter }

// Inc implements client.MetricsCounter; a negative delta (which a counter cannot take) is dropped.
func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindTimer
)

// vectors are the metric vectors made so far, shared by every handler New's handler derives.
type vectors struct {
	reg    prometheus.Registerer
	prefix string

	mu    sync.Mutex
	byKey map[string]*vector // by kind, SDK name and tag keys; nil: could not be registered
	names map[string]bool    // Prometheus names taken
}

type vector struct {
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	timer   *prometheus.HistogramVec
}

// get finds or registers the vector of kind, SDK name and (sorted) tag keys; nil when it cannot be
// registered (the metric is then dropped).
func (vs *vectors) get(k kind, name string, keys []string) *vector {
	key := strconv.Itoa(int(k)) + "\x00" + name + "\x00" + strings.Join(keys, "\x00")
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if v, ok := vs.byKey[key]; ok {
		return v
	}
	v := vs.register(k, name, keys)
	vs.byKey[key] = v
	return v
}

// register makes and registers a vector for name and keys under the first free Prometheus name: the
// plain name, else the name with a suffix from the keys. vs.mu is held.
func (vs *vectors) register(k kind, name string, keys []string) *vector {
	labels := labelNames(keys)
	base := sanitize(name)
	if !strings.HasPrefix(base, vs.prefix) {
		base = vs.prefix + base // the SDK's names start with "temporal_" already: never doubled
	}
	unit := ""
	switch k {
	case kindCounter:
		base, unit = strings.TrimSuffix(base, "_total"), "_total"
	case kindTimer:
		base, unit = strings.TrimSuffix(base, "_seconds"), "_seconds"
	}
	help := "Temporal SDK metric " + strconv.Quote(name) + "."
	if k == kindTimer {
		help = "Temporal SDK timer " + strconv.Quote(name) + ", in seconds."
	}
	candidates := []string{base + unit, base + "_" + keysSuffix(keys) + unit}
	for _, full := range candidates {
		if vs.names[full] {
			continue
		}
		var v vector
		var c prometheus.Collector
		switch k {
		case kindCounter:
			v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: full, Help: help}, labels)
			c = v.counter
		case kindGauge:
			v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: full, Help: help}, labels)
			c = v.gauge
		case kindTimer:
			v.timer = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: full, Help: help, Buckets: TimerBuckets}, labels)
			c = v.timer
		}
		err := vs.reg.Register(c)
		var already prometheus.AlreadyRegisteredError
		if err != nil && !errors.As(err, &already) {
			continue // the name is another collector's: try the next one
		}
		if err != nil {
			// Registered before on this registry by another New with the same shape: use that one.
			switch existing := already.ExistingCollector.(type) {
			case *prometheus.CounterVec:
				v.counter = existing
			case *prometheus.GaugeVec:
				v.gauge = existing
			case *prometheus.HistogramVec:
				v.timer = existing
			}
			if v.counter == nil && v.gauge == nil && v.timer == nil {
				continue
			}
		}
		vs.names[full] = true
		return &v
	}
	return nil
}

// labelNames turns tag keys into distinct, valid label names.
func labelNames(keys []string) []string {
	out := make([]string, len(keys))
	seen := map[string]bool{}
	for i, k := range keys {
		base := sanitize(k)
		if base == "" || strings.HasPrefix(base, "__") {
			base = "tag" + base // names starting with __ are Prometheus's own
		}
		l := base
		for n := 2; seen[l]; n++ {
			l = base + "_" + strconv.Itoa(n)
		}
		seen[l] = true
		out[i] = l
	}
	return out
}

// keysSuffix names a set of tag keys in a few characters, the same for the same keys.
func keysSuffix(keys []string) string {
	h := fnv.New32a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// sanitize maps s to [a-zA-Z0-9_], not starting with a digit.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			r = '_'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if out != "" && out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}
