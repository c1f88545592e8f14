package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes and results the metrics count.
const (
	OutcomeAccepted = "accepted"
	OutcomeRejected = "rejected"
	ActionApplied   = "applied"
	ActionFailed    = "failed"
)

// Metrics are the API's Prometheus metrics: requests by route, method and status, their latency,
// decisions by kind and outcome, actions by action and result. Every label takes few values: the route
// is the pattern that matched, never the raw path.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	decisions *prometheus.CounterVec
	actions   *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg (nil registers nowhere: the metrics still count). Registering
// twice on the same registry reuses the metrics already there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guided_decisions_total",
			Help: "Human decisions sent to incident workflows, by kind and outcome (accepted or rejected).",
		}, []string{"kind", "outcome"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guided_actions_total",
			Help: "Response actions, by action and result (applied or failed).",
		}, []string{"action", "result"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.decisions = register(reg, m.decisions)
		m.actions = register(reg, m.actions)
	}
	return m
}

// register registers c on reg, or returns the equal collector registered before. Any other failure is
// a programming error (two different metrics of one name) and panics, at start-up.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// ObserveDecision counts a decision of kind (classify, decide, extend, undo, feedback), accepted or
// rejected by the workflow.
func (m *Metrics) ObserveDecision(kind string, accepted bool) {
	outcome := OutcomeRejected
	if accepted {
		outcome = OutcomeAccepted
	}
	m.decisions.WithLabelValues(kind, outcome).Inc()
}

// ObserveAction counts an action (a card.Action such as "device.isolate") applied or failed
// (ActionApplied, ActionFailed).
func (m *Metrics) ObserveAction(action, result string) {
	m.actions.WithLabelValues(action, result).Inc()
}

// Instrument counts and times each request by route pattern, method and status. Put it around the mux
// (or around each route's handler): the route is the pattern the mux matched, "unmatched" when none did.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, info := withInfo(r)
		sw := &statusWriter{ResponseWriter: w}
		done := false
		defer func() {
			code := sw.code()
			if !done {
				code = http.StatusInternalServerError // a panic, answered 500 by Recover
			}
			route, method := routeLabel(routeOf(r, info)), methodLabel(r.Method)
			m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
		done = true
	})
}

// Handler serves the metrics gathered from reg in the Prometheus exposition format, for GET /metrics.
func Handler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
