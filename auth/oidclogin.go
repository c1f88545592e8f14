package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	// oidcStateCookie is the name of the state cookie; its value is also the AES-GCM additional data.
	oidcStateCookie = "guided_oidc_state"
	// oidcStateTTL bounds a sign-in, from Start to the callback.
	oidcStateTTL = 10 * time.Minute
	// defaultNext is where a sign-in returns when it was given no local path.
	defaultNext = "/console/"
	// maxNextLen bounds the path to return to, so that the state cookie stays far below 4 KiB.
	maxNextLen = 1024
	// maxProviderText bounds the provider's words quoted in an error.
	maxProviderText = 200
	// StateKeySize is the length of OIDCLoginConfig.StateKey (AES-256).
	StateKeySize = 32
)

var defaultLoginScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// OIDCLoginConfig configures the console's OpenID Connect sign-in (authorization code flow with PKCE).
type OIDCLoginConfig struct {
	// Issuer is the same issuer the API's OIDCAuthenticator trusts (OIDCConfig.Issuer).
	Issuer string
	// ClientID is the API's audience (OIDCConfig.Audience): the ID token's "aud" must name it.
	ClientID string
	// ClientSecret authenticates the client at the token endpoint (client_secret_basic, or
	// client_secret_post when that is all the issuer supports). Empty for a public client: PKCE only.
	ClientSecret string
	// RedirectURL is the callback registered at the issuer, as the browser reaches it, e.g.
	// https://guided.example.com/console/oidc/callback. https, or http on a loopback address for
	// development. The state cookie's path is its directory (/console/oidc/).
	RedirectURL string
	// Scopes requested; openid, email and profile when empty. openid is added when missing.
	Scopes []string
	// HTTPClient talks to the issuer (discovery, keys, token endpoint); a client with a 10s timeout
	// when nil.
	HTTPClient *http.Client
	// StateKey seals the state cookie: StateKeySize random bytes, the same on every instance behind one
	// RedirectURL. When empty, a random key of this process: a sign-in must then finish on the instance
	// that started it, and a restart in between makes the analyst start again.
	StateKey []byte
}

// OIDCLogin signs analysts in to the console with the OpenID Connect authorization code flow with PKCE
// (RFC 6749 section 4.1, RFC 7636, OpenID Connect Core section 3.1). Start keeps what the callback must
// check (state, nonce, PKCE code verifier, where to go next) in a short-lived cookie sealed with
// AES-GCM; Finish opens it, exchanges the code and verifies the ID token. Nothing is kept on the server:
// any instance sharing OIDCLoginConfig.StateKey can finish a sign-in another started. It is safe for
// concurrent use.
type OIDCLogin struct {
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	client     *http.Client
	seal       cipher.AEAD
	cookiePath string
	secure     bool // RedirectURL is https: the state cookie is always Secure
}

// loginState is what the state cookie carries, sealed.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	Next     string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// NewOIDCLogin reads the issuer's discovery document and returns the sign-in. It fails when the
// configuration is incomplete, or the issuer cannot be reached, names itself differently, has no
// authorization or token endpoint, or says it does not support PKCE with S256 or the client
// authentication a ClientSecret needs.
func NewOIDCLogin(ctx context.Context, cfg OIDCLoginConfig) (*OIDCLogin, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc sign-in: %w", err)
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("oidc sign-in: %w: the client ID (the API's audience at %s) is empty", ErrInvalid, cfg.Issuer)
	}
	redirect, err := checkRedirectURL(cfg.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("oidc sign-in: %w", err)
	}
	key := cfg.StateKey
	if len(key) == 0 {
		key = make([]byte, StateKeySize)
		_, _ = rand.Read(key) // never fails
	} else if len(key) != StateKeySize {
		return nil, fmt.Errorf("oidc sign-in: %w: the state key has %d bytes, want %d random bytes", ErrInvalid, len(key), StateKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oidc sign-in: state key: %w", err)
	}
	seal, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oidc sign-in: state key: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: discoveryTimeout}
	}
	// The provider keeps this context's HTTP client (not its deadline) to fetch keys later.
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc sign-in: discover issuer %s: %w", cfg.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if endpoint.AuthURL == "" || endpoint.TokenURL == "" {
		return nil, fmt.Errorf("oidc sign-in: %w: the discovery document of %s names no authorization_endpoint or no token_endpoint", ErrInvalid, cfg.Issuer)
	}
	endpoint.AuthStyle, err = tokenAuthStyle(provider, cfg.ClientSecret != "")
	if err != nil {
		return nil, fmt.Errorf("oidc sign-in: issuer %s: %w", cfg.Issuer, err)
	}
	scopes := slices.Clone(cfg.Scopes)
	if len(scopes) == 0 {
		scopes = slices.Clone(defaultLoginScopes)
	} else if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	cookiePath := path.Dir(redirect.EscapedPath())
	if !strings.HasSuffix(cookiePath, "/") {
		cookiePath += "/"
	}
	return &OIDCLogin{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		verifier:   provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		client:     client,
		seal:       seal,
		cookiePath: cookiePath,
		secure:     redirect.Scheme == "https",
	}, nil
}

// checkRedirectURL refuses a redirect URL that is not absolute https (http only on a loopback address)
// with a path.
func checkRedirectURL(redirect string) (*url.URL, error) {
	u, err := url.Parse(redirect)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("%w: redirect URL %q is not an absolute URL like https://guided.example.com/console/oidc/callback", ErrInvalid, redirect)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: redirect URL %q must be https (http only on localhost)", ErrInvalid, redirect)
}

// tokenAuthStyle chooses how the client authenticates at the token endpoint: client_id in the body for
// a public client; otherwise client_secret_basic unless the issuer says it supports only
// client_secret_post. It also refuses an issuer that says it does not support PKCE with S256.
func tokenAuthStyle(provider *oidc.Provider, confidential bool) (oauth2.AuthStyle, error) {
	var meta struct {
		AuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
		ChallengeMethods []string `json:"code_challenge_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return 0, fmt.Errorf("read discovery document: %w", err)
	}
	if len(meta.ChallengeMethods) > 0 && !slices.Contains(meta.ChallengeMethods, "S256") {
		return 0, fmt.Errorf("%w: code_challenge_methods_supported %q lacks S256, which the sign-in requires (PKCE)", ErrInvalid, meta.ChallengeMethods)
	}
	switch {
	case !confidential:
		return oauth2.AuthStyleInParams, nil
	case len(meta.AuthMethods) == 0 || slices.Contains(meta.AuthMethods, "client_secret_basic"): // the default of OpenID Connect Discovery
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(meta.AuthMethods, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("%w: token_endpoint_auth_methods_supported %q has neither client_secret_basic nor client_secret_post; "+
		"register the client with one of those or as a public client (no secret)", ErrInvalid, meta.AuthMethods)
}

// Start begins a sign-in: it sets a short-lived, HttpOnly, SameSite=Lax state cookie (state, nonce, PKCE
// code verifier and the local path to return to, sealed with AES-GCM so that it can be neither read nor
// forged nor altered) and redirects (302) the browser to the issuer's authorization endpoint with
// response_type=code, state, nonce and code_challenge (S256). next is the local path to return to after
// Finish; anything else (another host, a scheme, "//host") is replaced by /console/ (see SafeNext).
//
// A second Start in the same browser replaces the first one's cookie: only the later sign-in can finish.
func (l *OIDCLogin) Start(w http.ResponseWriter, r *http.Request, next string) {
	st := loginState{
		State:    randomText(),
		Nonce:    randomText(),
		Verifier: oauth2.GenerateVerifier(),
		Next:     SafeNext(next),
		Expires:  time.Now().Add(oidcStateTTL).Unix(),
	}
	http.SetCookie(w, l.stateCookie(r, l.sealState(st), int(oidcStateTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, l.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

// Finish completes a sign-in at the callback: it checks the callback's state against the state cookie,
// refuses the issuer's error (error=access_denied, ...), exchanges the code at the token endpoint (with
// the PKCE code verifier and the client's credentials), verifies the ID token (signature with the
// issuer's keys, issuer, audience = ClientID, expiry, nonce) and returns it, raw, with the local path
// to go to next. The state cookie is cleared whatever the outcome: a sign-in finishes once.
//
// Refusals (no or altered state cookie, state mismatch, the issuer's error, the token endpoint's refusal,
// an ID token that does not verify) wrap ErrUnauthenticated; the issuer unreachable or failing does not.
// The errors say what was wrong for the analyst and the log; they never hold a code, token or secret.
func (l *OIDCLogin) Finish(w http.ResponseWriter, r *http.Request) (idToken string, next string, err error) {
	q := r.URL.Query()
	http.SetCookie(w, l.stateCookie(r, "", -1))
	// The callback's URL holds the code: keep it out of caches and of the Referer of what comes next.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	st, err := l.openState(r, q.Get("state"))
	if err != nil {
		return "", "", err
	}
	if code := q.Get("error"); code != "" {
		msg := providerText(code)
		if desc := q.Get("error_description"); desc != "" {
			msg += " (" + providerText(desc) + ")"
		}
		return "", "", refused("the identity provider refused the sign-in: %s", msg)
	}
	code := q.Get("code")
	if code == "" {
		return "", "", refused("the callback has no authorization code; start again")
	}
	ctx := oidc.ClientContext(r.Context(), l.client)
	token, err := l.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return "", "", exchangeError(err)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return "", "", refused("the token endpoint returned no ID token; is the openid scope granted to this client?")
	}
	id, err := l.verifier.Verify(ctx, raw)
	if err != nil {
		return "", "", refused("the ID token does not verify: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(st.Nonce)) != 1 {
		return "", "", refused("the ID token's nonce is not this sign-in's; start again")
	}
	return raw, SafeNext(st.Next), nil
}

// errNoStateCookie: the callback came without a state cookie.
var errNoStateCookie = fmt.Errorf("oidc sign-in: %w: no sign-in in progress in this browser (no state cookie: "+
	"it expired after %d minutes, was used already, or cookies are blocked); start again", ErrUnauthenticated, int(oidcStateTTL.Minutes()))

// refused is a refusal of the sign-in: it wraps ErrUnauthenticated.
func refused(format string, args ...any) error {
	return fmt.Errorf("oidc sign-in: %w: "+format, append([]any{ErrUnauthenticated}, args...)...)
}

// openState opens the request's state cookie that names the callback's state and is not expired. When
// the browser sends several cookies of that name (set for other paths), each is tried.
func (l *OIDCLogin) openState(r *http.Request, state string) (*loginState, error) {
	cookies := r.CookiesNamed(oidcStateCookie)
	if len(cookies) == 0 {
		return nil, errNoStateCookie
	}
	opened := false
	for _, c := range cookies {
		st, ok := l.openStateValue(c.Value)
		if !ok {
			continue
		}
		opened = true
		if state != "" && subtle.ConstantTimeCompare([]byte(state), []byte(st.State)) == 1 {
			if time.Now().Unix() > st.Expires {
				return nil, refused("the sign-in took longer than %d minutes; start again", int(oidcStateTTL.Minutes()))
			}
			return st, nil
		}
	}
	if !opened {
		return nil, refused("the state cookie does not verify (altered, or sealed by another instance or before a restart); start again")
	}
	return nil, refused("the callback's state does not match this browser's sign-in (another sign-in started meanwhile, or a forged callback); start again")
}

// sealState is the state cookie's value: a random AES-GCM nonce and the sealed JSON of st, base64url.
func (l *OIDCLogin) sealState(st loginState) string {
	plain, _ := json.Marshal(st) // strings and an integer: cannot fail
	nonce := make([]byte, l.seal.NonceSize(), l.seal.NonceSize()+len(plain)+l.seal.Overhead())
	_, _ = rand.Read(nonce) // never fails
	return base64.RawURLEncoding.EncodeToString(l.seal.Seal(nonce, nonce, plain, []byte(oidcStateCookie)))
}

// openStateValue opens a state cookie's value; false when it was not sealed by this key or is incomplete.
func (l *OIDCLogin) openStateValue(value string) (*loginState, bool) {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < l.seal.NonceSize()+l.seal.Overhead() {
		return nil, false
	}
	n := l.seal.NonceSize()
	plain, err := l.seal.Open(nil, sealed[:n], sealed[n:], []byte(oidcStateCookie))
	if err != nil {
		return nil, false
	}
	var st loginState
	if err := json.Unmarshal(plain, &st); err != nil || st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return nil, false
	}
	return &st, true
}

// stateCookie is the state cookie with value; maxAge -1 deletes it.
func (l *OIDCLogin) stateCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     oidcStateCookie,
		Value:    value,
		Path:     l.cookiePath,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   l.secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode, // sent on the provider's top-level redirect back, not on cross-site subrequests
	}
}

// exchangeError says why the token endpoint did not give a token, without its response body (which a
// provider may fill with anything).
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("oidc sign-in: exchange the code at the token endpoint: %w", err)
	}
	status := "no response"
	code := 0
	if re.Response != nil {
		status, code = re.Response.Status, re.Response.StatusCode
	}
	if re.ErrorCode == "" || code >= 500 {
		if code >= 400 && code < 500 {
			return refused("the token endpoint refused the code: %s", status)
		}
		return fmt.Errorf("oidc sign-in: the token endpoint answered %s; try again later", status)
	}
	msg := providerText(re.ErrorCode)
	if re.ErrorDescription != "" {
		msg += " (" + providerText(re.ErrorDescription) + ")"
	}
	return refused("the token endpoint refused the code: %s", msg)
}

// providerText quotes a provider's words for an error: at most maxProviderText bytes, control characters
// escaped.
func providerText(s string) string {
	if len(s) > maxProviderText {
		cut := maxProviderText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// randomText is 256 random bits, base64url-encoded.
func randomText() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// SafeNext returns next when it is a path on this site to return to after signing in, else /console/.
// A local path starts with one "/" (not "//" or "/\", which browsers read as another host), has no
// backslash or control character (browsers drop tabs and newlines, turning "/\t/evil" into "//evil"),
// parses as a URL without scheme or host, and is at most 1024 bytes.
func SafeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) {
		return defaultNext
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return defaultNext
		}
	}
	if !utf8.ValidString(next) {
		return defaultNext
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return defaultNext
	}
	return next
}
