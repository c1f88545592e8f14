package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/auth"
)

func TestChain(t *testing.T) {
	env := newTokenEnv(t)
	idp := newTestIssuer(t)
	oidc := idp.authenticator(t, auth.OIDCConfig{})
	apiToken, _ := env.create(t, "fabrikam", "bob@fabrikam.com", time.Hour)
	jwt := sign(t, idp.key, idp.claims())
	bob := auth.Principal{TenantID: "fabrikam", ID: "bob@fabrikam.com", Via: "token"}
	alice := auth.Principal{TenantID: "contoso", ID: "alice@contoso.com", Via: "oidc"}

	for _, chain := range []auth.Chain{{env.tokens, oidc}, {oidc, env.tokens}} { // the order does not matter
		for credential, want := range map[string]auth.Principal{apiToken: bob, jwt: alice} {
			p, err := chain.Authenticate(context.Background(), bearer(credential))
			if err != nil || p != want {
				t.Errorf("Authenticate = %+v, %v; want %+v", p, err, want)
			}
		}
	}

	full := auth.Chain{env.tokens, oidc}
	for name, r := range map[string]*http.Request{
		"no header":    httptest.NewRequest(http.MethodGet, "/", nil),
		"basic":        func() *http.Request { r := bearer(""); r.Header.Set("Authorization", "Basic dXNlcjpwYXNz"); return r }(),
		"wrong secret": bearer(apiToken[:len(apiToken)-43] + strings.Repeat("A", 43)),
		"bad jwt":      bearer(jwt[:len(jwt)-4] + "AAAA"),
	} {
		if _, err := full.Authenticate(context.Background(), r); err != auth.ErrUnauthenticated {
			t.Errorf("%s: Authenticate = %v, want ErrUnauthenticated", name, err)
		}
	}

	// Without OIDC configured, a JWT is refused; an empty chain refuses everything.
	for name, chain := range map[string]auth.Chain{"tokens only": {env.tokens}, "empty": nil} {
		if _, err := chain.Authenticate(context.Background(), bearer(jwt)); err != auth.ErrUnauthenticated {
			t.Errorf("%s: a JWT: %v, want ErrUnauthenticated", name, err)
		}
	}
	if _, err := (auth.Chain{oidc}).Authenticate(context.Background(), bearer(apiToken)); err != auth.ErrUnauthenticated {
		t.Errorf("OIDC only: an API token: %v, want ErrUnauthenticated", err)
	}

	// A failure to check is passed on, not turned into a refusal.
	broken := auth.Chain{failing{}, oidc}
	if _, err := broken.Authenticate(context.Background(), bearer(apiToken)); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("a failing authenticator: %v, want its ErrUnavailable", err)
	}
}

type failing struct{}

func (failing) Authenticate(context.Context, *http.Request) (auth.Principal, error) {
	return auth.Principal{}, auth.ErrUnavailable
}
