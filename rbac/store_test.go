package rbac_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/rbac"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*rbac.Store, *sqlx.DB) {
	t.Helper()
	db := pgtest.MigratedDB(t)
	return rbac.New(db, hclog.NewNullLogger()), db
}

// The migration seeds exactly the built-in roles the package knows, in every tenant.
func TestBuiltInRolesAreSeeded(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, tenant := range []string{"contoso", "fabrikam"} {
		roles, err := s.Roles(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		want := rbac.BuiltInRoles()
		slices.SortFunc(want, func(a, b rbac.Role) int { return strings.Compare(a.Name, b.Name) })
		if !reflect.DeepEqual(roles, want) {
			t.Errorf("roles of %s:\n got %+v\nwant %+v", tenant, roles, want)
		}
	}
}

func TestGrantRevokeAndCheck(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "bob@contoso.com", DisplayName: "Bob"})

	bob, err := s.Principal(ctx, "contoso", "bob@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	want := rbac.Principal{TenantID: "contoso", ID: "bob@contoso.com", DisplayName: "Bob", Kind: rbac.KindUser}
	if !reflect.DeepEqual(bob, want) {
		t.Errorf("new principal = %+v, want %+v", bob, want)
	}
	if err := bob.Check(rbac.PermSecurityDataRead); !rbac.IsDenied(err) {
		t.Errorf("a principal without roles: Check = %v, want denied", err)
	}

	// Granting twice is one grant.
	for range 2 {
		if err := s.GrantRole(ctx, "contoso", "bob@contoso.com", rbac.RoleSecurityReader); err != nil {
			t.Fatal(err)
		}
	}
	var grants int
	if err := db.Get(&grants, `SELECT count(*) FROM principal_roles`); err != nil || grants != 1 {
		t.Fatalf("grants = %d, %v; want 1", grants, err)
	}
	bob = mustPrincipal(t, s, "contoso", "bob@contoso.com")
	err = bob.Check(rbac.PermResponseManage)
	wantMsg := "principal bob@contoso.com lacks permission secops.response.manage " +
		"(granted by roles: Security operator, Security administrator)"
	if err == nil || err.Error() != wantMsg {
		t.Errorf("reader Check(response) = %v\nwant %s", err, wantMsg)
	}

	// Roles overlap: permissions are the union, sorted, without duplicates.
	for _, role := range []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator} {
		if err := s.GrantRole(ctx, "contoso", "bob@contoso.com", role); err != nil {
			t.Fatal(err)
		}
	}
	bob = mustPrincipal(t, s, "contoso", "bob@contoso.com")
	wantRoles := []string{rbac.RoleEmailOperator, rbac.RoleSecurityOperator, rbac.RoleSecurityReader}
	wantPerms := []rbac.Permission{rbac.PermEmailAdvancedManage, rbac.PermAlertsManage, rbac.PermLiveResponseBasic,
		rbac.PermResponseManage, rbac.PermSecurityDataRead}
	if !reflect.DeepEqual(bob.Roles, wantRoles) || !reflect.DeepEqual(bob.Permissions, wantPerms) {
		t.Errorf("bob: roles %v permissions %v\nwant roles %v permissions %v", bob.Roles, bob.Permissions,
			wantRoles, wantPerms)
	}
	if err := bob.Check(rbac.PermResponseManage); err != nil {
		t.Error(err)
	}
	if err := bob.Check(rbac.PermLiveResponseAdvanced); !rbac.IsDenied(err) {
		t.Errorf("Check(live response advanced) = %v, want denied", err)
	}

	// Revoking, twice, takes the role away once.
	for range 2 {
		if err := s.RevokeRole(ctx, "contoso", "bob@contoso.com", rbac.RoleSecurityOperator); err != nil {
			t.Fatal(err)
		}
	}
	bob = mustPrincipal(t, s, "contoso", "bob@contoso.com")
	if bob.Has(rbac.PermResponseManage) || !bob.Has(rbac.PermEmailAdvancedManage) {
		t.Errorf("after revoking Security operator: %+v", bob)
	}
}

func TestGrantRefusesUnknownPrincipalOrRole(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "bob@contoso.com"})
	for _, tt := range []struct{ principal, role string }{
		{"nobody@contoso.com", rbac.RoleSecurityReader},
		{"bob@contoso.com", "Tier 3 wizard"},
	} {
		if err := s.GrantRole(ctx, "contoso", tt.principal, tt.role); !errors.Is(err, rbac.ErrNotFound) {
			t.Errorf("GrantRole(%s, %s) = %v, want ErrNotFound", tt.principal, tt.role, err)
		}
		if err := s.RevokeRole(ctx, "contoso", tt.principal, tt.role); !errors.Is(err, rbac.ErrNotFound) {
			t.Errorf("RevokeRole(%s, %s) = %v, want ErrNotFound", tt.principal, tt.role, err)
		}
	}
	if _, err := s.Principal(ctx, "contoso", "nobody@contoso.com"); !errors.Is(err, rbac.ErrNotFound) {
		t.Errorf("Principal(nobody) = %v, want ErrNotFound", err)
	}
	for _, in := range []rbac.PrincipalInput{
		{TenantID: "", ID: "x"},
		{TenantID: "*", ID: "x"},
		{TenantID: "contoso", ID: ""},
		{TenantID: "contoso", ID: "x", Kind: "robot"},
	} {
		if err := s.UpsertPrincipal(ctx, in); !errors.Is(err, rbac.ErrInvalid) {
			t.Errorf("UpsertPrincipal(%+v) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestDisabledPrincipalHasNoPermission(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "svc-soar", Kind: rbac.KindService})
	if err := s.GrantRole(ctx, "contoso", "svc-soar", rbac.RoleSecurityAdministrator); err != nil {
		t.Fatal(err)
	}
	if p := mustPrincipal(t, s, "contoso", "svc-soar"); !p.Has(rbac.PermAuthorizationManage) {
		t.Fatalf("administrator lacks authorization.manage: %+v", p)
	}

	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "svc-soar", Kind: rbac.KindService, Disabled: true})
	p := mustPrincipal(t, s, "contoso", "svc-soar")
	if !p.Disabled || len(p.Permissions) != 0 || !reflect.DeepEqual(p.Roles, []string{rbac.RoleSecurityAdministrator}) {
		t.Errorf("disabled principal = %+v, want its role kept and no permission", p)
	}
	err := p.Check(rbac.PermSecurityDataRead)
	var denied *rbac.DeniedError
	if !errors.As(err, &denied) || denied.Reason != rbac.ReasonDisabled {
		t.Fatalf("Check = %v, want denied as disabled", err)
	}

	// Enabled again, the roles count again.
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "svc-soar", Kind: rbac.KindService})
	if p := mustPrincipal(t, s, "contoso", "svc-soar"); !p.Has(rbac.PermSecurityDataRead) {
		t.Errorf("re-enabled principal = %+v", p)
	}
}

func TestDefineRole(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "ann@contoso.com"})

	// Every known permission is accepted by the schema.
	if err := s.DefineRole(ctx, "contoso", "Everything", "all of it", rbac.AllPermissions()); err != nil {
		t.Fatal(err)
	}
	perms := []rbac.Permission{rbac.PermLiveResponseBasic, rbac.PermSecurityDataRead, rbac.PermLiveResponseBasic}
	if err := s.DefineRole(ctx, "contoso", "Tier 1", "first line", perms); err != nil {
		t.Fatal(err)
	}
	if err := s.GrantRole(ctx, "contoso", "ann@contoso.com", "Tier 1"); err != nil {
		t.Fatal(err)
	}
	ann := mustPrincipal(t, s, "contoso", "ann@contoso.com")
	want := []rbac.Permission{rbac.PermLiveResponseBasic, rbac.PermSecurityDataRead}
	if !reflect.DeepEqual(ann.Permissions, want) {
		t.Errorf("ann = %v, want %v", ann.Permissions, want)
	}

	// Redefining changes what holders may do.
	if err := s.DefineRole(ctx, "contoso", "Tier 1", "first line, classifies",
		[]rbac.Permission{rbac.PermSecurityDataRead, rbac.PermAlertsManage}); err != nil {
		t.Fatal(err)
	}
	ann = mustPrincipal(t, s, "contoso", "ann@contoso.com")
	if !ann.Has(rbac.PermAlertsManage) || ann.Has(rbac.PermLiveResponseBasic) {
		t.Errorf("after redefining Tier 1: %v", ann.Permissions)
	}
	roles, err := s.Roles(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	wantNames := []string{"Email operator", "Security administrator", "Security operator", "Security reader",
		"Everything", "Tier 1"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("roles = %v, want %v", names, wantNames)
	}
	if last := roles[len(roles)-1]; last.BuiltIn || last.Description != "first line, classifies" {
		t.Errorf("Tier 1 = %+v", last)
	}

	for _, tt := range []struct {
		name  string
		perms []rbac.Permission
	}{
		{"No permissions", nil},
		{"Made up", []rbac.Permission{rbac.PermSecurityDataRead, "secops.everything"}},
		{"security READER", []rbac.Permission{rbac.PermSecurityDataRead}},
		{" Padded", []rbac.Permission{rbac.PermSecurityDataRead}},
		{"", []rbac.Permission{rbac.PermSecurityDataRead}},
	} {
		if err := s.DefineRole(ctx, "contoso", tt.name, "", tt.perms); !errors.Is(err, rbac.ErrInvalid) {
			t.Errorf("DefineRole(%q, %v) = %v, want ErrInvalid", tt.name, tt.perms, err)
		}
	}

	// The schema itself refuses what the package would (a writer that bypasses it).
	for _, perms := range []string{`{secops.everything}`, `{}`, `{secops.security-data.read,NULL}`} {
		_, err := db.Exec(`INSERT INTO roles (tenant_id, role_name, permissions) VALUES ('contoso', 'raw', $1)`, perms)
		if err == nil || !strings.Contains(err.Error(), "roles_permissions_known") {
			t.Errorf("inserting permissions %s: %v, want the roles_permissions_known check to refuse them", perms, err)
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "bob@contoso.com"})
	if err := s.GrantRole(ctx, "contoso", "bob@contoso.com", rbac.RoleSecurityAdministrator); err != nil {
		t.Fatal(err)
	}
	if err := s.DefineRole(ctx, "contoso", "Contoso only", "", []rbac.Permission{rbac.PermAlertsManage}); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "fabrikam", ID: "eve@fabrikam.com"})

	if _, err := s.Principal(ctx, "fabrikam", "bob@contoso.com"); !errors.Is(err, rbac.ErrNotFound) {
		t.Errorf("contoso's principal in fabrikam: %v, want ErrNotFound", err)
	}
	snap, err := s.Snapshot(ctx, "fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap.IDs(), []string{"eve@fabrikam.com"}) {
		t.Errorf("fabrikam's snapshot holds %v", snap.IDs())
	}
	if err := snap.Check("bob@contoso.com", rbac.PermSecurityDataRead); !rbac.IsDenied(err) {
		t.Errorf("contoso's administrator in fabrikam's snapshot: %v, want denied", err)
	}
	if err := s.GrantRole(ctx, "fabrikam", "eve@fabrikam.com", "Contoso only"); !errors.Is(err, rbac.ErrNotFound) {
		t.Errorf("granting contoso's role in fabrikam: %v, want ErrNotFound", err)
	}
	if err := s.GrantRole(ctx, "fabrikam", "bob@contoso.com", rbac.RoleSecurityReader); !errors.Is(err, rbac.ErrNotFound) {
		t.Errorf("granting in fabrikam to contoso's principal: %v, want ErrNotFound", err)
	}
	roles, err := s.Roles(ctx, "fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != len(rbac.BuiltInRoles()) {
		t.Errorf("fabrikam sees roles %+v, want the built-in ones only", roles)
	}
	if _, err := s.Snapshot(ctx, "*"); !errors.Is(err, rbac.ErrInvalid) {
		t.Errorf("Snapshot(*) = %v, want ErrInvalid", err)
	}
}

// A snapshot survives the JSON a workflow history stores it as, and encodes deterministically.
func TestSnapshotRoundTripsThroughJSON(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, p := range []struct{ id, role string }{
		{"bob@contoso.com", rbac.RoleSecurityOperator},
		{"ann@contoso.com", rbac.RoleSecurityReader},
		{"svc-soar", rbac.RoleSecurityAdministrator},
		{"carl@contoso.com", ""},
	} {
		kind := rbac.KindUser
		if p.id == "svc-soar" {
			kind = rbac.KindService
		}
		mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: p.id, DisplayName: "name of " + p.id, Kind: kind})
		if p.role != "" {
			if err := s.GrantRole(ctx, "contoso", p.id, p.role); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustUpsert(t, s, rbac.PrincipalInput{TenantID: "contoso", ID: "ann@contoso.com", Disabled: true})

	snap, err := s.Snapshot(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if snap.TenantID != "contoso" || snap.LoadedAt.IsZero() || snap.LoadedAt.Location().String() != "UTC" {
		t.Errorf("snapshot header = %q %v", snap.TenantID, snap.LoadedAt)
	}
	if got := snap.IDs(); !reflect.DeepEqual(got, []string{"ann@contoso.com", "bob@contoso.com", "carl@contoso.com", "svc-soar"}) {
		t.Errorf("IDs = %v", got)
	}
	for _, id := range snap.IDs() {
		p, _ := snap.Lookup(id)
		if single := mustPrincipal(t, s, "contoso", id); !reflect.DeepEqual(single, p) {
			t.Errorf("snapshot's %s = %+v, Principal = %+v", id, p, single)
		}
	}

	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back rbac.Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, snap) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, snap)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(b) {
		t.Errorf("re-encoding differs:\n%s\n%s", b, again)
	}
	if err := back.Check("bob@contoso.com", rbac.PermResponseManage); err != nil {
		t.Error(err)
	}
	if err := back.Check("ann@contoso.com", rbac.PermSecurityDataRead); !rbac.IsDenied(err) {
		t.Errorf("disabled ann: %v, want denied", err)
	}
}

func mustUpsert(t *testing.T, s *rbac.Store, in rbac.PrincipalInput) {
	t.Helper()
	if err := s.UpsertPrincipal(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func mustPrincipal(t *testing.T, s *rbac.Store, tenant, id string) rbac.Principal {
	t.Helper()
	p, err := s.Principal(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
