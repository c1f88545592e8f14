// Package api is the HTTP API: incidents in, the guided response out, decisions from analysts and from
// external approval systems. Every request is authenticated (bearer API token or OpenID Connect JWT),
// confined to the caller's tenant, and authorized through the same RBAC as the workflow; every decision
// goes through the workflow's Update, so nothing is accepted that the workflow would refuse.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/console"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
)

// Limits of the API.
const (
	// DefaultBodyLimit bounds decision bodies; IngestBodyLimit bounds incident documents.
	DefaultBodyLimit = 64 << 10
	IngestBodyLimit  = 16 << 20
)

// Config is what the API needs.
type Config struct {
	Temporal  client.Client
	Namespace string
	TaskQueue string
	Store     *store.Store
	Access    *rbac.Store
	Auth      auth.Authenticator
	// Webhooks are the approval systems allowed to post decisions, by source ID.
	Webhooks   map[string]WebhookSource
	Deliveries DeliveryStore
	// Registry receives the API's metrics and serves /metrics; Metrics, when set, is used instead of
	// registering new ones (the worker shares one with its activities).
	Registry *prometheus.Registry
	Metrics  *Metrics
	Logger   hclog.Logger
	// RatePerSecond and Burst limit each principal; TemporalTimeout bounds every Temporal call.
	RatePerSecond   float64
	Burst           int
	TemporalTimeout time.Duration
	// UIBaseURL makes links to the Temporal UI.
	UIBaseURL string
	// ConsoleOIDC, when set, offers an OpenID Connect sign-in on the console's sign-in page.
	ConsoleOIDC OIDCLogin
	// Now is the clock (tests set it); nil is time.Now.
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	cfg     Config
	metrics *Metrics
	console *console.Renderer
	similar *similarIndexes
	handler http.Handler
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Temporal == nil || cfg.Store == nil || cfg.Access == nil || cfg.Auth == nil {
		return nil, errors.New("api: Temporal, Store, Access and Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.TemporalTimeout <= 0 {
		cfg.TemporalTimeout = 10 * time.Second
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond, cfg.Burst = 20, 40
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Registry)
	}
	renderer, err := console.New()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, metrics: cfg.Metrics, console: renderer, similar: newSimilarIndexes(cfg.Store, cfg.Logger)}
	s.handler = s.routes()
	return s, nil
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	limiter := NewRateLimiter(s.cfg.RatePerSecond, s.cfg.Burst)
	authed := func(h http.HandlerFunc) http.Handler {
		return Chain(h, Authenticate(s.cfg.Auth, s.cfg.Logger), limiter.Middleware)
	}
	mux := http.NewServeMux()
	// Health is the only anonymous access; metrics and the API's description need a token too
	// (Prometheus sends one with bearer_token_file).
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", authed(Handler(s.cfg.Registry).ServeHTTP))
	mux.Handle("GET /v1/openapi.yaml", authed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPIYAML())
	}))
	mux.Handle("GET /v1/openapi.json", authed(func(w http.ResponseWriter, r *http.Request) {
		b, err := OpenAPIJSON()
		if err != nil {
			WriteProblem(w, r, Internal())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))

	mux.Handle("POST /v1/incidents", authed(s.ingest))
	mux.Handle("GET /v1/incidents", authed(s.listIncidents))
	mux.Handle("GET /v1/incidents/{tenant}/{id}", authed(s.getIncident))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/summary", authed(s.getSummary))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/cards", authed(s.getCards))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/hunting", authed(s.getHunting))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/report", authed(s.getReport))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/audit", authed(s.getAudit))
	mux.Handle("GET /v1/incidents/{tenant}/{id}/similar", authed(s.getSimilar))
	mux.Handle("POST /v1/incidents/{tenant}/{id}/classification", authed(s.postClassification))
	mux.Handle("POST /v1/incidents/{tenant}/{id}/cards/decisions", authed(s.postDecisions))
	mux.Handle("POST /v1/incidents/{tenant}/{id}/cards/{card}/extend", authed(s.postExtend))
	mux.Handle("POST /v1/incidents/{tenant}/{id}/cards/{card}/undo", authed(s.postUndo))
	mux.Handle("POST /v1/incidents/{tenant}/{id}/cards/{card}/feedback", authed(s.postFeedback))
	mux.Handle("POST /v1/webhooks/{source}/decisions", Chain(http.HandlerFunc(s.webhookDecision), limiter.Middleware))
	s.consoleRoutes(mux, limiter)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, NotFound("no such endpoint: see /v1/openapi.yaml"))
	})
	return Chain(mux, Recover(s.cfg.Logger), RequestID, SecurityHeaders, RequestLog(s.cfg.Logger), s.metrics.Instrument)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when Postgres and Temporal both answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	ready := true
	if err := s.cfg.Store.Ping(ctx); err != nil {
		checks["postgres"], ready = "unavailable", false
	}
	if _, err := s.cfg.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], ready = "unavailable", false
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, checks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// temporalCtx bounds a Temporal call.
func (s *Server) temporalCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.TemporalTimeout)
}
