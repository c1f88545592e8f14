package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Scopes of the client-credentials tokens (the resource's ".default": the application permissions granted
// to the app registration).
const (
	DefenderScope = "https://api.securitycenter.microsoft.com/.default"
	GraphScope    = "https://graph.microsoft.com/.default"
)

// Credentials are a Microsoft Entra app registration's client credentials.
type Credentials struct {
	// TokenURL is the token endpoint; empty means https://login.microsoftonline.com/{TenantID}/oauth2/v2.0/token.
	TokenURL     string
	TenantID     string
	ClientID     string
	ClientSecret string
}

// String redacts the client secret.
func (c Credentials) String() string {
	return fmt.Sprintf("{TokenURL:%s TenantID:%s ClientID:%s ClientSecret:%s}", c.TokenURL, c.TenantID, c.ClientID, redactedIfSet(c.ClientSecret))
}

// GoString redacts the client secret from %#v.
func (c Credentials) GoString() string { return "connector.Credentials" + c.String() }

// MarshalJSON redacts the client secret (hclog's JSON format marshals values).
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"tokenUrl": c.TokenURL, "tenantId": c.TenantID, "clientId": c.ClientID, "clientSecret": redactedIfSet(c.ClientSecret),
	})
}

func redactedIfSet(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// validate says what is missing.
func (c Credentials) validate() error {
	var missing []string
	if c.TokenURL == "" && c.TenantID == "" {
		missing = append(missing, "tenant id (or a token URL)")
	}
	if c.ClientID == "" {
		missing = append(missing, "client id")
	}
	if c.ClientSecret == "" {
		missing = append(missing, "client secret")
	}
	if len(missing) > 0 {
		return fmt.Errorf("credentials: missing %s", strings.Join(missing, ", "))
	}
	if c.TokenURL != "" {
		if err := checkHTTPURL(c.TokenURL); err != nil {
			return fmt.Errorf("credentials: token URL: %w", err)
		}
	}
	return nil
}

func (c Credentials) tokenURL() string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	return "https://login.microsoftonline.com/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token"
}

// tokenSource gets OAuth 2.0 client-credentials tokens (RFC 6749 section 4.4, as the Microsoft identity
// platform speaks it: a form POST of client_id, client_secret, scope and grant_type=client_credentials,
// answered with {"token_type","expires_in","access_token"}) and caches one until shortly before it expires.
type tokenSource struct {
	url          string
	clientID     string
	clientSecret string
	scope        string
	// http posts the token requests; it is the api plumbing without a token source.
	http *api
	now  func() time.Time
	// lock is a one-slot semaphore: one fetch at a time, and waiting honours the caller's context.
	lock   chan struct{}
	token  string
	expiry time.Time
}

func newTokenSource(creds Credentials, scope string, client *http.Client, logger hclog.Logger, now func() time.Time) *tokenSource {
	return &tokenSource{
		url:          creds.tokenURL(),
		clientID:     creds.ClientID,
		clientSecret: creds.ClientSecret,
		scope:        scope,
		http: &api{name: "token", client: client, secrets: []string{creds.ClientSecret},
			logger: logger.Named("token"), now: now},
		now:  now,
		lock: make(chan struct{}, 1),
	}
}

// get returns the cached token, or a new one when there is none or it expires soon.
func (t *tokenSource) get(ctx context.Context) (string, error) {
	select {
	case t.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("token: %w", ctx.Err())
	}
	defer func() { <-t.lock }()
	if t.token != "" && t.now().Before(t.expiry) {
		return t.token, nil
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {t.clientID},
		"client_secret": {t.clientSecret},
		"scope":         {t.scope},
	}
	rep, err := t.http.do(ctx, call{
		method: http.MethodPost,
		body:   []byte(form.Encode()),
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		path:   "",
	}.to(t.url))
	if err != nil {
		return "", err
	}
	var answer struct {
		TokenType   string          `json:"token_type"`
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(rep.body, &answer); err != nil || answer.AccessToken == "" {
		return "", &Error{StatusCode: rep.status, Message: "token: the answer holds no access_token"}
	}
	if answer.TokenType != "" && !strings.EqualFold(answer.TokenType, "Bearer") {
		return "", &Error{Permanent: true, StatusCode: rep.status, Message: fmt.Sprintf("token: token_type %q, want Bearer", clip(scrub(answer.TokenType), 40))}
	}
	lifetime := time.Duration(parseSeconds(answer.ExpiresIn)) * time.Second
	// Renew before the expiry: two minutes early, or halfway through a short lifetime.
	t.token = answer.AccessToken
	t.expiry = t.now().Add(lifetime - min(2*time.Minute, lifetime/2))
	return t.token, nil
}

// invalidate drops tok if it is still the cached token (a 401 said it is no good).
func (t *tokenSource) invalidate(tok string) {
	t.lock <- struct{}{}
	defer func() { <-t.lock }()
	if t.token == tok {
		t.token = ""
	}
}

// parseSeconds reads expires_in, a number or (v1 endpoint) a string of digits; 0 when unreadable, and at
// most one day.
func parseSeconds(raw json.RawMessage) int64 {
	s := strings.Trim(string(raw), `"`)
	var n int64
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int64(r-'0')
		if n > 86400 {
			return 86400
		}
	}
	return n
}

// to makes a call to an absolute URL on an api without a base URL.
func (c call) to(u string) call {
	c.path = u + c.path
	return c
}

// checkHTTPURL accepts absolute http and https URLs.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", redactURL(raw))
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", redactURL(raw))
	}
	return nil
}
