package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
)

const (
	// maxResponseBody bounds what is read of any answer: the targets are outside input.
	maxResponseBody = 1 << 20
	// maxRetryAfter bounds a Retry-After the target asks for.
	maxRetryAfter = 24 * time.Hour
	// redacted replaces secrets that a target echoes back in an error body.
	redacted = "[redacted]"
)

// api is the HTTP plumbing the Defender, Graph and webhook connectors share: JSON bodies, the bearer token
// (one fresh token and one retry on 401), and the mapping of answers to *Error. It never puts the client
// secret, a bearer token or a webhook secret into an error or a log line.
type api struct {
	// name prefixes every error ("defender", "graph", "webhook").
	name    string
	baseURL string
	client  *http.Client
	// tokens is nil for targets without OAuth (the webhook).
	tokens *tokenSource
	// secrets are scrubbed from any text taken from an answer (besides the client secret and the token in
	// use, which come from tokens).
	secrets []string
	logger  hclog.Logger
	now     func() time.Time
}

// call is one HTTP request.
type call struct {
	method string
	// path is appended to the base URL; it is already escaped.
	path   string
	body   []byte
	header http.Header
}

// reply is what the target answered.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// jsonBody encodes v for a call.
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Permanent: true, Message: "encode request body", Err: err}
	}
	return b, nil
}

// do sends c and returns the answer. A 2xx answer gives a nil error; any other answer gives the reply and an
// *Error saying whether a retry can help, so callers can still look at the status (a 409, a 404 on delete).
func (a *api) do(ctx context.Context, c call) (reply, error) {
	rep, tok, err := a.send(ctx, c, false)
	if err == nil && rep.status == http.StatusUnauthorized && a.tokens != nil {
		// The token may have been revoked or rotated before its expiry: drop it, take a fresh one, retry once.
		a.tokens.invalidate(tok)
		a.logger.Debug("unauthorized, retrying once with a fresh token", "method", c.method, "path", a.where(c))
		rep, tok, err = a.send(ctx, c, true)
	}
	if err != nil {
		return rep, err
	}
	if rep.status >= 200 && rep.status < 300 {
		return rep, nil
	}
	return rep, a.statusError(c, rep, tok)
}

func (a *api) send(ctx context.Context, c call, retried bool) (reply, string, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, a.baseURL+c.path, body)
	if err != nil {
		return reply{}, "", &Error{Permanent: true, Message: fmt.Sprintf("%s: build %s %s", a.name, c.method, a.where(c)), Err: scrubURLError(err)}
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "guided-response")
	var tok string
	if a.tokens != nil {
		tok, err = a.tokens.get(ctx)
		if err != nil {
			return reply{}, "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	start := a.now()
	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, tok, fmt.Errorf("%s: %s %s: %w", a.name, c.method, a.where(c), ctx.Err())
		}
		return reply{}, tok, &Error{Message: fmt.Sprintf("%s: %s %s: network error", a.name, c.method, a.where(c)), Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, tok, fmt.Errorf("%s: %s %s: %w", a.name, c.method, a.where(c), ctx.Err())
		}
		return reply{}, tok, &Error{StatusCode: resp.StatusCode, Message: fmt.Sprintf("%s: %s %s: read answer", a.name, c.method, a.where(c)), Err: scrubURLError(err)}
	}
	a.logger.Debug("http", "method", c.method, "path", a.where(c), "status", resp.StatusCode,
		"duration", a.now().Sub(start), "retried", retried)
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, tok, nil
}

// statusError maps a non-2xx answer: 429 and 503 are retryable after the Retry-After the target asked for;
// other 5xx, 408 and 425 are retryable; any other status (400, 401 after a fresh token, 403, 404, 409, ...)
// is permanent, retrying the same request cannot help.
func (a *api) statusError(c call, rep reply, tok string) *Error {
	e := &Error{
		StatusCode: rep.status,
		Message:    fmt.Sprintf("%s: %s %s: %s", a.name, c.method, a.where(c), a.describe(rep, tok)),
	}
	switch {
	case rep.status == http.StatusTooManyRequests || rep.status == http.StatusServiceUnavailable:
		e.RetryAfter = parseRetryAfter(rep.header.Get("Retry-After"), a.now())
	case rep.status >= 500, rep.status == http.StatusRequestTimeout, rep.status == http.StatusTooEarly:
	default:
		e.Permanent = true
	}
	return e
}

// describe says what went wrong from the answer's body: the code and message of a Microsoft error
// ({"error":{"code","message"}} or the token endpoint's {"error","error_description"}), else the start of
// the body. Everything here comes from outside: secrets are scrubbed and control characters dropped.
func (a *api) describe(rep reply, tok string) string {
	text := http.StatusText(rep.status)
	code, msg := errorBody(rep.body)
	switch {
	case code != "" && msg != "":
		text = code + ": " + msg
	case code != "" || msg != "":
		text = code + msg
	default:
		if b := strings.TrimSpace(string(rep.body)); b != "" {
			text += ": " + b
		}
	}
	secrets := append([]string{tok}, a.secrets...)
	if a.tokens != nil {
		secrets = append(secrets, a.tokens.clientSecret)
	}
	return clip(scrub(text, secrets...), 300)
}

// errorBody reads the error code and message of a Microsoft error answer.
func errorBody(body []byte) (code, message string) {
	var graph struct {
		Error json.RawMessage `json:"error"`
		// The token endpoint's answer.
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &graph) != nil || len(graph.Error) == 0 {
		return "", ""
	}
	var inner struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(graph.Error, &inner) == nil {
		return inner.Code, inner.Message
	}
	var s string
	if json.Unmarshal(graph.Error, &s) == nil {
		return s, graph.Description
	}
	return "", ""
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. It gives 0 when the header is
// missing or unreadable, and never more than maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter // only digits: too many of them
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// scrub replaces every non-empty secret in s and drops control characters.
func scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// where names the request's target in messages.
func (a *api) where(c call) string {
	if c.path == "" {
		return redactURL(a.baseURL)
	}
	return pathOnly(c.path)
}

// pathOnly drops the query of a path for messages: queries carry filter values, not what failed.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// scrubURLError drops the user info and the query of the URL a *url.Error names: a webhook URL may carry a
// token there.
func scrubURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	safe := *ue
	safe.URL = redactURL(ue.URL)
	return &safe
}

// redactURL returns raw without user info and query, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = ""
		u.ForceQuery = false
		return u.String() + "?" + redacted
	}
	return u.String()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// permanentf is a permanent *Error: the request itself is wrong (missing entity field, unsupported action).
func permanentf(format string, args ...any) *Error {
	return &Error{Permanent: true, Message: fmt.Sprintf(format, args...)}
}

func noProgress(string) {}

// jsonID reads an id that is a JSON string or number; "" otherwise.
func jsonID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
