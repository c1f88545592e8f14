package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/migrations"
	"github.com/guided-response/guided/rbac"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func runTokenCmd(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runToken(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// tokenDB is a migrated test database with the principal soar@contoso.com; DATABASE_URL points at it.
func tokenDB(t *testing.T) *sqlx.DB {
	t.Helper()
	ctx := context.Background()
	dbURL := pgtest.NewDB(t)
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := migrations.Up(ctx, db.DB, nil); err != nil {
		t.Fatal(err)
	}
	err = rbac.New(db, nil).UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: "contoso", ID: "soar@contoso.com", Kind: rbac.KindService})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("GUIDED_PRINCIPAL", "")
	return db
}

var (
	printedToken = regexp.MustCompile(`(?m)^  (grt_[0-9a-f]{24}_[A-Za-z0-9_-]{43})$`)
	printedID    = regexp.MustCompile(`created API token ([0-9a-f]{24}) for soar@contoso.com in tenant contoso, expires (\S+)`)
)

func TestTokenCommands(t *testing.T) {
	db := tokenDB(t)
	tokens := auth.NewTokenStore(db, nil)

	out, _, err := runTokenCmd("create", "--tenant", "contoso", "--principal", "soar@contoso.com", "--name", "ticketing approvals", "--ttl", "24h")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("create:\n%s", out)
	if !strings.Contains(out, "store it now; it cannot be shown again") {
		t.Errorf("create does not warn that the token is shown once:\n%s", out)
	}
	tm, im := printedToken.FindStringSubmatch(out), printedID.FindStringSubmatch(out)
	if tm == nil || im == nil {
		t.Fatalf("create printed no token or ID:\n%s", out)
	}
	token, id := tm[1], im[1]
	if !strings.HasPrefix(token, "grt_"+id+"_") {
		t.Fatalf("token %s does not have ID %s", token, id)
	}
	if expires, err := time.Parse(time.RFC3339, im[2]); err != nil || time.Until(expires) < 23*time.Hour || time.Until(expires) > 25*time.Hour {
		t.Errorf("expires %s, want in 24h", im[2])
	}

	r := httptest.NewRequest(http.MethodGet, "/v1/incidents", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	p, err := tokens.Authenticate(context.Background(), r)
	if want := (auth.Principal{TenantID: "contoso", ID: "soar@contoso.com", Via: "token"}); err != nil || p != want {
		t.Fatalf("the printed token authenticates as %+v, %v; want %+v", p, err, want)
	}

	out, _, err = runTokenCmd("list", "--tenant", "contoso")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("list:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "LAST USED") {
		t.Fatalf("list:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	// ID, principal, "ticketing", "approvals", created, expires, revoked, last used
	if len(fields) != 8 || fields[0] != id || fields[1] != "soar@contoso.com" || fields[2] != "ticketing" ||
		fields[6] != "-" || fields[7] == "never" {
		t.Errorf("list row %q: want the token, not revoked, used", lines[1])
	}
	if strings.Contains(out, token[len("grt_")+25:]) {
		t.Error("list shows the secret")
	}

	out, _, err = runTokenCmd("list", "--json", "--tenant", "contoso")
	if err != nil {
		t.Fatal(err)
	}
	var infos []auth.TokenInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 || infos[0].ID != id || infos[0].Name != "ticketing approvals" {
		t.Fatalf("list --json = %s (%v)", out, err)
	}
	if strings.Contains(out, "grt_") {
		t.Error("list --json shows the token")
	}

	out, _, err = runTokenCmd("revoke", "--tenant", "contoso", "--id", id)
	if err != nil || !strings.Contains(out, "revoked API token "+id) {
		t.Fatalf("revoke: %q, %v", out, err)
	}
	if _, err := tokens.Authenticate(context.Background(), r); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("after revoke, Authenticate = %v, want ErrUnauthenticated", err)
	}
	out, _, _ = runTokenCmd("list", "--tenant", "contoso")
	if fields := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1]); fields[6] == "-" {
		t.Errorf("list after revoke shows no revocation:\n%s", out)
	}

	// create --json, without expiry.
	out, _, err = runTokenCmd("create", "--tenant", "contoso", "--principal", "soar@contoso.com", "--ttl", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token     string    `json:"token"`
		ID        string    `json:"id"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Token, "grt_"+created.ID+"_") || !created.ExpiresAt.IsZero() {
		t.Fatalf("create --json = %s (%v)", out, err)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	tokenDB(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "no command"},
		{"unknown subcommand", []string{"rotate", "--tenant", "contoso"}, `unknown command "rotate"`},
		{"no tenant", []string{"list"}, "--tenant is required"},
		{"no principal", []string{"create", "--tenant", "contoso"}, "--principal is required"},
		{"no ID", []string{"revoke", "--tenant", "contoso"}, "--id is required"},
		{"positional argument", []string{"revoke", "--tenant", "contoso", "0123"}, `unexpected argument "0123"`},
		{"unknown principal", []string{"create", "--tenant", "contoso", "--principal", "mallory@contoso.com"}, "tenant contoso has no principal mallory@contoso.com"},
		{"principal of another tenant", []string{"create", "--tenant", "fabrikam", "--principal", "soar@contoso.com"}, "tenant fabrikam has no principal soar@contoso.com"},
		{"negative TTL", []string{"create", "--tenant", "contoso", "--principal", "soar@contoso.com", "--ttl", "-1h"}, "negative"},
		{"unknown token", []string{"revoke", "--tenant", "contoso", "--id", "0123456789abcdef01234567"}, "tenant contoso has no API token"},
		{"flag of another subcommand", []string{"list", "--tenant", "contoso", "--id", "x"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runTokenCmd(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("token %v: %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
	if _, stderr, err := runTokenCmd("-h"); err != nil || !strings.Contains(stderr, "usage: starter token") {
		t.Errorf("token -h: %v, usage %q", err, stderr)
	}
}

// Without DATABASE_URL the commands look for the dev stack, and say what to do when there is none.
func TestTokenCommandsWithoutDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	_, _, err := runTokenCmd("list", "--tenant", "contoso", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is not set and there is no dev stack") {
		t.Fatalf("list without a database: %v", err)
	}
}

func TestTokenCommandsRefuseUnmigratedDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.NewDB(t))
	_, _, err := runTokenCmd("list", "--tenant", "contoso")
	if err == nil || !strings.Contains(err.Error(), "worker migrate") {
		t.Fatalf("list on an unmigrated database: %v, want the advice to run worker migrate", err)
	}
}
