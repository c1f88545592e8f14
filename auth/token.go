package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
)

// An API token is "grt_", the token ID (12 random bytes, hex) that finds it, "_", and the secret (32
// random bytes, unpadded base64url) that proves it: 72 characters. Only the SHA-256 of the secret is
// stored. A fast hash suffices: the secret is random, not a password, and cannot be guessed.
const (
	tokenPrefix    = "grt_"
	tokenIDBytes   = 12
	secretBytes    = 32
	tokenIDLen     = 2 * tokenIDBytes
	secretLen      = (secretBytes*8 + 5) / 6 // unpadded base64
	apiTokenLen    = len(tokenPrefix) + tokenIDLen + 1 + secretLen
	maxTokenName   = 200
	lastUsedPeriod = time.Minute
)

// ViaToken is Principal.Via for a caller authenticated by an API token.
const ViaToken = "token"

var secretEncoding = base64.RawURLEncoding.Strict()

const (
	// insertToken creates a token for an enabled principal of the tenant; no row when there is none.
	// A NULL ttl_seconds leaves expires_at NULL: the token does not expire.
	insertToken = `
INSERT INTO api_tokens (token_id, tenant_id, principal_id, name, secret_hash, expires_at)
SELECT :token_id, p.tenant_id, p.principal_id, :name, :secret_hash,
	now() + CAST(:ttl_seconds AS double precision) * interval '1 second'
FROM principals p
WHERE p.tenant_id = :tenant_id AND p.principal_id = :principal_id AND NOT p.disabled
RETURNING token_id, tenant_id, principal_id, name, created_at, expires_at, revoked_at, last_used_at`

	// selectPrincipalDisabled tells why insertToken inserted nothing.
	selectPrincipalDisabled = `
SELECT disabled FROM principals WHERE tenant_id = :tenant_id AND principal_id = :principal_id`

	// revokeToken keeps the first revocation's time when the token is revoked again.
	revokeToken = `
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
WHERE tenant_id = :tenant_id AND token_id = :token_id`

	selectTokens = `
SELECT token_id, tenant_id, principal_id, name, created_at, expires_at, revoked_at, last_used_at
FROM api_tokens
WHERE tenant_id = :tenant_id
ORDER BY created_at, token_id`

	// selectCredential reads what Authenticate checks, with the database's clock (one clock for every
	// API process).
	selectCredential = `
SELECT t.token_id, t.tenant_id, t.principal_id, t.name, t.created_at, t.expires_at, t.revoked_at,
	t.last_used_at, t.secret_hash, p.disabled, now() AS now
FROM api_tokens t
JOIN principals p ON p.tenant_id = t.tenant_id AND p.principal_id = t.principal_id
WHERE t.token_id = :token_id`

	// touchToken records a use, at most once a minute however many API processes see the token.
	touchToken = `
UPDATE api_tokens SET last_used_at = now()
WHERE token_id = :token_id AND (last_used_at IS NULL OR last_used_at <= now() - interval '1 minute')`
)

type tokenRow struct {
	TokenID     string     `db:"token_id"`
	TenantID    string     `db:"tenant_id"`
	PrincipalID string     `db:"principal_id"`
	Name        string     `db:"name"`
	CreatedAt   time.Time  `db:"created_at"`
	ExpiresAt   *time.Time `db:"expires_at"`
	RevokedAt   *time.Time `db:"revoked_at"`
	LastUsedAt  *time.Time `db:"last_used_at"`
}

type newTokenRow struct {
	TokenID     string   `db:"token_id"`
	TenantID    string   `db:"tenant_id"`
	PrincipalID string   `db:"principal_id"`
	Name        string   `db:"name"`
	SecretHash  []byte   `db:"secret_hash"`
	TTLSeconds  *float64 `db:"ttl_seconds"`
}

type credentialRow struct {
	tokenRow
	SecretHash []byte    `db:"secret_hash"`
	Disabled   bool      `db:"disabled"`
	Now        time.Time `db:"now"`
}

// tokenKey is the named-parameter argument of queries on one token, or a tenant's (TokenID empty), or
// one principal (PrincipalID).
type tokenKey struct {
	TenantID    string `db:"tenant_id"`
	TokenID     string `db:"token_id"`
	PrincipalID string `db:"principal_id"`
}

// TokenInfo describes an API token; the secret is never part of it (it is shown once, by Create, and
// not stored). Zero times mean "never".
type TokenInfo struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenantId"`
	PrincipalID string    `json:"principalId"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	RevokedAt   time.Time `json:"revokedAt,omitzero"`
	LastUsedAt  time.Time `json:"lastUsedAt,omitzero"`
}

// TokenStore creates, lists and revokes API tokens (table api_tokens, migration 00004_api_tokens.sql),
// and authenticates requests that carry one: it is the Authenticator of API tokens. It is safe for
// concurrent use.
type TokenStore struct {
	db     *sqlx.DB
	logger hclog.Logger
}

var _ Authenticator = (*TokenStore)(nil)

// NewTokenStore returns a TokenStore over db, whose schema is migrated (migrations.Up).
func NewTokenStore(db *sqlx.DB, logger hclog.Logger) *TokenStore {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &TokenStore{db: db, logger: logger}
}

// Create makes an API token for an existing, enabled principal of the tenant, valid for ttl (0: until
// revoked). It returns the token, to hand to its user once (it cannot be shown again), and its
// description. ErrNotFound when the tenant has no such principal, ErrInvalid when it is disabled or
// the input is refused.
func (s *TokenStore) Create(ctx context.Context, tenant, principal, name string, ttl time.Duration) (string, TokenInfo, error) {
	if err := checkTokenInput(tenant, principal, name, ttl); err != nil {
		return "", TokenInfo{}, fmt.Errorf("create API token: %w", err)
	}
	id := make([]byte, tokenIDBytes)
	secret := make([]byte, secretBytes)
	_, _ = rand.Read(id) // crypto/rand.Read never fails
	_, _ = rand.Read(secret)
	sum := sha256.Sum256(secret)
	row := newTokenRow{
		TokenID: hex.EncodeToString(id), TenantID: tenant, PrincipalID: principal, Name: name, SecretHash: sum[:],
	}
	if ttl > 0 {
		secs := ttl.Seconds()
		row.TTLSeconds = &secs
	}
	var created tokenRow
	err := namedGet(ctx, s.db, insertToken, row, &created)
	if errors.Is(err, ErrNotFound) {
		err = s.whyNoPrincipal(ctx, tenant, principal)
	}
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("create API token for %s/%s: %w", tenant, principal, err)
	}
	info := created.info()
	s.logger.Info("created API token", "tenant", tenant, "principal", principal, "token", info.ID,
		"name", name, "expires", info.ExpiresAt)
	return tokenPrefix + row.TokenID + "_" + secretEncoding.EncodeToString(secret), info, nil
}

// whyNoPrincipal says why insertToken inserted nothing: the principal is missing or disabled.
func (s *TokenStore) whyNoPrincipal(ctx context.Context, tenant, principal string) error {
	var disabled bool
	err := namedGet(ctx, s.db, selectPrincipalDisabled, tokenKey{TenantID: tenant, PrincipalID: principal}, &disabled)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: tenant %s has no principal %s; create it first, e.g. `worker grant --tenant %s --principal %s --role \"Security reader\"`",
			ErrNotFound, tenant, principal, tenant, principal)
	case err != nil:
		return err
	case disabled:
		return fmt.Errorf("%w: principal %s of tenant %s is disabled; enable it first", ErrInvalid, principal, tenant)
	}
	// Enabled and present now: it was created or enabled while we looked. Ask again.
	return fmt.Errorf("%w: principal %s of tenant %s changed meanwhile; try again", ErrInvalid, principal, tenant)
}

func checkTokenInput(tenant, principal, name string, ttl time.Duration) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	switch {
	case principal == "":
		return fmt.Errorf("%w: principal is empty", ErrInvalid)
	case len(name) > maxTokenName:
		return fmt.Errorf("%w: name is longer than %d bytes", ErrInvalid, maxTokenName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: name %q has control characters or is not UTF-8", ErrInvalid, name)
	case ttl < 0:
		return fmt.Errorf("%w: TTL %s is negative; use 0 for a token that does not expire", ErrInvalid, ttl)
	case ttl > 0 && ttl < time.Second:
		return fmt.Errorf("%w: TTL %s is shorter than a second", ErrInvalid, ttl)
	}
	return nil
}

func checkTenant(tenant string) error {
	switch tenant {
	case "":
		return fmt.Errorf("%w: tenant is empty", ErrInvalid)
	case "*":
		return fmt.Errorf("%w: tenant %q is reserved for the built-in roles", ErrInvalid, tenant)
	}
	return nil
}

// Revoke revokes a token of the tenant at once; revoking it again does nothing. ErrNotFound when the
// tenant has no such token.
func (s *TokenStore) Revoke(ctx context.Context, tenant, tokenID string) error {
	if err := checkTenant(tenant); err != nil {
		return fmt.Errorf("revoke API token: %w", err)
	}
	n, err := namedExec(ctx, s.db, revokeToken, tokenKey{TenantID: tenant, TokenID: tokenID})
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: tenant %s has no API token %q (`starter token list --tenant %s` lists them)",
			ErrNotFound, tenant, tokenID, tenant)
	}
	if err != nil {
		return fmt.Errorf("revoke API token %s: %w", tokenID, err)
	}
	s.logger.Info("revoked API token", "tenant", tenant, "token", tokenID)
	return nil
}

// List describes every token of the tenant, revoked and expired ones included, oldest first.
func (s *TokenStore) List(ctx context.Context, tenant string) ([]TokenInfo, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	var rows []tokenRow
	if err := namedSelect(ctx, s.db, selectTokens, tokenKey{TenantID: tenant}, &rows); err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", tenant, err)
	}
	out := make([]TokenInfo, len(rows))
	for i, r := range rows {
		out[i] = r.info()
	}
	return out, nil
}

// Authenticate establishes the principal of a request bearing an API token ("Authorization: Bearer
// grt_..."). ErrNotHandled when it bears another kind of credential; ErrUnauthenticated when it bears
// none, or a token that is malformed, unknown, wrong, revoked, expired or whose principal is disabled
// (the reason is logged at debug level, the token never); another error, such as ErrUnavailable, when
// the token could not be checked.
func (s *TokenStore) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	cred, err := bearerCredential(r)
	if err != nil {
		s.logger.Debug("refused request", "reason", err)
		return Principal{}, ErrUnauthenticated
	}
	if !strings.HasPrefix(cred, tokenPrefix) {
		return Principal{}, ErrNotHandled
	}
	id, secret, ok := parseAPIToken(cred)
	if !ok {
		s.logger.Debug("refused API token", "reason", "malformed")
		return Principal{}, ErrUnauthenticated
	}
	var row credentialRow
	err = namedGet(ctx, s.db, selectCredential, tokenKey{TokenID: id}, &row)
	if errors.Is(err, ErrNotFound) {
		s.logger.Debug("refused API token", "token", id, "reason", "unknown token ID")
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("check API token %s: %w", id, err)
	}
	sum := sha256.Sum256(secret)
	reason := ""
	switch {
	case subtle.ConstantTimeCompare(sum[:], row.SecretHash) != 1:
		reason = "wrong secret"
	case row.RevokedAt != nil:
		reason = "revoked"
	case row.ExpiresAt != nil && !row.Now.Before(*row.ExpiresAt):
		reason = "expired"
	case row.Disabled:
		reason = "principal disabled"
	}
	if reason != "" {
		s.logger.Debug("refused API token", "token", id, "tenant", row.TenantID, "principal", row.PrincipalID,
			"reason", reason)
		return Principal{}, ErrUnauthenticated
	}
	if row.LastUsedAt == nil || row.Now.Sub(*row.LastUsedAt) >= lastUsedPeriod {
		// Bookkeeping: a failure does not refuse a valid token.
		if _, err := namedExec(ctx, s.db, touchToken, tokenKey{TokenID: id}); err != nil {
			s.logger.Warn("could not record the use of an API token", "token", id, "error", err)
		}
	}
	return Principal{TenantID: row.TenantID, ID: row.PrincipalID, Via: ViaToken}, nil
}

// parseAPIToken splits an API token into its token ID and its secret; ok is false when it is not one.
func parseAPIToken(token string) (id string, secret []byte, ok bool) {
	if len(token) != apiTokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return "", nil, false
	}
	rest := token[len(tokenPrefix):]
	id, enc := rest[:tokenIDLen], rest[tokenIDLen:]
	if !isLowerHex(id) || enc[0] != '_' {
		return "", nil, false
	}
	secret, err := secretEncoding.DecodeString(enc[1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, false
	}
	return id, secret, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (r tokenRow) info() TokenInfo {
	return TokenInfo{
		ID:          r.TokenID,
		TenantID:    r.TenantID,
		PrincipalID: r.PrincipalID,
		Name:        r.Name,
		CreatedAt:   r.CreatedAt.UTC(),
		ExpiresAt:   timeOf(r.ExpiresAt),
		RevokedAt:   timeOf(r.RevokedAt),
		LastUsedAt:  timeOf(r.LastUsedAt),
	}
}

// timeOf is the UTC time of a nullable column, zero for NULL.
func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
