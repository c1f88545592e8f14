package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/api"
	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
)

// apiConfig configures the HTTP API.
type apiConfig struct {
	Addr           string
	TLSCert        string
	TLSKey         string
	OIDCIssuer     string
	OIDCAudience   string
	OIDCTenant     string
	OIDCPrincipal  string
	WebhookSources string
	RatePerSecond  float64
	Burst          int
	UIBaseURL      string
	// ConsoleURL is the console's public base URL (the OpenID Connect redirect goes back to it);
	// OIDCClientSecret and OIDCStateKey come from the environment only.
	ConsoleURL       string
	OIDCClientSecret string
	OIDCStateKey     string
}

// DevAPIAddr is where `worker --dev` serves the API unless told otherwise.
const DevAPIAddr = "127.0.0.1:8080"

func (a *apiConfig) register(fs *flag.FlagSet) {
	env := temporalclient.Env
	fs.StringVar(&a.Addr, "api-addr", env("GUIDED_API_ADDR", ""), "address of the HTTP API, e.g. :8080; empty serves none (with --dev: "+DevAPIAddr+") (env GUIDED_API_ADDR)")
	fs.StringVar(&a.TLSCert, "api-tls-cert", env("GUIDED_API_TLS_CERT", ""), "certificate PEM file: serve the API over TLS (env GUIDED_API_TLS_CERT)")
	fs.StringVar(&a.TLSKey, "api-tls-key", env("GUIDED_API_TLS_KEY", ""), "private key PEM file of the API certificate (env GUIDED_API_TLS_KEY)")
	fs.StringVar(&a.OIDCIssuer, "oidc-issuer", env("GUIDED_OIDC_ISSUER", ""), "OpenID Connect issuer whose JWTs the API accepts; empty: API tokens only (env GUIDED_OIDC_ISSUER)")
	fs.StringVar(&a.OIDCAudience, "oidc-audience", env("GUIDED_OIDC_AUDIENCE", ""), "audience the JWTs must carry (env GUIDED_OIDC_AUDIENCE)")
	fs.StringVar(&a.OIDCTenant, "oidc-tenant-claim", env("GUIDED_OIDC_TENANT_CLAIM", "tid"), "JWT claim naming the tenant (env GUIDED_OIDC_TENANT_CLAIM)")
	fs.StringVar(&a.OIDCPrincipal, "oidc-principal-claim", env("GUIDED_OIDC_PRINCIPAL_CLAIM", "email"), "JWT claim naming the principal (env GUIDED_OIDC_PRINCIPAL_CLAIM)")
	fs.StringVar(&a.WebhookSources, "webhook-sources", env("GUIDED_WEBHOOK_SOURCES", ""), "JSON file of approval-system sources: [{\"id\",\"tenantId\",\"principal\",\"secretEnv\"}] (env GUIDED_WEBHOOK_SOURCES)")
	fs.Float64Var(&a.RatePerSecond, "api-rate", envFloat("GUIDED_API_RATE", 20), "requests per second allowed per principal (env GUIDED_API_RATE)")
	fs.IntVar(&a.Burst, "api-burst", envInt("GUIDED_API_BURST", 40), "burst allowed per principal (env GUIDED_API_BURST)")
	fs.StringVar(&a.UIBaseURL, "ui-url", env("TEMPORAL_UI_URL", ""), "Temporal Web UI base URL for links in API answers and the console (env TEMPORAL_UI_URL; --dev: the embedded UI)")
	fs.StringVar(&a.ConsoleURL, "console-url", env("GUIDED_CONSOLE_URL", ""), "public base URL of the web console, e.g. https://guided.example.com: with --oidc-issuer it offers an OpenID Connect sign-in whose client ID is --oidc-audience (env GUIDED_CONSOLE_URL; the client secret in GUIDED_OIDC_CLIENT_SECRET)")
	a.OIDCClientSecret = os.Getenv("GUIDED_OIDC_CLIENT_SECRET")
	a.OIDCStateKey = os.Getenv("GUIDED_OIDC_STATE_KEY")
}

// consoleOIDC is the console's OpenID Connect sign-in, when an issuer and the console's URL are set.
func consoleOIDC(ctx context.Context, cfg apiConfig) (api.OIDCLogin, error) {
	if cfg.OIDCIssuer == "" || cfg.ConsoleURL == "" {
		return nil, nil
	}
	var key []byte
	if cfg.OIDCStateKey != "" {
		var err error
		if key, err = base64.StdEncoding.DecodeString(cfg.OIDCStateKey); err != nil || len(key) != auth.StateKeySize {
			return nil, fmt.Errorf("GUIDED_OIDC_STATE_KEY must be %d random bytes in base64 (e.g. `openssl rand -base64 %d`), shared by every API instance", auth.StateKeySize, auth.StateKeySize)
		}
	}
	login, err := auth.NewOIDCLogin(ctx, auth.OIDCLoginConfig{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCAudience, ClientSecret: cfg.OIDCClientSecret,
		RedirectURL: strings.TrimSuffix(cfg.ConsoleURL, "/") + "/console/oidc/callback", StateKey: key,
	})
	if err != nil {
		return nil, fmt.Errorf("console OpenID Connect sign-in: %w", err)
	}
	return login, nil
}

// webhookSourceFile is one entry of the webhook sources file; the secret comes from an environment
// variable so that the file holds no secret.
type webhookSourceFile struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenantId"`
	Principal string `json:"principal"`
	SecretEnv string `json:"secretEnv"`
}

func loadWebhookSources(path string) (map[string]api.WebhookSource, error) {
	out := map[string]api.WebhookSource{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook sources: %w", err)
	}
	var entries []webhookSourceFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("webhook sources %s: %w (want a JSON list of {id, tenantId, principal, secretEnv})", path, err)
	}
	for i, e := range entries {
		secret := os.Getenv(e.SecretEnv)
		if e.ID == "" || e.TenantID == "" || e.Principal == "" {
			return nil, fmt.Errorf("webhook sources %s: entry %d: id, tenantId and principal are required", path, i)
		}
		if len(secret) < 16 {
			return nil, fmt.Errorf("webhook sources %s: source %s: environment variable %q must hold a secret of at least 16 bytes", path, e.ID, e.SecretEnv)
		}
		src := api.WebhookSource{ID: e.ID, TenantID: e.TenantID, Principal: e.Principal, Secret: []byte(secret)}
		if err := src.Validate(); err != nil {
			return nil, fmt.Errorf("webhook sources %s: source %s: %w", path, e.ID, err)
		}
		out[e.ID] = src
	}
	return out, nil
}

// startAPI serves the API until ctx ends; the returned func waits for it to stop.
func startAPI(ctx context.Context, cfg apiConfig, namespace, taskQueue string, c client.Client, db *sqlx.DB, reg *prometheus.Registry, metrics *api.Metrics, logger hclog.Logger) (string, func(), error) {
	if cfg.Addr == "" {
		return "", func() {}, nil
	}
	sources, err := loadWebhookSources(cfg.WebhookSources)
	if err != nil {
		return "", nil, err
	}
	chain := auth.Chain{auth.NewTokenStore(db, logger.Named("tokens"))}
	if cfg.OIDCIssuer != "" {
		oidc, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, TenantClaim: cfg.OIDCTenant, PrincipalClaim: cfg.OIDCPrincipal})
		if err != nil {
			return "", nil, fmt.Errorf("oidc: %w", err)
		}
		chain = append(chain, oidc)
	}
	login, err := consoleOIDC(ctx, cfg)
	if err != nil {
		return "", nil, err
	}
	srv, err := api.New(api.Config{
		Temporal: c, Namespace: namespace, TaskQueue: taskQueue, Store: store.New(db, logger.Named("store")),
		Access: rbac.New(db, logger.Named("rbac")), Auth: chain, Webhooks: sources, Deliveries: api.NewPostgresDeliveries(db),
		Registry: reg, Metrics: metrics, Logger: logger.Named("api"), RatePerSecond: cfg.RatePerSecond, Burst: cfg.Burst, UIBaseURL: cfg.UIBaseURL,
		ConsoleOIDC: login,
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return "", nil, fmt.Errorf("api: listen on %s: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          logger.Named("api").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if cfg.TLSCert != "" {
			err = hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("api stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String(), func() { <-done }, nil
}

// newRegistry is the Prometheus registry of the process: the API's, the SDK's and Go's metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// go_gc_heap_live_bytes, the heap the last GC found live, on top of the defaults: unlike the heap in
	// use it does not saw-tooth between collections, so a leak shows as its slope (`starter bench`).
	liveHeap := collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(liveHeap)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
