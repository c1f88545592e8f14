package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/guided-response/guided/internal/syncbuf"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/guided-response/guided/auth"
)

type syncBuffer = syncbuf.Buffer

func testLogger(out *syncBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "api", Output: out, Level: hclog.Debug, JSONFormat: true})
}

// fakeAuth accepts "Bearer good-<tenant>-<id>" tokens and fails others with err.
type fakeAuth struct{ err error }

func (f fakeAuth) Authenticate(_ context.Context, r *http.Request) (auth.Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer good-")
	if !ok {
		if f.err != nil {
			return auth.Principal{}, f.err
		}
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	tenant, id, _ := strings.Cut(tok, "-")
	return auth.Principal{TenantID: tenant, ID: id, Via: "token"}, nil
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }), mw("a"), mw("b"), mw("c"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(order, ","); got != "a,b,c,handler" {
		t.Fatalf("order = %s", got)
	}
}

func TestRecover(t *testing.T) {
	var logs syncBuffer
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("database password is hunter2")
	}), Recover(testLogger(&logs)), RequestID)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	res := rec.Result()
	if res.StatusCode != 500 {
		t.Fatalf("status = %d", res.StatusCode)
	}
	p := decodeProblemBody(t, res)
	if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(p.Detail, "goroutine") {
		t.Fatalf("the answer leaks the panic: %s", rec.Body.String())
	}
	log := logs.String()
	if !strings.Contains(log, "hunter2") || !strings.Contains(log, "middleware_test.go") {
		t.Fatalf("the log lacks the panic or its stack: %s", log)
	}
	if id := res.Header.Get(HeaderRequestID); id == "" || !strings.Contains(log, id) {
		t.Errorf("the log lacks the request ID %q", id)
	}
}

func TestRecoverAfterWriteAborts(t *testing.T) {
	h := Recover(hclog.NewNullLogger())(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		panic("late")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler { //nolint:errorlint
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"absent", "", false},
		{"valid", "abc-DEF-123", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"65 characters", strings.Repeat("a", 65), false},
		{"space", "abc def", false},
		{"log injection", "abc\ninjected=1", false},
		{"underscore", "abc_def", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := RequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = RequestIDFrom(r.Context()) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				r.Header.Set(HeaderRequestID, tt.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			got := rec.Header().Get(HeaderRequestID)
			if got != seen {
				t.Fatalf("header %q, context %q", got, seen)
			}
			if tt.keep != (got == tt.sent) {
				t.Fatalf("sent %q, got %q", tt.sent, got)
			}
			if !validRequestID(got) {
				t.Fatalf("invalid ID %q", got)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestTimeout(t *testing.T) {
	var deadline time.Time
	h := Timeout(time.Minute)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { deadline, _ = r.Context().Deadline() }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if d := time.Until(deadline); d <= 0 || d > time.Minute {
		t.Fatalf("deadline in %v", d)
	}
}

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name       string
		authErr    error
		header     string
		wantStatus int
	}{
		{"valid", nil, "Bearer good-contoso-alice", 200},
		{"none", nil, "", 401},
		{"wrong", nil, "Bearer bad", 401},
		{"basic", nil, "Basic YWxpY2U6cHc=", 401},
		{"another error is still 401", errors.New("jwt: malformed"), "Bearer x", 401},
		{"credential store unavailable", fmt.Errorf("%w: connection refused", auth.ErrUnavailable), "Bearer x", 503},
		{"incomplete principal", nil, "Bearer good-", 401},
	}
	var unauthorizedBody string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			var got auth.Principal
			h := Authenticate(fakeAuth{err: tt.authErr}, testLogger(&logs))(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, _ = PrincipalFrom(r.Context())
			}))
			r := httptest.NewRequest(http.MethodGet, "/v1/incidents", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			switch tt.wantStatus {
			case 200:
				if got != (auth.Principal{TenantID: "contoso", ID: "alice", Via: "token"}) {
					t.Fatalf("principal = %+v", got)
				}
			case 401:
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate")
				}
				if unauthorizedBody == "" {
					unauthorizedBody = rec.Body.String()
				} else if rec.Body.String() != unauthorizedBody {
					t.Errorf("401 bodies differ: %s vs %s", rec.Body.String(), unauthorizedBody)
				}
			}
			if tt.header != "" && strings.Contains(logs.String(), tt.header) {
				t.Errorf("the log holds the credential: %s", logs.String())
			}
		})
	}
}

// TestStack runs the middlewares as the server does: global ones around the mux, authentication and the
// rate limiter per route. The log and the metrics see the route pattern and the principal.
func TestStack(t *testing.T) {
	var logs syncBuffer
	logger := testLogger(&logs)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	limiter := NewRateLimiter(100, 100)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/incidents/{tenant}/{id}", Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		_, _ = fmt.Fprintf(w, "%s/%s", p.TenantID, r.PathValue("id"))
	}), Authenticate(fakeAuth{}, logger), limiter.Middleware))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := Chain(mux, Recover(logger), RequestID, SecurityHeaders, RequestLog(logger), metrics.Instrument)
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res
	}
	if res := get("/v1/incidents/contoso/INC-secret-42", "good-contoso-alice"); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if res := get("/v1/incidents/contoso/INC-secret-42", "wrong-token-value"); res.StatusCode != 401 {
		t.Fatalf("status %d", res.StatusCode)
	}
	get("/healthz", "")
	get("/nowhere/INC-secret-42", "")
	if res := get("/panic", ""); res.StatusCode != 500 {
		t.Fatalf("panic: status %d", res.StatusCode)
	}

	log := logs.String()
	for _, want := range []string{
		`"route":"GET /v1/incidents/{tenant}/{id}"`, `"principal":"alice"`, `"tenant":"contoso"`,
		`"status":401`, `"route":"GET /healthz"`, `"route":"unmatched"`, `"status":404`,
		`"route":"GET /panic"`, `"status":500`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %s:\n%s", want, log)
		}
	}
	for _, never := range []string{"INC-secret-42", "wrong-token-value", "good-contoso-alice"} {
		if strings.Contains(log, never) {
			t.Errorf("the log holds %q:\n%s", never, log)
		}
	}

	exposition := gatherText(t, reg)
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/v1/incidents/{tenant}/{id}"} 1`,
		`http_requests_total{code="401",method="GET",route="/v1/incidents/{tenant}/{id}"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_requests_total{code="500",method="GET",route="/panic"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/healthz"} 1`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("the metrics lack %s:\n%s", want, exposition)
		}
	}
	if strings.Contains(exposition, "INC-secret-42") {
		t.Error("a raw path is a label value")
	}
}
