// Package auth says who is calling the HTTP API: a bearer API token (stored hashed, scoped to one
// principal of one tenant, revocable) or an OpenID Connect JWT from a configured issuer. What the caller
// may do is rbac's business; auth only establishes the principal.
package auth

import (
	"context"
	"errors"
	"net/http"
)

// Principal is an authenticated caller.
type Principal struct {
	TenantID string `json:"tenantId"`
	ID       string `json:"id"`
	// Via says how it was authenticated: "token", "oidc", or "webhook:<source>".
	Via string `json:"via"`
}

// ErrUnauthenticated: no credentials, or credentials that do not verify. The API answers 401 and never
// says which part was wrong.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator establishes the principal of a request.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (Principal, error)
}
