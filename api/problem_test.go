package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
)

// decodeProblemBody reads a problem answer, checking its media type.
func decodeProblemBody(t *testing.T, res *http.Response) Problem {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != ContentTypeProblem {
		t.Fatalf("Content-Type = %q, want %q", ct, ContentTypeProblem)
	}
	var p Problem
	dec := json.NewDecoder(res.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	return p
}

func TestWriteProblem(t *testing.T) {
	tests := []struct {
		name       string
		p          Problem
		wantStatus int
		wantHeader map[string]string
	}{
		{"bad request", BadRequest("x is wrong"), 400, nil},
		{"unauthorized", Unauthorized(), 401, map[string]string{"WWW-Authenticate": `Bearer realm="guided"`}},
		{"forbidden", Forbidden("no"), 403, nil},
		{"not found", NotFound("no such incident"), 404, nil},
		{"conflict", Conflict("again"), 409, nil},
		{"unsupported", UnsupportedMediaType("application/json"), 415, map[string]string{"Accept-Post": "application/json"}},
		{"unprocessable", Unprocessable("bad value"), 422, nil},
		{"too large", TooLarge(1024), 413, nil},
		{"too many, rounded up", TooManyRequests(1500 * time.Millisecond), 429, map[string]string{"Retry-After": "2"}},
		{"too many, at least one second", TooManyRequests(0), 429, map[string]string{"Retry-After": "1"}},
		{"internal", Internal(), 500, nil},
		{"unavailable", Unavailable("later"), 503, nil},
		{"a status that is no error becomes 500", Problem{Status: 200, Detail: "secret internals"}, 500, nil},
		{"literal without type or title", Problem{Status: 501, Detail: "later"}, 501, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/v1/incidents/t/i?x=1", nil)
			WriteProblem(rec, r, tt.p)
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			p := decodeProblemBody(t, res)
			if p.Status != tt.wantStatus || p.Type != "about:blank" || p.Title != http.StatusText(tt.wantStatus) {
				t.Errorf("problem = %+v", p)
			}
			if p.Instance != "/v1/incidents/t/i" {
				t.Errorf("instance = %q, want the path without the query", p.Instance)
			}
			if tt.wantStatus == 500 && strings.Contains(p.Detail, "secret") {
				t.Errorf("500 detail leaks the original detail: %q", p.Detail)
			}
		})
	}
}

func TestWriteProblemHeadHasNoBody(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteProblem(rec, httptest.NewRequest(http.MethodHead, "/x", nil), NotFound("no"))
	if rec.Code != 404 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: status %d, body %q", rec.Code, rec.Body.String())
	}
}

// decideBody is the shape of a decision body (workflows.DecideInput without the principal).
type decideBody struct {
	CardIDs  []string          `json:"cardIds"`
	Decision card.DecisionKind `json:"decision"`
	Comment  string            `json:"comment,omitempty"`
}

func jsonRequest(body string, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	const limit = 256
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int // 0: accepted
		wantDetail  string
		wantField   string
	}{
		{name: "valid", body: `{"cardIds":["c1","c2"],"decision":"approve","comment":"ok"}`},
		{name: "white space around", body: " \n\t{\"cardIds\":[],\"decision\":\"reject\"} \r\n"},
		{name: "charset utf-8", body: `{}`, contentType: "application/json; charset=UTF-8"},
		{name: "no content type", body: `{}`, contentType: "-", wantStatus: 415},
		{name: "text/plain", body: `{}`, contentType: "text/plain", wantStatus: 415},
		{name: "other charset", body: `{}`, contentType: "application/json; charset=latin1", wantStatus: 415},
		{name: "malformed content type", body: `{}`, contentType: "application/json;;", wantStatus: 415},
		{name: "empty", body: ``, wantStatus: 400, wantDetail: "empty"},
		{name: "only white space", body: "  \n", wantStatus: 400, wantDetail: "empty"},
		{name: "null", body: `null`, wantStatus: 400, wantDetail: "null"},
		{name: "unknown field", body: `{"cardIds":[],"principal":"mallory"}`, wantStatus: 400, wantDetail: `unknown field "principal"`, wantField: "principal"},
		{name: "two values", body: `{}{}`, wantStatus: 400, wantDetail: "after the JSON value"},
		{name: "trailing brace", body: `{}}`, wantStatus: 400, wantDetail: "after the JSON value"},
		{name: "trailing bracket", body: `{}]`, wantStatus: 400, wantDetail: "after the JSON value"},
		{name: "trailing garbage", body: `{} x`, wantStatus: 400, wantDetail: "after the JSON value"},
		{name: "syntax error", body: `{"cardIds":[}`, wantStatus: 400, wantDetail: "byte offset 12"},
		{name: "truncated", body: `{"cardIds":["c1"`, wantStatus: 400, wantDetail: "ends in the middle"},
		{name: "wrong type", body: `{"cardIds":"c1"}`, wantStatus: 400, wantDetail: `field "cardIds": want an array, got JSON string`, wantField: "cardIds"},
		{name: "wrong element type", body: `{"cardIds":[1]}`, wantStatus: 400, wantDetail: `field "cardIds"`},
		{name: "top-level array", body: `[]`, wantStatus: 400, wantDetail: "want an object"},
		{name: "too large", body: `{"comment":"` + strings.Repeat("a", limit) + `"}`, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			switch tt.contentType {
			case "":
			case "-":
				ct = ""
			default:
				ct = tt.contentType
			}
			var v decideBody
			p := DecodeJSON(jsonRequest(tt.body, ct), &v, limit)
			if tt.wantStatus == 0 {
				if p != nil {
					t.Fatalf("refused: %v", p)
				}
				return
			}
			if p == nil {
				t.Fatalf("accepted %q, want %d", tt.body, tt.wantStatus)
			}
			if p.Status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", p.Status, p.Detail, tt.wantStatus)
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if tt.wantField != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.wantField) {
				t.Errorf("errors = %+v, want field %q", p.Errors, tt.wantField)
			}
		})
	}
}

func TestDecodeJSONTooLargeWithoutContentLength(t *testing.T) {
	// A chunked body: the limit is found while reading, not from Content-Length.
	body := `{"comment":"` + strings.Repeat("a", 100) + `"}`
	r := httptest.NewRequest(http.MethodPost, "/v1/x", io.MultiReader(strings.NewReader(body)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	var v decideBody
	p := DecodeJSON(r, &v, 50)
	if p == nil || p.Status != 413 {
		t.Fatalf("got %v, want 413", p)
	}
	if !strings.Contains(p.Detail, "50 bytes") {
		t.Errorf("detail = %q", p.Detail)
	}
}

func TestDecodeJSONNonPointerIsInternal(t *testing.T) {
	var v decideBody
	p := DecodeJSON(jsonRequest(`{}`, "application/json"), v, 100)
	if p == nil || p.Status != 500 {
		t.Fatalf("got %v, want 500", p)
	}
}

func TestDecodeJSONBytesReportsOffsetOfTrailingData(t *testing.T) {
	var v decideBody
	p := DecodeJSONBytes([]byte(`{"decision":"approve"}  7`), &v)
	if p == nil || !strings.Contains(p.Detail, "byte offset") {
		t.Fatalf("got %v", p)
	}
	if !bytes.Contains([]byte(p.Detail), []byte("exactly one JSON value")) {
		t.Errorf("detail = %q", p.Detail)
	}
}

// FuzzDecodeJSON: DecodeJSON never panics, and what it accepts is one JSON object (not null) whose
// every field is one the struct has, with nothing after it.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"cardIds":["c1","c2"],"decision":"approve","comment":"ok"}`,
		`{"cardIds":[],"decision":"reject"}  `,
		`{"CARDIDS":["c1"]}`,
		`{"cardIds":["c1"]}{"principal":"mallory"}`,
		`{"cardIds":["c1"]}}`,
		`{"cardIds":["c1"],"principal":"mallory"}`,
		`{"cardIds":"c1"}`,
		`null`,
		`[]`,
		``,
		`{"comment":"\ud800"}`,
		`{"cardIds":[` + strings.Repeat(`"x",`, 40) + `"y"]}`,
	} {
		f.Add("application/json", []byte(seed))
	}
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json; charset=utf-8", []byte(`{"decision":"approve"}`))
	known := []string{"cardIds", "decision", "comment"}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		var v decideBody
		p := DecodeJSON(r, &v, 512)
		if p != nil {
			switch p.Status {
			case 400, 413, 415:
			default:
				t.Fatalf("status %d (%s)", p.Status, p.Detail)
			}
			return
		}
		if len(body) > 512 {
			t.Fatalf("accepted %d bytes over the limit", len(body))
		}
		// Exactly one value: decoding one leaves nothing but white space.
		dec := json.NewDecoder(bytes.NewReader(body))
		var fields map[string]json.RawMessage
		if err := dec.Decode(&fields); err != nil {
			t.Fatalf("accepted %q, which is not one JSON object: %v", body, err)
		}
		if fields == nil {
			t.Fatalf("accepted %q: null", body)
		}
		if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("accepted %q with trailing data %q", body, rest)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("accepted %q with trailing data", body)
		}
		// No unknown field (encoding/json matches names without regard to case).
		for name := range fields {
			ok := false
			for _, k := range known {
				ok = ok || strings.EqualFold(name, k)
			}
			if !ok {
				t.Fatalf("accepted %q with the unknown field %q", body, name)
			}
		}
	})
}
