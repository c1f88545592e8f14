package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/guided-response/guided/auth"
)

const testAudience = "api://guided-response"

// testIssuer is an OpenID provider on a local TLS server: a discovery document and a JWKS with one RSA
// key, which signs the tokens it issues.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
	// mux routes the server's requests; tests may add endpoints (oidclogin_test.go adds /authorize and
	// /token).
	mux *http.ServeMux
	// metadata holds more fields of the discovery document; set it before the first request.
	metadata map[string]any
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	p := &testIssuer{key: newRSAKey(t), mux: http.NewServeMux()}
	mux := p.mux
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{
			"issuer":                                p.srv.URL,
			"authorization_endpoint":                p.srv.URL + "/authorize",
			"token_endpoint":                        p.srv.URL + "/token",
			"jwks_uri":                              p.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		}
		maps.Copy(doc, p.metadata)
		writeJSON(w, doc)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
		}})
	})
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the untrusted-certificate test
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// claims are those of a valid token of alice@contoso.com in tenant contoso, issued by p.
func (p *testIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":                p.srv.URL,
		"aud":                testAudience,
		"sub":                "00u1a2b3c4",
		"tid":                "contoso",
		"email":              "alice@contoso.com",
		"preferred_username": "alice",
		"iat":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
	}
}

// sign signs claims with key, naming key ID k1.
func sign(t testing.TB, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func (p *testIssuer) authenticator(t *testing.T, cfg auth.OIDCConfig) *auth.OIDCAuthenticator {
	t.Helper()
	cfg.Issuer, cfg.HTTPClient = p.srv.URL, p.srv.Client()
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	a, err := auth.NewOIDC(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOIDC(t *testing.T) {
	idp := newTestIssuer(t)
	a := idp.authenticator(t, auth.OIDCConfig{})
	otherKey := newRSAKey(t)
	b64 := base64.RawURLEncoding.EncodeToString

	with := func(change func(c map[string]any)) string {
		c := idp.claims()
		change(c)
		return sign(t, idp.key, c)
	}
	noneToken := func() string {
		payload, _ := json.Marshal(idp.claims())
		return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."
	}()
	valid := sign(t, idp.key, idp.claims())
	parts := strings.Split(valid, ".")
	alice := auth.Principal{TenantID: "contoso", ID: "alice@contoso.com", Via: "oidc"}

	tests := []struct {
		name  string
		token string
		want  auth.Principal // zero: refused
	}{
		{"valid", valid, alice},
		{"several audiences", with(func(c map[string]any) { c["aud"] = []string{"other", testAudience} }), alice},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = "api://something-else" }), auth.Principal{}},
		{"no audience", with(func(c map[string]any) { delete(c, "aud") }), auth.Principal{}},
		{"expired", with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), auth.Principal{}},
		{"no expiry", with(func(c map[string]any) { delete(c, "exp") }), auth.Principal{}},
		{"not yet valid", with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), auth.Principal{}},
		{"wrong issuer", with(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), auth.Principal{}},
		{"bad signature (another key)", sign(t, otherKey, idp.claims()), auth.Principal{}},
		{"payload swapped", parts[0] + "." + b64([]byte(`{"tid":"fabrikam"}`)) + "." + parts[2], auth.Principal{}},
		{"signature removed", parts[0] + "." + parts[1] + ".", auth.Principal{}},
		{"alg none", noneToken, auth.Principal{}},
		{"missing tenant claim", with(func(c map[string]any) { delete(c, "tid") }), auth.Principal{}},
		{"empty tenant claim", with(func(c map[string]any) { c["tid"] = "" }), auth.Principal{}},
		{"tenant claim not a string", with(func(c map[string]any) { c["tid"] = 42 }), auth.Principal{}},
		{"reserved tenant", with(func(c map[string]any) { c["tid"] = "*" }), auth.Principal{}},
		{"no email: preferred_username", with(func(c map[string]any) { delete(c, "email") }),
			auth.Principal{TenantID: "contoso", ID: "alice", Via: "oidc"}},
		{"only sub", with(func(c map[string]any) { delete(c, "email"); delete(c, "preferred_username") }),
			auth.Principal{TenantID: "contoso", ID: "00u1a2b3c4", Via: "oidc"}},
		{"no principal claim", with(func(c map[string]any) {
			delete(c, "email")
			delete(c, "preferred_username")
			delete(c, "sub")
		}), auth.Principal{}},
		{"email not verified", with(func(c map[string]any) { c["email_verified"] = false }), auth.Principal{}},
		{"email not verified, as a string", with(func(c map[string]any) { c["email_verified"] = "false" }), auth.Principal{}},
		{"email verified", with(func(c map[string]any) { c["email_verified"] = true }), alice},
		{"garbage", "not-a-jwt", auth.Principal{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), bearer(tt.token))
			if tt.want == (auth.Principal{}) {
				if err != auth.ErrUnauthenticated { // exactly: no detail in the error
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", p, err)
				}
				return
			}
			if err != nil || p != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v", p, err, tt.want)
			}
		})
	}

	t.Run("no header", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if _, err := a.Authenticate(context.Background(), r); err != auth.ErrUnauthenticated {
			t.Fatalf("Authenticate = %v, want ErrUnauthenticated", err)
		}
	})
	t.Run("API token left to the token store", func(t *testing.T) {
		_, err := a.Authenticate(context.Background(), bearer("grt_0123456789abcdef01234567_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"))
		if !errors.Is(err, auth.ErrNotHandled) {
			t.Fatalf("Authenticate = %v, want ErrNotHandled", err)
		}
	})
}

func TestOIDCClaims(t *testing.T) {
	idp := newTestIssuer(t)
	c := idp.claims()
	c["org"], c["upn"] = "northwind", "alice@northwind.com"
	token := sign(t, idp.key, c)

	a := idp.authenticator(t, auth.OIDCConfig{TenantClaim: "org", PrincipalClaim: "upn"})
	p, err := a.Authenticate(context.Background(), bearer(token))
	if want := (auth.Principal{TenantID: "northwind", ID: "alice@northwind.com", Via: "oidc"}); err != nil || p != want {
		t.Fatalf("configured claims: %+v, %v; want %+v", p, err, want)
	}
	// A configured principal claim has no fallback.
	delete(c, "upn")
	if _, err := a.Authenticate(context.Background(), bearer(sign(t, idp.key, c))); err != auth.ErrUnauthenticated {
		t.Fatalf("without the configured principal claim: %v, want ErrUnauthenticated", err)
	}
	// Another audience configured: the same token is refused.
	other := idp.authenticator(t, auth.OIDCConfig{Audience: "api://other"})
	if _, err := other.Authenticate(context.Background(), bearer(token)); err != auth.ErrUnauthenticated {
		t.Fatalf("token for another audience: %v, want ErrUnauthenticated", err)
	}
}

func TestNewOIDCRefuses(t *testing.T) {
	idp := newTestIssuer(t)
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  auth.OIDCConfig
		want string
	}{
		{"plain http", auth.OIDCConfig{Issuer: "http://idp.example.com", Audience: testAudience}, "https"},
		{"not a URL", auth.OIDCConfig{Issuer: "idp.example.com", Audience: testAudience}, "absolute URL"},
		{"no audience", auth.OIDCConfig{Issuer: idp.srv.URL, HTTPClient: idp.srv.Client()}, "audience"},
		// The discovery document names the server's URL, not this one.
		{"issuer mismatch", auth.OIDCConfig{Issuer: idp.srv.URL + "/", Audience: testAudience, HTTPClient: idp.srv.Client()}, "issuer"},
		// The default client does not trust the test server's certificate.
		{"untrusted certificate", auth.OIDCConfig{Issuer: idp.srv.URL, Audience: testAudience}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewOIDC(ctx, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewOIDC = %v, want an error about %s", err, tt.want)
			}
		})
	}
}
