package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gatherText is the registry's metrics as /metrics serves them.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: status %d", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsInstrument(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/incidents/{tenant}/{id}/cards/decisions", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
	})
	mux.HandleFunc("GET /v1/incidents", func(http.ResponseWriter, *http.Request) {})
	h := m.Instrument(mux)
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/v1/incidents/t1/i1/cards/decisions", nil),
		httptest.NewRequest(http.MethodPost, "/v1/incidents/t2/i2/cards/decisions", nil),
		httptest.NewRequest(http.MethodGet, "/v1/incidents", nil),
		httptest.NewRequest("BREW", "/v1/incidents", nil),
		httptest.NewRequest(http.MethodGet, "/random/path/123", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	m.ObserveDecision("decide", true)
	m.ObserveDecision("decide", false)
	m.ObserveDecision("decide", false)
	m.ObserveAction("device.isolate", ActionApplied)
	m.ObserveAction("device.isolate", ActionFailed)

	text := gatherText(t, reg)
	for _, want := range []string{
		`http_requests_total{code="422",method="POST",route="/v1/incidents/{tenant}/{id}/cards/decisions"} 2`,
		`http_requests_total{code="200",method="GET",route="/v1/incidents"} 1`,
		`http_requests_total{code="405",method="OTHER",route="unmatched"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_request_duration_seconds_bucket{method="POST",route="/v1/incidents/{tenant}/{id}/cards/decisions",le="+Inf"} 2`,
		`guided_decisions_total{kind="decide",outcome="accepted"} 1`,
		`guided_decisions_total{kind="decide",outcome="rejected"} 2`,
		`guided_actions_total{action="device.isolate",result="applied"} 1`,
		`guided_actions_total{action="device.isolate",result="failed"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s in:\n%s", want, text)
		}
	}
	for _, never := range []string{"t1", "i2", "BREW", "/random"} {
		if strings.Contains(text, never) {
			t.Errorf("a label holds %q", never)
		}
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg)
	b := NewMetrics(reg)
	a.ObserveDecision("classify", true)
	b.ObserveDecision("classify", true)
	if text := gatherText(t, reg); !strings.Contains(text, `guided_decisions_total{kind="classify",outcome="accepted"} 2`) {
		t.Fatalf("the two share no counter:\n%s", text)
	}
	NewMetrics(nil).ObserveAction("x", ActionApplied) // registered nowhere, still usable
}

func TestRouteLabel(t *testing.T) {
	for in, want := range map[string]string{
		"GET /v1/incidents":        "/v1/incidents",
		"POST  /v1/x/{id}":         "/v1/x/{id}",
		"/":                        "/",
		"GET example.com/v1/x":     "example.com/v1/x",
		"unmatched":                "unmatched",
		"DELETE\t/v1/tokens/{tok}": "/v1/tokens/{tok}",
	} {
		if got := routeLabel(in); got != want {
			t.Errorf("routeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
