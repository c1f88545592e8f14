package connector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/guided-response/guided/internal/syncbuf"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

const (
	testTenantID     = "4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93"
	testClientID     = "7b1e2f4a-0c3d-4e5f-8a9b-1c2d3e4f5a6b"
	testClientSecret = "s3cr3t~Client.Secret_value-1234567890"
	testMachineID    = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
)

// seen is one request the fake target received.
type seen struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// fakeMicrosoft is a local server speaking the Microsoft identity platform's token endpoint and whatever API
// the test's handler answers, with bearer tokens checked like the real services do.
type fakeMicrosoft struct {
	server *httptest.Server

	mu       sync.Mutex
	tokens   int             // token requests
	valid    map[string]bool // tokens the API accepts
	requests []seen          // API requests, token requests excluded
	// tokenStatus, when set, is the token endpoint's answer status (with tokenBody).
	tokenStatus int
	tokenBody   string
	// handler answers the API requests; nil answers 404.
	handler func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newFakeMicrosoft(t *testing.T) *fakeMicrosoft {
	t.Helper()
	f := &fakeMicrosoft{valid: map[string]bool{}}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeMicrosoft) tokenURL() string {
	return f.server.URL + "/" + testTenantID + "/oauth2/v2.0/token"
}

func (f *fakeMicrosoft) creds() Credentials {
	return Credentials{TokenURL: f.tokenURL(), TenantID: testTenantID, ClientID: testClientID, ClientSecret: testClientSecret}
}

func (f *fakeMicrosoft) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/"+testTenantID+"/oauth2/v2.0/token" {
		f.token(w, r, body)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	auth := r.Header.Get("Authorization")
	ok := strings.HasPrefix(auth, "Bearer ") && f.valid[strings.TrimPrefix(auth, "Bearer ")]
	handler := f.handler
	f.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"Unauthorized (invalid or expired authorization header)"}}`)
		return
	}
	if handler == nil {
		writeJSON(w, http.StatusNotFound, `{"error":{"code":"NotFound","message":"no handler"}}`)
		return
	}
	handler(w, r, body)
}

// token answers like https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token for client credentials.
func (f *fakeMicrosoft) token(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	if f.tokenStatus != 0 {
		writeJSON(w, f.tokenStatus, f.tokenBody)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request","error_description":"AADSTS900144: bad request"}`)
		return
	}
	form, err := parseForm(body)
	if err != nil || form["grant_type"] != "client_credentials" || form["client_id"] != testClientID ||
		!strings.HasSuffix(form["scope"], "/.default") {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request","error_description":"AADSTS900144: bad form"}`)
		return
	}
	if form["client_secret"] != testClientSecret {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
		return
	}
	tok := fmt.Sprintf("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.token-%d.sig", f.tokens)
	f.valid[tok] = true
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, tok))
}

func parseForm(body []byte) (map[string]string, error) {
	r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k := range r.PostForm {
		out[k] = r.PostForm.Get(k)
	}
	return out, nil
}

// revokeTokens makes the API refuse every token issued so far.
func (f *fakeMicrosoft) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func (f *fakeMicrosoft) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

func (f *fakeMicrosoft) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

func (f *fakeMicrosoft) handle(h func(w http.ResponseWriter, r *http.Request, body []byte)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// fakeClock is a settable clock for token expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type logBuffer = syncbuf.Buffer

func newTestLogger(out io.Writer, jsonFormat bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Trace, Output: out, JSONFormat: jsonFormat})
}

// Entities of the tests.

func deviceEntity() incident.Entity {
	return incident.Entity{Kind: incident.KindDevice, Device: &incident.Device{MdeDeviceID: testMachineID, DNSName: "ws-042.contoso.com"}}
}

func hybridUserEntity() incident.Entity {
	return incident.Entity{Kind: incident.KindUser, User: &incident.UserAccount{
		AccountName: "jdoe", DomainName: "CONTOSO", UserPrincipalName: "jdoe@contoso.com",
		AzureADUserID: "256db173-930a-4991-9061-0d51a9a93ba5", UserSID: "S-1-5-21-1-2-3-1104",
	}}
}

func messageEntity() incident.Entity {
	return incident.Entity{Kind: incident.KindAnalyzedMessage, AnalyzedMessage: &incident.AnalyzedMessage{
		NetworkMessageID: "73ca4154-58d8-43d0-a890-08dc18c52e6d", RecipientEmailAddress: "hannah.jarvis@contoso.com",
		Subject: "Invoice overdue", P1Sender: "billing@evil.example",
	}}
}

func fileEntity() incident.Entity {
	return incident.Entity{Kind: incident.KindFile, File: &incident.File{
		FileName: "invoice.exe", MdeDeviceID: testMachineID,
		SHA1:   "87662bc3d60e4200ceaf7aae249d1c343f4b83c9",
		SHA256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
	}}
}

func request(a card.Action, e incident.Entity, params map[string]string) Request {
	return Request{
		IdempotencyKey: "inc-1/card-" + string(a) + "/" + string(a),
		TenantID:       testTenantID,
		IncidentID:     "inc-1",
		CardID:         "card-" + string(a),
		Action:         a,
		Entity:         e,
		Parameters:     params,
		Principal:      "analyst@contoso.com",
		Comment:        "approved in triage",
	}
}

// decodeBody decodes a JSON request body into a map.
func decodeBody(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request body %q is not a JSON object: %v", body, err)
	}
	return m
}

// notes collects progress notes.
type notes struct {
	mu   sync.Mutex
	list []string
}

func (n *notes) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, s)
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.list...)
}
