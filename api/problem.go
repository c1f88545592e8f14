package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ContentTypeProblem is the media type of a problem details answer (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// Problem is a problem details object (RFC 9457): what went wrong, in a form clients can act on. Detail
// says what was wrong and what to do; it never carries an internal error string, a stack or a secret.
type Problem struct {
	// Type is a URI naming the kind of problem; "about:blank" (the default) means the status says it all.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request's path unless set.
	Instance string `json:"instance,omitempty"`
	// Errors lists the problems of single fields of the request (an extension member).
	Errors []FieldError `json:"errors,omitempty"`

	// header holds response headers the problem needs (WWW-Authenticate, Retry-After).
	header http.Header
}

// FieldError is a problem with one field of the request: Field is where (a JSON path such as
// "alerts[0].severity", or a parameter name), Message what was wrong and what to do.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error makes a Problem usable as an error (in logs and tests): the status and the detail.
func (p Problem) Error() string {
	if p.Detail == "" {
		return fmt.Sprintf("%d %s", p.Status, p.Title)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// WriteProblem answers p as application/problem+json. A status outside 400-599 is a bug of the caller
// and answers 500 instead.
func WriteProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Status < 400 || p.Status > 599 {
		p = Internal()
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Instance == "" && r != nil && r.URL != nil {
		p.Instance = r.URL.EscapedPath()
	}
	h := w.Header()
	for k, vs := range p.header {
		h[k] = append([]string(nil), vs...)
	}
	h.Set("Content-Type", ContentTypeProblem)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(p) // the client may be gone; nothing more to do
}

func newProblem(status int, detail string) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// BadRequest is 400: the request is malformed (syntax, headers, parameters).
func BadRequest(detail string) Problem { return newProblem(http.StatusBadRequest, detail) }

// Unauthorized is 401 with a Bearer challenge. The detail is the same whatever failed: a missing, unknown,
// expired or revoked credential are not told apart.
func Unauthorized() Problem {
	p := newProblem(http.StatusUnauthorized, "authentication is required: send a valid API token or OpenID Connect token as Authorization: Bearer <token>")
	p.header = http.Header{"Www-Authenticate": {`Bearer realm="guided"`}}
	return p
}

// Forbidden is 403: the principal is known but may not do this.
func Forbidden(detail string) Problem { return newProblem(http.StatusForbidden, detail) }

// NotFound is 404.
func NotFound(detail string) Problem { return newProblem(http.StatusNotFound, detail) }

// Conflict is 409: the request conflicts with the current state (a replayed delivery, a closed incident).
func Conflict(detail string) Problem { return newProblem(http.StatusConflict, detail) }

// Unprocessable is 422: well-formed but refused (an invalid value, a decision the workflow refused).
func Unprocessable(detail string) Problem { return newProblem(http.StatusUnprocessableEntity, detail) }

// UnsupportedMediaType is 415: the body is not of the media type the endpoint takes.
func UnsupportedMediaType(want string) Problem {
	p := newProblem(http.StatusUnsupportedMediaType, "send the body as Content-Type: "+want)
	p.header = http.Header{"Accept-Post": {want}}
	return p
}

// TooLarge is 413: the body is larger than limit bytes.
func TooLarge(limit int64) Problem {
	return newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
}

// TooManyRequests is 429 with Retry-After: the caller's rate limit is exhausted for retryAfter (rounded
// up to whole seconds, at least one).
func TooManyRequests(retryAfter time.Duration) Problem {
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	p := newProblem(http.StatusTooManyRequests, fmt.Sprintf("rate limit exceeded: retry in %d s", secs))
	p.header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	return p
}

// Internal is 500 with a generic detail: what failed goes to the log, never to the client.
func Internal() Problem {
	return newProblem(http.StatusInternalServerError, "the server failed to answer; the error is logged with the request ID")
}

// Unavailable is 503: a dependency (Temporal, the database) did not answer; retrying later may help.
func Unavailable(detail string) Problem { return newProblem(http.StatusServiceUnavailable, detail) }

// DecodeJSON decodes the body of r into v strictly: the Content-Type must be application/json, the body
// at most limit bytes (413 otherwise), exactly one JSON value (not null) with no unknown fields and
// nothing after it. It returns nil on success, else the problem to answer, whose detail says what was
// wrong and where (byte offset or field).
func DecodeJSON(r *http.Request, v any, limit int64) *Problem {
	if p := checkJSONContentType(r.Header.Get("Content-Type")); p != nil {
		return p
	}
	if r.ContentLength > limit {
		p := TooLarge(limit)
		return &p
	}
	if r.Body == nil || r.Body == http.NoBody {
		p := BadRequest("the body is empty: send a JSON object")
		return &p
	}
	// No ResponseWriter: the caller answers 413 itself, the server closes the connection if needed.
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		p := TooLarge(limit)
		return &p
	}
	if err != nil {
		p := BadRequest("the body could not be read")
		return &p
	}
	return DecodeJSONBytes(body, v)
}

// DecodeJSONBytes decodes body into v with the rules of DecodeJSON (one JSON value, not null, no unknown
// fields, nothing after it); for bodies already read, such as a verified webhook's.
func DecodeJSONBytes(body []byte, v any) *Problem {
	if len(bytes.TrimSpace(body)) == 0 {
		p := BadRequest("the body is empty: send a JSON object")
		return &p
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		p := BadRequest("the body is null: send a JSON object")
		return &p
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	// Only white space may follow the value. Token reads past it: io.EOF means nothing else is there.
	if _, err := dec.Token(); err != io.EOF {
		p := BadRequest(fmt.Sprintf("the body has data after the JSON value, at byte offset %d: send exactly one JSON value", dec.InputOffset()))
		return &p
	}
	return nil
}

// checkJSONContentType accepts application/json, with at most a charset parameter of utf-8.
func checkJSONContentType(ct string) *Problem {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		p := UnsupportedMediaType("application/json")
		return &p
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			p := UnsupportedMediaType("application/json")
			return &p
		}
	}
	return nil
}

// decodeProblem says what a decoding error means for the client.
func decodeProblem(err error) *Problem {
	var (
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		invalid   *json.InvalidUnmarshalError
		tooBig    *http.MaxBytesError
		p         Problem
		unknownFx = "json: unknown field "
	)
	switch {
	case errors.As(err, &syntax):
		// Offset counts the bytes read, the offending one included: its offset from 0 is one less.
		p = BadRequest(fmt.Sprintf("the body is not valid JSON: %s at byte offset %d", syntax.Error(), max(syntax.Offset-1, 0)))
	case errors.Is(err, io.ErrUnexpectedEOF):
		p = BadRequest("the body is not valid JSON: it ends in the middle of a value")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			p = BadRequest(fmt.Sprintf("the body is JSON %s at byte offset %d: want %s", typ.Value, typ.Offset, jsonKind(typ)))
			break
		}
		msg := fmt.Sprintf("want %s, got JSON %s", jsonKind(typ), typ.Value)
		p = BadRequest(fmt.Sprintf("field %q: %s (byte offset %d)", field, msg, typ.Offset))
		p.Errors = []FieldError{{Field: field, Message: msg}}
	case strings.HasPrefix(err.Error(), unknownFx):
		name := strings.TrimPrefix(err.Error(), unknownFx)
		if uq, uerr := strconv.Unquote(name); uerr == nil {
			name = uq
		}
		name = clipText(name, 100)
		p = BadRequest(fmt.Sprintf("unknown field %q: see the endpoint's schema in /v1/openapi.yaml", name))
		p.Errors = []FieldError{{Field: name, Message: "unknown field"}}
	case errors.As(err, &tooBig):
		p = TooLarge(tooBig.Limit)
	case errors.As(err, &invalid):
		p = Internal() // the handler passed a non-pointer: a bug, not the client's
	default:
		// An UnmarshalJSON of a field type (a time, a duration) refused the value.
		p = BadRequest("the body does not match the expected shape: " + clipText(err.Error(), 200))
	}
	return &p
}

// jsonKind names the JSON kind a Go type takes.
func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + e.Type.String()
}

// clipText cuts s to n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
