package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/rbac"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type tokenEnv struct {
	tokens *auth.TokenStore
	access *rbac.Store
	db     *sqlx.DB
}

// newTokenEnv is a migrated database with principals alice@contoso.com (contoso), and
// alice@contoso.com and bob@fabrikam.com (fabrikam).
func newTokenEnv(t *testing.T) tokenEnv {
	t.Helper()
	db := pgtest.MigratedDB(t)
	env := tokenEnv{tokens: auth.NewTokenStore(db, hclog.NewNullLogger()), access: rbac.New(db, nil), db: db}
	for _, p := range []rbac.PrincipalInput{
		{TenantID: "contoso", ID: "alice@contoso.com"},
		{TenantID: "fabrikam", ID: "alice@contoso.com"}, // a guest: the same ID in another tenant
		{TenantID: "fabrikam", ID: "bob@fabrikam.com"},
	} {
		env.upsert(t, p)
	}
	return env
}

func (e tokenEnv) upsert(t *testing.T, p rbac.PrincipalInput) {
	t.Helper()
	if err := e.access.UpsertPrincipal(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (e tokenEnv) create(t *testing.T, tenant, principal string, ttl time.Duration) (string, auth.TokenInfo) {
	t.Helper()
	token, info, err := e.tokens.Create(context.Background(), tenant, principal, "test "+principal, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return token, info
}

func bearer(credential string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/incidents", nil)
	r.Header.Set("Authorization", "Bearer "+credential)
	return r
}

// authenticate returns the principal of a request bearing token, failing the test on an error that is
// not ErrUnauthenticated.
func authenticate(t *testing.T, a auth.Authenticator, r *http.Request) (auth.Principal, bool) {
	t.Helper()
	p, err := a.Authenticate(context.Background(), r)
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("Authenticate: %v, want a principal or ErrUnauthenticated", err)
		}
		if p != (auth.Principal{}) {
			t.Fatalf("Authenticate refused but returned principal %+v", p)
		}
		return p, false
	}
	return p, true
}

func TestTokenCreateAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	env := newTokenEnv(t)
	before := time.Now().Add(-time.Minute)
	token, info, err := env.tokens.Create(ctx, "contoso", "alice@contoso.com", "ticketing approvals", 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "grt_"+info.ID+"_") || len(token) != 72 || len(info.ID) != 24 {
		t.Fatalf("token %q (ID %q): want grt_<24 hex>_<43 base64url>", token, info.ID)
	}
	if info.TenantID != "contoso" || info.PrincipalID != "alice@contoso.com" || info.Name != "ticketing approvals" ||
		info.CreatedAt.Before(before) || info.ExpiresAt.Sub(info.CreatedAt) != 720*time.Hour ||
		!info.RevokedAt.IsZero() || !info.LastUsedAt.IsZero() {
		t.Fatalf("created %+v", info)
	}

	p, ok := authenticate(t, env.tokens, bearer(token))
	if want := (auth.Principal{TenantID: "contoso", ID: "alice@contoso.com", Via: "token"}); !ok || p != want {
		t.Fatalf("Authenticate = %+v, %v; want %+v", p, ok, want)
	}
	// The scheme name is case-insensitive.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "bearer "+token)
	if _, ok := authenticate(t, env.tokens, r); !ok {
		t.Error("lower-case bearer scheme refused")
	}

	list, err := env.tokens.List(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != info.ID || list[0].LastUsedAt.IsZero() {
		t.Fatalf("List = %+v, want the token, used", list)
	}

	if err := env.tokens.Revoke(ctx, "contoso", info.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := authenticate(t, env.tokens, bearer(token)); ok {
		t.Fatal("a revoked token authenticates")
	}
	list, _ = env.tokens.List(ctx, "contoso")
	if len(list) != 1 || list[0].RevokedAt.IsZero() {
		t.Fatalf("after Revoke, List = %+v", list)
	}
	revokedAt := list[0].RevokedAt
	if err := env.tokens.Revoke(ctx, "contoso", info.ID); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	list, _ = env.tokens.List(ctx, "contoso")
	if !list[0].RevokedAt.Equal(revokedAt) {
		t.Errorf("revoking again moved revoked_at from %v to %v", revokedAt, list[0].RevokedAt)
	}
	if err := env.tokens.Revoke(ctx, "contoso", "0123456789abcdef01234567"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Revoke of an unknown token = %v, want ErrNotFound", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	env := newTokenEnv(t)
	forever, info := env.create(t, "contoso", "alice@contoso.com", 0)
	if !info.ExpiresAt.IsZero() {
		t.Errorf("TTL 0: expires %v, want never", info.ExpiresAt)
	}
	if _, ok := authenticate(t, env.tokens, bearer(forever)); !ok {
		t.Error("a token without expiry is refused")
	}

	token, info := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	if _, ok := authenticate(t, env.tokens, bearer(token)); !ok {
		t.Fatal("a fresh token is refused")
	}
	// Two hours later: created two hours ago, expired one hour ago.
	if _, err := env.db.Exec(`UPDATE api_tokens SET created_at = now() - interval '2 hours',
		expires_at = now() - interval '1 hour' WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := authenticate(t, env.tokens, bearer(token)); ok {
		t.Fatal("an expired token authenticates")
	}

	for _, ttl := range []time.Duration{-time.Hour, time.Millisecond} {
		if _, _, err := env.tokens.Create(context.Background(), "contoso", "alice@contoso.com", "", ttl); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("TTL %s: %v, want ErrInvalid", ttl, err)
		}
	}
}

func TestTokenRefused(t *testing.T) {
	env := newTokenEnv(t)
	token, info := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	secret := token[len("grt_")+24+1:]
	otherSecret := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"wrong secret", []string{"Bearer grt_" + info.ID + "_" + otherSecret}},
		{"secret of another ID", []string{"Bearer grt_0123456789abcdef01234567_" + secret}},
		{"unknown ID", []string{"Bearer grt_" + strings.Repeat("f", 24) + "_" + otherSecret}},
		{"truncated", []string{"Bearer " + token[:len(token)-1]}},
		{"longer", []string{"Bearer " + token + "A"}},
		{"upper-case ID", []string{"Bearer grt_" + strings.ToUpper(info.ID) + "_" + secret}},
		{"padded secret", []string{"Bearer " + token + "="}},
		{"no scheme", []string{token}},
		{"basic scheme", []string{"Basic " + token}},
		{"scheme only", []string{"Bearer"}},
		{"scheme and space", []string{"Bearer "}},
		{"two credentials", []string{"Bearer " + token + " " + token}},
		{"two headers", []string{"Bearer " + token, "Bearer " + token}},
		{"control character", []string{"Bearer " + token + "\x00"}},
		{"quoted", []string{`Bearer "` + token + `"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.header {
				r.Header.Add("Authorization", h)
			}
			_, err := env.tokens.Authenticate(context.Background(), r)
			if err != auth.ErrUnauthenticated { // exactly: no detail in the error
				t.Fatalf("Authenticate = %v, want ErrUnauthenticated", err)
			}
		})
	}
	// Another kind of credential is left to the next authenticator of a Chain.
	if _, err := env.tokens.Authenticate(context.Background(), bearer("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")); !errors.Is(err, auth.ErrNotHandled) ||
		!errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a JWT: %v, want ErrNotHandled (an ErrUnauthenticated)", err)
	}
	// The real token still works after all that.
	if _, ok := authenticate(t, env.tokens, bearer(token)); !ok {
		t.Error("the token was refused")
	}
}

func TestTokenDisabledPrincipal(t *testing.T) {
	ctx := context.Background()
	env := newTokenEnv(t)
	token, _ := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	env.upsert(t, rbac.PrincipalInput{TenantID: "contoso", ID: "alice@contoso.com", Disabled: true})
	if _, ok := authenticate(t, env.tokens, bearer(token)); ok {
		t.Fatal("the token of a disabled principal authenticates")
	}
	if _, _, err := env.tokens.Create(ctx, "contoso", "alice@contoso.com", "", time.Hour); !errors.Is(err, auth.ErrInvalid) ||
		!strings.Contains(err.Error(), "disabled") {
		t.Errorf("Create for a disabled principal: %v, want ErrInvalid saying it is disabled", err)
	}
	env.upsert(t, rbac.PrincipalInput{TenantID: "contoso", ID: "alice@contoso.com"})
	if _, ok := authenticate(t, env.tokens, bearer(token)); !ok {
		t.Fatal("the token of a re-enabled principal is refused")
	}
}

func TestTokenUnknownPrincipal(t *testing.T) {
	ctx := context.Background()
	env := newTokenEnv(t)
	for _, tc := range []struct{ tenant, principal string }{
		{"contoso", "mallory@contoso.com"},
		{"contoso", "bob@fabrikam.com"}, // exists in fabrikam only
		{"northwind", "alice@contoso.com"},
	} {
		_, _, err := env.tokens.Create(ctx, tc.tenant, tc.principal, "", time.Hour)
		if !errors.Is(err, auth.ErrNotFound) || !strings.Contains(err.Error(), "has no principal "+tc.principal) {
			t.Errorf("Create for %s/%s: %v, want ErrNotFound naming the principal", tc.tenant, tc.principal, err)
		}
	}
	for _, tc := range []struct{ tenant, principal string }{{"", "alice@contoso.com"}, {"*", "alice@contoso.com"}, {"contoso", ""}} {
		if _, _, err := env.tokens.Create(ctx, tc.tenant, tc.principal, "", time.Hour); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("Create for %q/%q: %v, want ErrInvalid", tc.tenant, tc.principal, err)
		}
	}
	if _, _, err := env.tokens.Create(ctx, "contoso", "alice@contoso.com", "tab\there", time.Hour); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a name with a control character: %v, want ErrInvalid", err)
	}
	if list, err := env.tokens.List(ctx, "contoso"); err != nil || len(list) != 0 {
		t.Errorf("refused creations left tokens: %+v, %v", list, err)
	}
}

func TestTokenTenantScoping(t *testing.T) {
	ctx := context.Background()
	env := newTokenEnv(t)
	contosoToken, contosoInfo := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	guestToken, guestInfo := env.create(t, "fabrikam", "alice@contoso.com", time.Hour)

	// The same principal ID in two tenants: each token is its own tenant's.
	for token, tenant := range map[string]string{contosoToken: "contoso", guestToken: "fabrikam"} {
		p, ok := authenticate(t, env.tokens, bearer(token))
		if !ok || p.TenantID != tenant || p.ID != "alice@contoso.com" {
			t.Errorf("token of %s authenticates as %+v, %v", tenant, p, ok)
		}
	}
	for tenant, want := range map[string]string{"contoso": contosoInfo.ID, "fabrikam": guestInfo.ID} {
		list, err := env.tokens.List(ctx, tenant)
		if err != nil || len(list) != 1 || list[0].ID != want {
			t.Errorf("List(%s) = %+v, %v; want only %s", tenant, list, err, want)
		}
	}
	if list, err := env.tokens.List(ctx, "northwind"); err != nil || len(list) != 0 {
		t.Errorf("List of a tenant without tokens = %+v, %v", list, err)
	}
	// Another tenant cannot revoke it.
	if err := env.tokens.Revoke(ctx, "fabrikam", contosoInfo.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Revoke from another tenant = %v, want ErrNotFound", err)
	}
	if _, ok := authenticate(t, env.tokens, bearer(contosoToken)); !ok {
		t.Fatal("another tenant's Revoke revoked the token")
	}
}

// The database holds the SHA-256 of the secret, and nothing from which the token could be rebuilt.
func TestTokenSecretNotStored(t *testing.T) {
	env := newTokenEnv(t)
	token, info := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	encoded := token[len("grt_")+24+1:]
	secret, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	var hash []byte
	if err := env.db.Get(&hash, `SELECT secret_hash FROM api_tokens WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(secret); string(hash) != string(sum[:]) {
		t.Errorf("secret_hash = %x, want SHA-256 of the secret", hash)
	}
	var row string
	if err := env.db.Get(&row, `SELECT row_to_json(t)::text FROM api_tokens t WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	lower := strings.ToLower(row)
	for _, s := range []string{token, encoded, hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
		if strings.Contains(row, s) || strings.Contains(lower, strings.ToLower(s)) {
			t.Errorf("the row holds the secret (%s): %s", s, row)
		}
	}
}

func TestTokenLastUsed(t *testing.T) {
	env := newTokenEnv(t)
	token, info := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	lastUsed := func() *time.Time {
		t.Helper()
		var at *time.Time
		if err := env.db.Get(&at, `SELECT last_used_at FROM api_tokens WHERE token_id = $1`, info.ID); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if at := lastUsed(); at != nil {
		t.Fatalf("a new token was used at %v", at)
	}
	authenticate(t, env.tokens, bearer(token))
	first := lastUsed()
	if first == nil {
		t.Fatal("last_used_at not set by Authenticate")
	}
	authenticate(t, env.tokens, bearer(token))
	if again := lastUsed(); !again.Equal(*first) {
		t.Errorf("last_used_at moved from %v to %v within a minute", first, again)
	}
	if _, err := env.db.Exec(`UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	authenticate(t, env.tokens, bearer(token))
	var fresh bool
	if err := env.db.Get(&fresh, `SELECT now() - last_used_at < interval '1 minute' FROM api_tokens WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	if !fresh {
		t.Errorf("last_used_at not updated on a use two minutes after the last")
	}
	// A refused attempt is not a use.
	if _, err := env.db.Exec(`UPDATE api_tokens SET last_used_at = NULL WHERE token_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	authenticate(t, env.tokens, bearer("grt_"+info.ID+"_"+base64.RawURLEncoding.EncodeToString(make([]byte, 32))))
	if at := lastUsed(); at != nil {
		t.Errorf("a wrong secret recorded a use at %v", at)
	}
}

// When the database cannot answer, Authenticate says so instead of refusing: the API answers 503, not
// 401.
func TestTokenDatabaseDown(t *testing.T) {
	env := newTokenEnv(t)
	token, _ := env.create(t, "contoso", "alice@contoso.com", time.Hour)
	if err := env.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := env.tokens.Authenticate(context.Background(), bearer(token))
	if err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate with the database closed = %v, want an error other than ErrUnauthenticated", err)
	}
}
