package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/auth"
)

// HeaderRequestID carries the request ID: taken from the client when well-formed, made otherwise, and
// always sent back.
const HeaderRequestID = "X-Request-Id"

// routeUnmatched is the route of a request no pattern matched (logs and metrics).
const routeUnmatched = "unmatched"

// Chain wraps h in mws, the first outermost: Chain(h, a, b) is a(b(h)).
func Chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// requestInfo is what the middlewares learn about a request, shared by pointer through its context: an
// outer middleware (the request log, metrics) reads what an inner one (authentication, the mux) found,
// although each inner one hands a new *http.Request down.
type requestInfo struct {
	id        string
	pattern   string
	principal auth.Principal
	hasPrinc  bool
}

type middlewareKey int

const (
	infoKey middlewareKey = iota
	principalKey
)

// withInfo returns r with a requestInfo in its context (r itself when it has one already) and the info.
// Passing the same *http.Request down keeps r.Pattern, which the ServeMux sets on the request it gets,
// readable by the middlewares around the mux.
func withInfo(r *http.Request) (*http.Request, *requestInfo) {
	if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		return r, info
	}
	info := &requestInfo{}
	return r.WithContext(context.WithValue(r.Context(), infoKey, info)), info
}

// notePattern records the route pattern of r when the mux has set it.
func notePattern(r *http.Request) {
	if r.Pattern == "" {
		return
	}
	if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		info.pattern = r.Pattern
	}
}

// routeOf is the route pattern of a served request: r.Pattern when the mux set it on r, else what an
// inner middleware saw; routeUnmatched when no pattern matched.
func routeOf(r *http.Request, info *requestInfo) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	if info != nil && info.pattern != "" {
		return info.pattern
	}
	return routeUnmatched
}

// WithPrincipal returns ctx carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		info.principal, info.hasPrinc = p, true
	}
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the principal Authenticate (or WithPrincipal) stored in ctx.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey).(auth.Principal)
	return p, ok
}

// RequestIDFrom returns the request's ID ("" outside RequestID).
func RequestIDFrom(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// statusWriter records the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status answered: 200 when the handler wrote nothing.
func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// Recover turns a panic of the handler into a 500 problem. The panic and its stack go to the log with
// the request ID; the client learns nothing of them. When the answer had begun, the connection is
// aborted instead (the client sees a broken answer, not a truncated success).
func Recover(logger hclog.Logger) func(http.Handler) http.Handler {
	logger = orNull(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := withInfo(r)
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is re-panicked as is
					panic(v)
				}
				logger.Error("handler panicked", "panic", fmt.Sprint(v), "method", r.Method, "route", routeOf(r, info),
					"request_id", info.id, "stack", string(debug.Stack()))
				if sw.wrote {
					panic(http.ErrAbortHandler)
				}
				WriteProblem(sw, r, Internal())
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// RequestID gives every request an ID: the client's X-Request-Id when it is 1 to 64 characters of
// [A-Za-z0-9-], a new random one otherwise. The answer carries it back; logs carry it too.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := withInfo(r)
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		info.id = id
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r)
	})
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics if the system cannot give randomness)
	return hex.EncodeToString(b[:])
}

// SecurityHeaders sets the headers every API answer carries: no MIME sniffing, no caching (answers hold
// incident data), no framing, no referrer, and a CSP that forbids everything (the API serves no pages).
// A handler may override Cache-Control for a public document.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// RequestLog logs each request once it is answered: method, route pattern (never the raw path, which
// holds IDs), status, duration, request ID and the principal when one authenticated. Headers, bodies,
// query strings and tokens are never logged. 5xx answers log at warn level.
func RequestLog(logger hclog.Logger) func(http.Handler) http.Handler {
	logger = orNull(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r, info := withInfo(r)
			sw := &statusWriter{ResponseWriter: w}
			done := false
			defer func() {
				// Logged even when the handler panics: Recover, outside, answers 500. Not recovering here
				// keeps the panic's stack for Recover's log.
				status := sw.code()
				if !done {
					status = http.StatusInternalServerError
				}
				kv := []any{"method", methodLabel(r.Method), "route", routeOf(r, info), "status", status,
					"duration", time.Since(start), "request_id", info.id}
				if info.hasPrinc {
					kv = append(kv, "tenant", info.principal.TenantID, "principal", info.principal.ID)
				}
				if status >= 500 {
					logger.Warn("request", kv...)
				} else {
					logger.Info("request", kv...)
				}
			}()
			next.ServeHTTP(sw, r)
			done = true
		})
	}
}

// Timeout bounds the handler's context to d: every call made with r.Context() (Temporal, the database)
// gives up then.
func Timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			notePattern(r)
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Authenticate establishes the principal with a and stores it in the request's context (PrincipalFrom).
// Any credential failure answers the same 401 problem: which part was wrong is never told, and goes to
// the log at debug level only. An authenticator that cannot check now (auth.ErrUnavailable, the
// request's own deadline) answers 503.
func Authenticate(a auth.Authenticator, logger hclog.Logger) func(http.Handler) http.Handler {
	logger = orNull(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			notePattern(r)
			p, err := a.Authenticate(r.Context(), r)
			if err == nil && (p.TenantID == "" || p.ID == "") {
				logger.Error("authenticator returned an incomplete principal", "request_id", RequestIDFrom(r.Context()))
				err = auth.ErrUnauthenticated
			}
			if err != nil {
				switch {
				case errors.Is(err, auth.ErrUnauthenticated):
					logger.Debug("authentication refused", "request_id", RequestIDFrom(r.Context()), "error", err)
					WriteProblem(w, r, Unauthorized())
				case errors.Is(err, auth.ErrUnavailable), r.Context().Err() != nil:
					logger.Error("authentication unavailable", "request_id", RequestIDFrom(r.Context()), "error", err)
					WriteProblem(w, r, Unavailable("credentials cannot be checked now; try again"))
				default:
					logger.Error("authentication failed", "request_id", RequestIDFrom(r.Context()), "error", err)
					WriteProblem(w, r, Unauthorized())
				}
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// methodLabel bounds the methods logs and metrics see: a client may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// routeLabel is the route pattern without its method ("GET /v1/incidents" -> "/v1/incidents").
func routeLabel(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		return strings.TrimLeft(pattern[i:], " \t")
	}
	return pattern
}

func orNull(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}
