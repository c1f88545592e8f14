package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ErrNotHandled: the request carries a credential of a kind this authenticator does not handle (an
// OIDC authenticator given an API token, or the reverse). It wraps ErrUnauthenticated, so an
// authenticator used alone answers 401; a Chain tries the next one.
var ErrNotHandled = fmt.Errorf("%w: credential of another kind", ErrUnauthenticated)

// Chain authenticates a request with the first of its authenticators that handles the request's kind
// of credential: API tokens (grt_...) go to a *TokenStore, other bearer credentials to an
// *OIDCAuthenticator. Only configured authenticators belong in it: leave OIDC out when no issuer is
// configured, and JWTs are then refused.
type Chain []Authenticator

var _ Authenticator = Chain(nil)

// Authenticate returns the principal the handling authenticator established, or its error:
// ErrUnauthenticated when there is no Authorization header, when no authenticator handles the
// credential, or when the credential does not verify; another error (ErrUnavailable...) when it could
// not be checked.
func (c Chain) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	if len(r.Header.Values("Authorization")) == 0 {
		return Principal{}, ErrUnauthenticated
	}
	for _, a := range c {
		p, err := a.Authenticate(ctx, r)
		if errors.Is(err, ErrNotHandled) {
			continue
		}
		return p, err
	}
	return Principal{}, ErrUnauthenticated
}
