package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/auth"
)

const (
	testClientSecret = "console-secret-0f1e2d3c"
	startPath        = "/console/oidc/start"
	callbackPath     = "/console/oidc/callback"
)

// testProvider is a testIssuer that also signs browsers in with the authorization code flow, for one
// registered client: /authorize consents at once and redirects back with a code, /token exchanges the
// code for an ID token, checking what a real provider checks (client authentication, redirect URI,
// PKCE). The ID token is that of alice@contoso.com in tenant contoso (testIssuer.claims).
type testProvider struct {
	*testIssuer
	t           testing.TB
	clientID    string
	redirectURI string   // set before the first request
	authMethods []string // client authentications /token accepts for a confidential client

	mu        sync.Mutex
	secret    string // "" for a public client
	codes     map[string]codeGrant
	deny      string                 // when set, /authorize answers this error instead of a code
	idClaims  func(c map[string]any) // changes the ID token's claims
	idKey     *rsa.PrivateKey        // signs the ID token instead of the issuer's key
	tokenDown bool                   // /token answers 503
	authUsed  string                 // how the last token request authenticated the client
	refusal   string                 // why /token last refused
}

// codeGrant is what /authorize remembers of an issued code.
type codeGrant struct {
	challenge, nonce, redirectURI string
}

func newTestProvider(t testing.TB, secret string, metadata map[string]any) *testProvider {
	t.Helper()
	p := &testProvider{testIssuer: newTestIssuer(t), t: t, clientID: testAudience, secret: secret,
		codes: map[string]codeGrant{}, authMethods: []string{"client_secret_basic"}}
	p.metadata = metadata
	if methods, ok := metadata["token_endpoint_auth_methods_supported"].([]string); ok {
		p.authMethods = methods
	}
	p.mux.HandleFunc("GET /authorize", p.authorize)
	p.mux.HandleFunc("POST /token", p.token)
	return p
}

// set changes the provider's behaviour until the end of the test.
func (p *testProvider) set(t *testing.T, change func(p *testProvider)) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	secret, deny, idClaims, idKey, tokenDown := p.secret, p.deny, p.idClaims, p.idKey, p.tokenDown
	change(p)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.secret, p.deny, p.idClaims, p.idKey, p.tokenDown = secret, deny, idClaims, idKey, tokenDown
	})
}

func (p *testProvider) lastToken() (authUsed, refusal string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authUsed, p.refusal
}

// authorize is the authorization endpoint (OpenID Connect Core 3.1.2): an unknown client or redirect URI
// is answered here; anything else by a redirect to the client.
func (p *testProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.clientID || q.Get("redirect_uri") != p.redirectURI {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		http.Redirect(w, r, p.redirectURI+"?"+params.Encode(), http.StatusFound)
	}
	backError := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case q.Get("response_type") != "code":
		backError("unsupported_response_type", "only code")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		backError("invalid_request", "PKCE with S256 is required")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		backError("invalid_scope", "openid is required")
	case q.Get("state") == "" || q.Get("nonce") == "":
		backError("invalid_request", "state and nonce are required")
	case p.deny != "":
		backError(p.deny, "The user declined the sign-in.")
	default:
		code := rand.Text()
		p.codes[code] = codeGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri")}
		back(url.Values{"code": {code}})
	}
}

// token is the token endpoint (RFC 6749 4.1.3, RFC 7636 4.6, OpenID Connect Core 3.1.3).
func (p *testProvider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	refuse := func(status int, code, desc string) {
		p.refusal = code + ": " + desc
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if p.tokenDown {
		http.Error(w, "<html>maintenance</html>", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	switch {
	case basic:
		p.authUsed = "client_secret_basic"
		id, _ = url.QueryUnescape(id) // RFC 6749 2.3.1: form-encoded, then Basic
		secret, _ = url.QueryUnescape(secret)
	case f.Has("client_secret"):
		p.authUsed = "client_secret_post"
		id, secret = f.Get("client_id"), f.Get("client_secret")
	default:
		p.authUsed = "none"
		id = f.Get("client_id")
	}
	clientOK := id == p.clientID
	if p.secret == "" {
		clientOK = clientOK && p.authUsed == "none"
	} else {
		clientOK = clientOK && slices.Contains(p.authMethods, p.authUsed) && subtle.ConstantTimeCompare([]byte(secret), []byte(p.secret)) == 1
	}
	if !clientOK {
		refuse(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		refuse(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	g, ok := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code")) // a code is used once, even when the exchange is refused
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case !ok:
		refuse(http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case f.Get("redirect_uri") != g.redirectURI:
		refuse(http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		refuse(http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	claims := p.claims()
	claims["aud"], claims["nonce"] = p.clientID, g.nonce
	if p.idClaims != nil {
		p.idClaims(claims)
	}
	key := p.key
	if p.idKey != nil {
		key = p.idKey
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{
		"access_token": rand.Text(),
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token":     sign(p.t, key, claims),
	})
}

// signIn is a provider and a console on local TLS servers. The console serves Start at startPath (with
// ?next=) and Finish at callbackPath, answering the ID token and next as JSON, or the error: 401 for a
// refusal (ErrUnauthenticated), 502 otherwise.
type signIn struct {
	idp     *testProvider
	console *httptest.Server
	cfg     auth.OIDCLoginConfig
	login   *auth.OIDCLogin
}

// signedIn is the console's answer to a sign-in that finished.
type signedIn struct {
	IDToken string `json:"idToken"`
	Next    string `json:"next"`
}

func newSignIn(t testing.TB, secret string, metadata map[string]any) *signIn {
	t.Helper()
	s := &signIn{idp: newTestProvider(t, secret, metadata)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+startPath, func(w http.ResponseWriter, r *http.Request) {
		s.login.Start(w, r, r.URL.Query().Get("next"))
	})
	mux.HandleFunc("GET "+callbackPath, func(w http.ResponseWriter, r *http.Request) {
		token, next, err := s.login.Finish(w, r)
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadGateway)
		default:
			writeJSON(w, signedIn{IDToken: token, Next: next})
		}
	})
	s.console = httptest.NewTLSServer(mux)
	t.Cleanup(s.console.Close)
	s.idp.redirectURI = s.console.URL + callbackPath
	s.cfg = auth.OIDCLoginConfig{
		Issuer:       s.idp.srv.URL,
		ClientID:     testAudience,
		ClientSecret: secret,
		RedirectURL:  s.idp.redirectURI,
		HTTPClient:   s.idp.srv.Client(),
	}
	s.login = newLogin(t, s.cfg)
	return s
}

func newLogin(t testing.TB, cfg auth.OIDCLoginConfig) *auth.OIDCLogin {
	t.Helper()
	l, err := auth.NewOIDCLogin(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// browser is an HTTP client with a cookie jar, trusting both servers (httptest's TLS servers share one
// certificate); it follows redirects when follow.
func (s *signIn) browser(t *testing.T, follow bool) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: s.idp.srv.Client().Transport, Jar: jar, Timeout: 10 * time.Second}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func (s *signIn) startURL(next string) string {
	return s.console.URL + startPath + "?" + url.Values{"next": {next}}.Encode()
}

// run signs in with browser c, following every redirect: console start, provider, console callback. It
// returns the console's answer and the callback's response.
func (s *signIn) run(t *testing.T, c *http.Client, next string) (signedIn, *http.Response) {
	t.Helper()
	resp, body := get(t, c, s.startURL(next))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != callbackPath {
		t.Fatalf("sign-in ended at %s with %s: %s", resp.Request.URL.Path, resp.Status, body)
	}
	var res signedIn
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("callback answer %q: %v", body, err)
	}
	return res, resp
}

// authorize follows a start response (302 to the provider, with the state cookie) to the provider and
// returns the state cookie and the callback URL the provider redirected back to.
func (s *signIn) authorize(t *testing.T, start *http.Response) (*http.Cookie, *url.URL) {
	t.Helper()
	cookies := start.Cookies()
	if start.StatusCode != http.StatusFound || len(cookies) != 1 {
		t.Fatalf("start: %s with %d cookies, want 302 with the state cookie", start.Status, len(cookies))
	}
	to, err := start.Location()
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, s.browser(t, false), to.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider: %s: %s", resp.Status, body)
	}
	callback, err := resp.Location()
	if err != nil || callback.Path != callbackPath {
		t.Fatalf("provider redirected to %v (%v), want the callback", callback, err)
	}
	return cookies[0], callback
}

// begin starts a sign-in in a fresh browser and takes it to the provider's redirect back.
func (s *signIn) begin(t *testing.T, next string) (*http.Cookie, *url.URL) {
	t.Helper()
	resp, _ := get(t, s.browser(t, false), s.startURL(next))
	return s.authorize(t, resp)
}

// callback GETs the callback URL sending exactly these cookies.
func (s *signIn) callback(t *testing.T, u *url.URL, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return do(t, s.browser(t, false), req)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// withQuery is u with the query parameter name set to value, or removed when value is empty.
func withQuery(u *url.URL, name, value string) *url.URL {
	q := u.Query()
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	v := *u
	v.RawQuery = q.Encode()
	return &v
}

func TestOIDCLogin(t *testing.T) {
	alice := auth.Principal{TenantID: "contoso", ID: "alice@contoso.com", Via: auth.ViaOIDC}
	tests := []struct {
		name     string
		secret   string
		metadata map[string]any
		authUsed string
	}{
		{"confidential client, client_secret_basic", testClientSecret, nil, "client_secret_basic"},
		{"confidential client, issuer supporting client_secret_post only", testClientSecret,
			map[string]any{"token_endpoint_auth_methods_supported": []string{"client_secret_post"}}, "client_secret_post"},
		{"public client, PKCE only", "",
			map[string]any{"token_endpoint_auth_methods_supported": []string{"none"}, "code_challenge_methods_supported": []string{"S256"}}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSignIn(t, tt.secret, tt.metadata)
			c := s.browser(t, true)
			const next = "/console/incidents/42?tab=cards"
			res, resp := s.run(t, c, next)
			callback := resp.Request.URL
			if res.Next != next {
				t.Errorf("next = %q, want %q", res.Next, next)
			}
			if authUsed, refusal := s.idp.lastToken(); authUsed != tt.authUsed || refusal != "" {
				t.Errorf("token request authenticated by %q (refusal %q), want %q", authUsed, refusal, tt.authUsed)
			}

			// The ID token is what the API accepts: same issuer, audience = the client ID.
			a := s.idp.authenticator(t, auth.OIDCConfig{Audience: s.cfg.ClientID})
			p, err := a.Authenticate(context.Background(), bearer(res.IDToken))
			if err != nil || p != alice {
				t.Fatalf("Authenticate(ID token) = %+v, %v; want %+v", p, err, alice)
			}

			// The callback's answer keeps its URL (with the code) out of caches and Referer headers.
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("callback headers: Cache-Control %q, Referrer-Policy %q; want no-store, no-referrer",
					resp.Header.Get("Cache-Control"), resp.Header.Get("Referrer-Policy"))
			}

			// Finish cleared the state cookie: the callback cannot be replayed.
			if cs := c.Jar.Cookies(callback); len(cs) != 0 {
				t.Errorf("cookies left after the sign-in: %v", cs)
			}
			resp, body := get(t, c, callback.String())
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "no sign-in in progress") {
				t.Errorf("replayed callback: %s: %s; want 401, no sign-in in progress", resp.Status, body)
			}
		})
	}
}

func TestOIDCLoginStart(t *testing.T) {
	s := newSignIn(t, testClientSecret, nil)
	resp, _ := get(t, s.browser(t, false), s.startURL("/console/incidents/7"))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("start: %s, Cache-Control %q; want 302, no-store", resp.Status, resp.Header.Get("Cache-Control"))
	}
	to, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := to.Scheme+"://"+to.Host+to.Path, s.idp.srv.URL+"/authorize"; got != want {
		t.Errorf("redirected to %s, want %s", got, want)
	}
	q := to.Query()
	for name, want := range map[string]string{
		"response_type":         "code",
		"client_id":             testAudience,
		"redirect_uri":          s.console.URL + callbackPath,
		"scope":                 "openid email profile",
		"code_challenge_method": "S256",
	} {
		if q.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, q.Get(name), want)
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || len(q.Get("code_challenge")) != 43 || q.Has("code_verifier") {
		t.Errorf("state %q, nonce %q, code_challenge %q, code_verifier %q: want 256-bit values and no verifier",
			q.Get("state"), q.Get("nonce"), q.Get("code_challenge"), q.Get("code_verifier"))
	}

	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("start set %d cookies, want the state cookie", len(cookies))
	}
	c := cookies[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/console/oidc/" || c.MaxAge <= 0 || c.MaxAge > 600 {
		t.Errorf("state cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/console/oidc/, Max-Age at most 10 minutes", c)
	}
	for _, v := range []string{q.Get("state"), q.Get("nonce"), "incidents"} {
		if strings.Contains(c.Value, v) {
			t.Errorf("state cookie shows %q in clear", v)
		}
	}

	// Another start in the same browser gets another state, nonce and challenge.
	resp2, _ := get(t, s.browser(t, false), s.startURL(""))
	to2, _ := resp2.Location()
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if to2.Query().Get(name) == q.Get(name) {
			t.Errorf("two sign-ins share their %s", name)
		}
	}

	t.Run("http redirect URL on loopback, scopes", func(t *testing.T) {
		cfg := s.cfg
		cfg.RedirectURL = "http://127.0.0.1:8080/guided/console/oidc/callback"
		cfg.Scopes = []string{"email", "groups"}
		l := newLogin(t, cfg)
		for _, tc := range []struct {
			target string
			secure bool
		}{{"http://127.0.0.1:8080/guided/console/oidc/start", false}, {"https://127.0.0.1:8443/guided/console/oidc/start", true}} {
			rec := httptest.NewRecorder()
			l.Start(rec, httptest.NewRequest(http.MethodGet, tc.target, nil), "/x")
			c := rec.Result().Cookies()[0]
			if c.Secure != tc.secure || c.Path != "/guided/console/oidc/" {
				t.Errorf("start at %s: cookie %s, want Secure=%v and the redirect URL's directory as path", tc.target, c, tc.secure)
			}
			to, _ := rec.Result().Location()
			if got := to.Query().Get("scope"); got != "openid email groups" {
				t.Errorf("scope = %q, want openid added to the configured scopes", got)
			}
		}
	})
}

func TestOIDCLoginRefusals(t *testing.T) {
	s := newSignIn(t, testClientSecret, nil)
	otherKey := newRSAKey(t)

	// check asserts a refused callback: status, the reason in the error, nothing secret in it, and the
	// state cookie cleared when there was one.
	check := func(t *testing.T, resp *http.Response, body string, status int, want string, sentCookie bool, callback *url.URL) {
		t.Helper()
		if resp.StatusCode != status || !strings.Contains(body, want) {
			t.Errorf("callback: %s: %s; want %d and %q", resp.Status, strings.TrimSpace(body), status, want)
		}
		for _, secret := range []string{testClientSecret, "eyJ", callback.Query().Get("code")} {
			if secret != "" && strings.Contains(body, secret) {
				t.Errorf("the error shows a secret (%q): %s", secret, body)
			}
		}
		if sentCookie {
			cleared := slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.MaxAge < 0 && c.Path == "/console/oidc/" })
			if !cleared {
				t.Errorf("state cookie not cleared: Set-Cookie %q", resp.Header.Values("Set-Cookie"))
			}
		}
	}
	// refusedBy runs a sign-in with the provider changed by change and checks the callback's refusal.
	refusedBy := func(change func(p *testProvider), status int, want string) func(t *testing.T) {
		return func(t *testing.T) {
			s.idp.set(t, change)
			cookie, callback := s.begin(t, "/console/")
			resp, body := s.callback(t, callback, cookie)
			check(t, resp, body, status, want, true, callback)
		}
	}

	t.Run("state altered in the callback", func(t *testing.T) {
		cookie, callback := s.begin(t, "/console/")
		cb := withQuery(callback, "state", rand.Text())
		resp, body := s.callback(t, cb, cookie)
		check(t, resp, body, http.StatusUnauthorized, "state does not match", true, cb)
	})
	t.Run("no state in the callback", func(t *testing.T) {
		cookie, callback := s.begin(t, "/console/")
		cb := withQuery(callback, "state", "")
		resp, body := s.callback(t, cb, cookie)
		check(t, resp, body, http.StatusUnauthorized, "state does not match", true, cb)
	})
	t.Run("callback of another sign-in (login CSRF)", func(t *testing.T) {
		_, attackers := s.begin(t, "/console/")
		victims, _ := s.begin(t, "/console/")
		resp, body := s.callback(t, attackers, victims)
		check(t, resp, body, http.StatusUnauthorized, "state does not match", true, attackers)
	})
	t.Run("no state cookie", func(t *testing.T) {
		_, callback := s.begin(t, "/console/")
		resp, body := s.callback(t, callback)
		check(t, resp, body, http.StatusUnauthorized, "no sign-in in progress", false, callback)
	})
	t.Run("altered state cookie", func(t *testing.T) {
		for _, alter := range []func(string) string{
			func(v string) string { // one character of the sealed value changed
				i := len(v) / 2
				c := byte('A')
				if v[i] == 'A' {
					c = 'B'
				}
				return v[:i] + string(c) + v[i+1:]
			},
			func(v string) string { return v[:len(v)-4] },  // truncated
			func(v string) string { return v + "AAAA" },    // extended
			func(v string) string { return "not base64!" }, // garbage
			func(v string) string { return "" },
		} {
			cookie, callback := s.begin(t, "/console/")
			altered := &http.Cookie{Name: cookie.Name, Value: alter(cookie.Value)}
			resp, body := s.callback(t, callback, altered)
			check(t, resp, body, http.StatusUnauthorized, "state cookie does not verify", true, callback)
		}
	})
	t.Run("state cookie sealed by another instance", func(t *testing.T) {
		other := newLogin(t, s.cfg) // another random key
		rec := httptest.NewRecorder()
		other.Start(rec, httptest.NewRequest(http.MethodGet, s.console.URL+startPath, nil), "/console/")
		cookie, callback := s.authorize(t, rec.Result())
		resp, body := s.callback(t, callback, cookie)
		check(t, resp, body, http.StatusUnauthorized, "state cookie does not verify", true, callback)
	})
	t.Run("state cookie sealed with the shared key by another instance", func(t *testing.T) {
		key := make([]byte, auth.StateKeySize)
		_, _ = rand.Read(key)
		cfg := s.cfg
		cfg.StateKey = key
		a, b := newLogin(t, cfg), newLogin(t, cfg)
		rec := httptest.NewRecorder()
		a.Start(rec, httptest.NewRequest(http.MethodGet, s.console.URL+startPath, nil), "/console/incidents")
		cookie, callback := s.authorize(t, rec.Result())
		req := httptest.NewRequest(http.MethodGet, callback.String(), nil)
		req.AddCookie(cookie)
		token, next, err := b.Finish(httptest.NewRecorder(), req)
		if err != nil || token == "" || next != "/console/incidents" {
			t.Fatalf("Finish on another instance with the same key = %d bytes of token, %q, %v", len(token), next, err)
		}
	})
	t.Run("provider refuses (access_denied)", refusedBy(func(p *testProvider) { p.deny = "access_denied" },
		http.StatusUnauthorized, `identity provider refused the sign-in: "access_denied" ("The user declined the sign-in.")`))
	t.Run("no code", func(t *testing.T) {
		cookie, callback := s.begin(t, "/console/")
		cb := withQuery(callback, "code", "")
		resp, body := s.callback(t, cb, cookie)
		check(t, resp, body, http.StatusUnauthorized, "no authorization code", true, callback)
	})
	t.Run("code of another sign-in (PKCE)", func(t *testing.T) {
		// The attacker's code in the victim's callback, with the victim's state: the state matches the
		// victim's cookie, but the code verifier is the victim's, not the attacker's.
		_, attackers := s.begin(t, "/console/")
		victims, victimsCallback := s.begin(t, "/console/")
		cb := withQuery(attackers, "state", victimsCallback.Query().Get("state"))
		resp, body := s.callback(t, cb, victims)
		check(t, resp, body, http.StatusUnauthorized, `token endpoint refused the code: "invalid_grant"`, true, cb)
		if _, refusal := s.idp.lastToken(); !strings.Contains(refusal, "code_verifier") {
			t.Errorf("token endpoint refusal %q, want the code_verifier check", refusal)
		}
	})
	t.Run("wrong client secret", refusedBy(func(p *testProvider) { p.secret = "rotated" },
		http.StatusUnauthorized, `token endpoint refused the code: "invalid_client"`))
	t.Run("token endpoint down", refusedBy(func(p *testProvider) { p.tokenDown = true },
		http.StatusBadGateway, "token endpoint answered 503 Service Unavailable"))
	t.Run("wrong nonce in the ID token", refusedBy(func(p *testProvider) {
		p.idClaims = func(c map[string]any) { c["nonce"] = rand.Text() }
	}, http.StatusUnauthorized, "nonce is not this sign-in's"))
	t.Run("no nonce in the ID token", refusedBy(func(p *testProvider) {
		p.idClaims = func(c map[string]any) { delete(c, "nonce") }
	}, http.StatusUnauthorized, "nonce is not this sign-in's"))
	t.Run("ID token for another audience", refusedBy(func(p *testProvider) {
		p.idClaims = func(c map[string]any) { c["aud"] = "api://something-else" }
	}, http.StatusUnauthorized, "audience"))
	t.Run("ID token of another issuer", refusedBy(func(p *testProvider) {
		p.idClaims = func(c map[string]any) { c["iss"] = "https://evil.example.com" }
	}, http.StatusUnauthorized, "issued by a different provider"))
	t.Run("expired ID token", refusedBy(func(p *testProvider) {
		p.idClaims = func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }
	}, http.StatusUnauthorized, "expired"))
	t.Run("ID token signed by another key", refusedBy(func(p *testProvider) { p.idKey = otherKey },
		http.StatusUnauthorized, "signature"))
}

func TestNewOIDCLoginRefuses(t *testing.T) {
	s := newSignIn(t, testClientSecret, nil)
	noS256 := newTestProvider(t, "", map[string]any{"code_challenge_methods_supported": []string{"plain"}})
	jwtOnly := newTestProvider(t, testClientSecret, map[string]any{"token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
	noAuthorize := newTestProvider(t, testClientSecret, map[string]any{"authorization_endpoint": ""})
	with := func(change func(c *auth.OIDCLoginConfig)) auth.OIDCLoginConfig {
		cfg := s.cfg
		change(&cfg)
		return cfg
	}
	on := func(p *testProvider, secret string) auth.OIDCLoginConfig {
		return with(func(c *auth.OIDCLoginConfig) { c.Issuer, c.ClientSecret = p.srv.URL, secret })
	}
	tests := []struct {
		name string
		cfg  auth.OIDCLoginConfig
		want string
	}{
		{"no client ID", with(func(c *auth.OIDCLoginConfig) { c.ClientID = "" }), "client ID"},
		{"plain http issuer", with(func(c *auth.OIDCLoginConfig) { c.Issuer = "http://idp.example.com" }), "https"},
		{"relative redirect URL", with(func(c *auth.OIDCLoginConfig) { c.RedirectURL = callbackPath }), "absolute URL"},
		{"redirect URL without path", with(func(c *auth.OIDCLoginConfig) { c.RedirectURL = "https://guided.example.com" }), "absolute URL"},
		{"redirect URL with fragment", with(func(c *auth.OIDCLoginConfig) { c.RedirectURL += "#x" }), "absolute URL"},
		{"plain http redirect URL", with(func(c *auth.OIDCLoginConfig) { c.RedirectURL = "http://guided.example.com" + callbackPath }), "must be https"},
		{"short state key", with(func(c *auth.OIDCLoginConfig) { c.StateKey = make([]byte, 16) }), "state key has 16 bytes, want 32"},
		{"issuer unreachable", with(func(c *auth.OIDCLoginConfig) { c.HTTPClient = nil }), "certificate"},
		{"issuer without PKCE S256", on(noS256, ""), "lacks S256"},
		{"secret, issuer with private_key_jwt only", on(jwtOnly, testClientSecret), "neither client_secret_basic nor client_secret_post"},
		{"issuer without authorization endpoint", on(noAuthorize, testClientSecret), "no authorization_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewOIDCLogin(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewOIDCLogin = %v, want an error about %s", err, tt.want)
			}
		})
	}
	// A public client needs no client authentication method.
	newLogin(t, on(jwtOnly, ""))
}

func TestOIDCLoginNext(t *testing.T) {
	s := newSignIn(t, testClientSecret, nil)
	for _, next := range []string{"//evil.example", "https://evil.example", "/\\evil", "/\t/evil.example", "javascript:alert(1)", ""} {
		t.Run(next, func(t *testing.T) {
			res, _ := s.run(t, s.browser(t, true), next)
			if res.Next != "/console/" {
				t.Fatalf("next = %q, want /console/", res.Next)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct {
		next string
		want string // "": next itself
	}{
		{"/console/", ""},
		{"/console/incidents/42?tab=cards#pane", ""},
		{"/", ""},
		{"/console/%2F%2Fevil.example", ""}, // a path: browsers do not decode %2F into the authority
		{"", "/console/"},
		{"//evil.example", "/console/"},
		{"//evil.example/console/", "/console/"},
		{"///evil.example", "/console/"},
		{"https://evil.example", "/console/"},
		{"https:evil.example", "/console/"},
		{"javascript:alert(1)", "/console/"},
		{"/\\evil.example", "/console/"},
		{"\\\\evil.example", "/console/"},
		{"/console\\..\\\\evil.example", "/console/"},
		{"/\t/evil.example", "/console/"},
		{"/\n/evil.example", "/console/"},
		{"/\r\nLocation: https://evil.example", "/console/"},
		{" /console/", "/console/"},
		{"console/", "/console/"},
		{"evil.example", "/console/"},
		{"/console/\x7f", "/console/"},
		{"/console/\xff", "/console/"},
		{"/" + strings.Repeat("a", 1024), "/console/"},
	}
	for _, tt := range tests {
		want := tt.want
		if want == "" {
			want = tt.next
		}
		if got := auth.SafeNext(tt.next); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", tt.next, got, want)
		}
	}
}

// FuzzSafeNext: SafeNext answers its input or /console/, and what it answers is a path of this site
// however a browser reads it.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/", "//evil.example", "/\\evil", "https://evil.example", "/\t/x", "/a?b=c#d", "/%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := auth.SafeNext(next)
		if got != next && got != "/console/" {
			t.Fatalf("SafeNext(%q) = %q", next, got)
		}
		// Browsers drop tabs and newlines and read a backslash as a slash.
		read := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		if !strings.HasPrefix(read, "/") || strings.HasPrefix(read, "//") {
			t.Fatalf("SafeNext(%q) = %q, which a browser reads as %q", next, got, read)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" {
			t.Fatalf("SafeNext(%q) = %q: parsed %+v, %v", next, got, u, err)
		}
		base, _ := url.Parse("https://guided.example.com/console/oidc/callback")
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("SafeNext(%q) = %q leaves the site: %s", next, got, r)
		}
	})
}

// FuzzOIDCLoginStateCookie: a callback with any state cookie, state and code never signs in (the
// provider issued no such code) and never panics.
func FuzzOIDCLoginStateCookie(f *testing.F) {
	s := newSignIn(f, testClientSecret, nil)
	rec := httptest.NewRecorder()
	s.login.Start(rec, httptest.NewRequest(http.MethodGet, s.console.URL+startPath, nil), "/console/")
	sealed := rec.Result().Cookies()[0]
	to, err := rec.Result().Location()
	if err != nil {
		f.Fatal(err)
	}
	state := to.Query().Get("state")
	f.Add(sealed.Value, state, "not-issued") // opens and matches: the token endpoint refuses the code
	f.Add(sealed.Value, "", "")
	f.Add(sealed.Value[:len(sealed.Value)-1], state, "x")
	f.Add("", "", "")
	f.Add("AAAA", "state", "code")
	f.Add(`"quoted"; other=1`, "x", "y")
	f.Fuzz(func(t *testing.T, cookie, state, code string) {
		q := url.Values{"state": {state}, "code": {code}}
		r := httptest.NewRequest(http.MethodGet, s.console.URL+callbackPath+"?"+q.Encode(), nil)
		r.Header.Set("Cookie", sealed.Name+"="+cookie)
		token, next, err := s.login.Finish(httptest.NewRecorder(), r)
		if err == nil || token != "" || next != "" {
			t.Fatalf("Finish(cookie %q, state %q, code %q) = %d bytes of token, %q, %v; want a refusal", cookie, state, code, len(token), next, err)
		}
	})
}
