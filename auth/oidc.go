package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/hashicorp/go-hclog"
)

// ViaOIDC is Principal.Via for a caller authenticated by an OpenID Connect JWT.
const ViaOIDC = "oidc"

// Default claims of OIDCConfig.
const (
	DefaultTenantClaim = "tid"
	// The principal is the first of these claims the token has, when OIDCConfig.PrincipalClaim is empty.
	DefaultPrincipalClaim = "email"
)

var defaultPrincipalClaims = []string{DefaultPrincipalClaim, "preferred_username", "sub"}

// discoveryTimeout bounds each request to the issuer when OIDCConfig.HTTPClient is nil.
const discoveryTimeout = 10 * time.Second

// OIDCConfig says which issuer's JWTs the API accepts and how their claims name the principal.
type OIDCConfig struct {
	// Issuer is the issuer URL, exactly as the provider's discovery document and the tokens' "iss"
	// claim say it (e.g. https://login.microsoftonline.com/TENANT/v2.0). https, or http on a loopback
	// address for development.
	Issuer string
	// Audience is the API's client ID: tokens must name it in "aud".
	Audience string
	// TenantClaim names the claim holding the tenant ID; DefaultTenantClaim ("tid") when empty.
	TenantClaim string
	// PrincipalClaim names the claim holding the principal ID. When empty, the first of "email",
	// "preferred_username" and "sub" the token has; an "email" with "email_verified": false is refused.
	PrincipalClaim string
	// HTTPClient fetches the discovery document and the keys; a client with a 10s timeout when nil.
	HTTPClient *http.Client
	// Logger receives the reasons for refused tokens (debug level); none when nil.
	Logger hclog.Logger
}

// OIDCAuthenticator authenticates requests bearing a JWT from the configured issuer: signature (keys
// from the issuer's JWKS, refreshed when an unknown key ID appears), issuer, audience and expiry are
// verified. It is safe for concurrent use.
type OIDCAuthenticator struct {
	verifier       *oidc.IDTokenVerifier
	tenantClaim    string
	principalClaim string
	logger         hclog.Logger
}

var _ Authenticator = (*OIDCAuthenticator)(nil)

// NewOIDC reads the issuer's discovery document (ISSUER/.well-known/openid-configuration) and returns
// an authenticator of its tokens. It fails when the issuer cannot be reached or names itself
// differently.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDCAuthenticator, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("oidc: %w: the audience (the API's client ID at %s) is empty", ErrInvalid, cfg.Issuer)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: discoveryTimeout}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	// The provider keeps this context's HTTP client (not its deadline) to fetch keys later.
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover issuer %s: %w", cfg.Issuer, err)
	}
	a := &OIDCAuthenticator{
		verifier:       provider.Verifier(&oidc.Config{ClientID: cfg.Audience}),
		tenantClaim:    cfg.TenantClaim,
		principalClaim: cfg.PrincipalClaim,
		logger:         logger,
	}
	if a.tenantClaim == "" {
		a.tenantClaim = DefaultTenantClaim
	}
	return a, nil
}

// checkIssuer refuses an issuer URL that is not absolute https (http only on a loopback address).
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: issuer %q is not an absolute URL like https://idp.example.com/realm", ErrInvalid, issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%w: issuer %q must be https (http only on localhost)", ErrInvalid, issuer)
}

// Authenticate establishes the principal of a request bearing a JWT ("Authorization: Bearer eyJ...").
// ErrNotHandled for an API token (grt_...); ErrUnauthenticated when there is no credential, or the JWT
// does not verify or lacks the tenant or principal claim (the reason is logged at debug level).
func (a *OIDCAuthenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	cred, err := bearerCredential(r)
	if err != nil {
		a.logger.Debug("refused request", "reason", err)
		return Principal{}, ErrUnauthenticated
	}
	if strings.HasPrefix(cred, tokenPrefix) {
		return Principal{}, ErrNotHandled
	}
	token, err := a.verifier.Verify(ctx, cred)
	if err != nil {
		a.logger.Debug("refused JWT", "reason", err)
		return Principal{}, ErrUnauthenticated
	}
	var claims map[string]json.RawMessage
	if err := token.Claims(&claims); err != nil {
		a.logger.Debug("refused JWT", "reason", err)
		return Principal{}, ErrUnauthenticated
	}
	tenant, ok := stringClaim(claims, a.tenantClaim)
	if !ok || checkTenant(tenant) != nil {
		a.logger.Debug("refused JWT", "subject", token.Subject, "reason", "no tenant claim "+a.tenantClaim)
		return Principal{}, ErrUnauthenticated
	}
	principal, err := a.principalOf(claims)
	if err != nil {
		a.logger.Debug("refused JWT", "subject", token.Subject, "reason", err)
		return Principal{}, ErrUnauthenticated
	}
	return Principal{TenantID: tenant, ID: principal, Via: ViaOIDC}, nil
}

// principalOf reads the principal ID from the configured claim, or the first default claim present.
func (a *OIDCAuthenticator) principalOf(claims map[string]json.RawMessage) (string, error) {
	names := defaultPrincipalClaims
	if a.principalClaim != "" {
		names = []string{a.principalClaim}
	}
	for _, name := range names {
		v, ok := stringClaim(claims, name)
		if !ok {
			continue
		}
		if name == "email" && emailUnverified(claims) {
			return "", errors.New("email not verified")
		}
		return v, nil
	}
	return "", fmt.Errorf("no principal claim (%s)", strings.Join(names, ", "))
}

// emailUnverified tells whether the token says its email is not verified: "email_verified" false, or
// "false" as some providers send it.
func emailUnverified(claims map[string]json.RawMessage) bool {
	switch strings.TrimSpace(string(claims["email_verified"])) {
	case "false", `"false"`:
		return true
	}
	return false
}

// stringClaim is a claim's value when it is a non-empty string.
func stringClaim(claims map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := claims[name]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", false
	}
	return s, true
}
