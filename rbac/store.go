package rbac

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/guided-response/guided/internal/sqldb"
)

// Store keeps principals, roles and grants in PostgreSQL (migration 00002_rbac.sql). It is safe for
// concurrent use.
type Store struct {
	db     *sqlx.DB
	logger hclog.Logger
}

// New returns a Store over db, whose schema is migrated (migrations.Up).
func New(db *sqlx.DB, logger hclog.Logger) *Store {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Store{db: db, logger: logger}
}

// builtInTenant is the tenant_id of the built-in roles: every tenant.
const builtInTenant = "*"

const (
	upsertPrincipal = `
INSERT INTO principals (tenant_id, principal_id, display_name, kind, disabled)
VALUES (:tenant_id, :principal_id, :display_name, :kind, :disabled)
ON CONFLICT (tenant_id, principal_id) DO UPDATE SET
	display_name = EXCLUDED.display_name, kind = EXCLUDED.kind, disabled = EXCLUDED.disabled,
	updated_at = now()`

	// selectPrincipals selects one principal, or all of a tenant when principal_id is ''.
	selectPrincipals = `
SELECT tenant_id, principal_id, display_name, kind, disabled
FROM principals
WHERE tenant_id = :tenant_id AND (:principal_id = '' OR principal_id = :principal_id)
ORDER BY principal_id`

	// selectGrants selects the roles, with their permissions, of one principal, or of all of a tenant
	// when principal_id is ''.
	selectGrants = `
SELECT pr.principal_id, pr.role_name, r.permissions
FROM principal_roles pr
JOIN roles r ON r.tenant_id = pr.role_tenant_id AND r.role_name = pr.role_name
WHERE pr.tenant_id = :tenant_id AND (:principal_id = '' OR pr.principal_id = :principal_id)
ORDER BY pr.principal_id, pr.role_name`

	selectNow = `SELECT now()`

	// grantRole grants the tenant's own role or the built-in one of that name; nothing when the principal
	// or role is missing, or the grant exists.
	grantRole = `
INSERT INTO principal_roles (tenant_id, principal_id, role_tenant_id, role_name)
SELECT p.tenant_id, p.principal_id, r.tenant_id, r.role_name
FROM principals p
JOIN roles r ON r.tenant_id IN (p.tenant_id, '*') AND r.role_name = :role_name
WHERE p.tenant_id = :tenant_id AND p.principal_id = :principal_id
ON CONFLICT (tenant_id, principal_id, role_name) DO NOTHING`

	revokeRole = `
DELETE FROM principal_roles
WHERE tenant_id = :tenant_id AND principal_id = :principal_id AND role_name = :role_name`

	// grantExists tells which part of a grant is missing when grantRole or revokeRole did nothing.
	grantExists = `
SELECT
	EXISTS (SELECT 1 FROM principals WHERE tenant_id = :tenant_id AND principal_id = :principal_id)
		AS principal_exists,
	EXISTS (SELECT 1 FROM roles WHERE tenant_id IN (:tenant_id, '*') AND role_name = :role_name)
		AS role_exists`

	defineRole = `
INSERT INTO roles (tenant_id, role_name, description, permissions, built_in)
VALUES (:tenant_id, :role_name, :description, :permissions, false)
ON CONFLICT (tenant_id, role_name) DO UPDATE SET
	description = EXCLUDED.description, permissions = EXCLUDED.permissions, updated_at = now()`

	// selectRoles lists the built-in roles, then the tenant's own, each by name.
	selectRoles = `
SELECT role_name, description, permissions, built_in
FROM roles
WHERE tenant_id IN (:tenant_id, '*')
ORDER BY built_in DESC, role_name`
)

type principalRow struct {
	TenantID    string `db:"tenant_id"`
	PrincipalID string `db:"principal_id"`
	DisplayName string `db:"display_name"`
	Kind        string `db:"kind"`
	Disabled    bool   `db:"disabled"`
}

type grantRow struct {
	PrincipalID string         `db:"principal_id"`
	RoleName    string         `db:"role_name"`
	Permissions pq.StringArray `db:"permissions"`
}

type roleRow struct {
	RoleName    string         `db:"role_name"`
	Description string         `db:"description"`
	Permissions pq.StringArray `db:"permissions"`
	BuiltIn     bool           `db:"built_in"`
}

// grantKey is the named-parameter argument of queries on one grant, or one principal (RoleName empty).
type grantKey struct {
	TenantID    string `db:"tenant_id"`
	PrincipalID string `db:"principal_id"`
	RoleName    string `db:"role_name"`
}

// PrincipalInput is a principal as UpsertPrincipal writes it; roles are granted separately.
type PrincipalInput struct {
	TenantID    string
	ID          string
	DisplayName string
	// Kind is KindUser (the default when empty) or KindService.
	Kind     string
	Disabled bool
}

// UpsertPrincipal creates the principal, or updates its display name, kind and disabled flag; its
// roles stay.
func (s *Store) UpsertPrincipal(ctx context.Context, in PrincipalInput) error {
	if err := checkTenant(in.TenantID); err != nil {
		return fmt.Errorf("upsert principal: %w", err)
	}
	if in.ID == "" {
		return fmt.Errorf("upsert principal: %w: ID is empty", ErrInvalid)
	}
	kind := in.Kind
	if kind == "" {
		kind = KindUser
	}
	if kind != KindUser && kind != KindService {
		return fmt.Errorf("upsert principal %s/%s: %w: kind %q is neither %q nor %q",
			in.TenantID, in.ID, ErrInvalid, kind, KindUser, KindService)
	}
	row := principalRow{
		TenantID: in.TenantID, PrincipalID: in.ID, DisplayName: in.DisplayName, Kind: kind, Disabled: in.Disabled,
	}
	if _, err := namedExec(ctx, s.db, upsertPrincipal, row); err != nil {
		return fmt.Errorf("upsert principal %s/%s: %w", in.TenantID, in.ID, err)
	}
	s.logger.Info("stored principal", "tenant", in.TenantID, "principal", in.ID, "kind", kind,
		"disabled", in.Disabled)
	return nil
}

// Principal returns a principal with its roles and permissions; ErrNotFound when the tenant has no
// such principal.
func (s *Store) Principal(ctx context.Context, tenantID, id string) (Principal, error) {
	if err := checkTenant(tenantID); err != nil {
		return Principal{}, fmt.Errorf("get principal: %w", err)
	}
	if id == "" {
		return Principal{}, fmt.Errorf("get principal: %w: ID is empty", ErrInvalid)
	}
	var principals []Principal
	err := s.inReadTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		principals, err = load(ctx, tx, tenantID, id)
		return err
	})
	if err != nil {
		return Principal{}, fmt.Errorf("get principal %s/%s: %w", tenantID, id, err)
	}
	if len(principals) == 0 {
		return Principal{}, fmt.Errorf("get principal %s/%s: %w", tenantID, id, ErrNotFound)
	}
	return principals[0], nil
}

// Snapshot loads every principal of a tenant, with roles and permissions, as of one moment (LoadedAt,
// the database's clock, UTC).
func (s *Store) Snapshot(ctx context.Context, tenantID string) (Snapshot, error) {
	if err := checkTenant(tenantID); err != nil {
		return Snapshot{}, fmt.Errorf("rbac snapshot: %w", err)
	}
	snap := Snapshot{TenantID: tenantID, Principals: map[string]Principal{}}
	err := s.inReadTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &snap.LoadedAt, selectNow); err != nil {
			return mapError(err)
		}
		principals, err := load(ctx, tx, tenantID, "")
		if err != nil {
			return err
		}
		for _, p := range principals {
			snap.Principals[p.ID] = p
		}
		return nil
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("rbac snapshot %s: %w", tenantID, err)
	}
	snap.LoadedAt = snap.LoadedAt.UTC()
	return snap, nil
}

// load reads one principal (id) or every principal of a tenant (id ""), sorted by ID.
func load(ctx context.Context, tx *sqlx.Tx, tenantID, id string) ([]Principal, error) {
	key := grantKey{TenantID: tenantID, PrincipalID: id}
	var rows []principalRow
	if err := namedSelect(ctx, tx, selectPrincipals, key, &rows); err != nil {
		return nil, fmt.Errorf("principals: %w", err)
	}
	var grants []grantRow
	if err := namedSelect(ctx, tx, selectGrants, key, &grants); err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	byPrincipal := make(map[string][]grantRow, len(rows))
	for _, g := range grants {
		byPrincipal[g.PrincipalID] = append(byPrincipal[g.PrincipalID], g)
	}
	out := make([]Principal, 0, len(rows))
	for _, r := range rows {
		p := Principal{
			TenantID: r.TenantID, ID: r.PrincipalID, DisplayName: r.DisplayName, Kind: r.Kind, Disabled: r.Disabled,
		}
		var perms []Permission
		for _, g := range byPrincipal[r.PrincipalID] {
			p.Roles = append(p.Roles, g.RoleName)
			for _, name := range g.Permissions {
				perms = append(perms, Permission(name))
			}
		}
		slices.Sort(p.Roles)
		if !p.Disabled {
			p.Permissions = normalize(perms)
		}
		out = append(out, p)
	}
	return out, nil
}

// GrantRole gives a principal a role: the tenant's own role of that name, or the built-in one. Granting
// a role already held does nothing. ErrNotFound when the principal or the role does not exist.
func (s *Store) GrantRole(ctx context.Context, tenantID, principalID, roleName string) error {
	key := grantKey{TenantID: tenantID, PrincipalID: principalID, RoleName: roleName}
	if err := checkTenant(tenantID); err != nil {
		return fmt.Errorf("grant role: %w", err)
	}
	n, err := namedExec(ctx, s.db, grantRole, key)
	if err == nil && n == 0 {
		err = s.checkGrantParts(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("grant role %q to %s/%s: %w", roleName, tenantID, principalID, err)
	}
	if n > 0 {
		s.logger.Info("granted role", "tenant", tenantID, "principal", principalID, "role", roleName)
	}
	return nil
}

// RevokeRole takes a role from a principal. Revoking a role not held does nothing. ErrNotFound when the
// principal or the role does not exist.
func (s *Store) RevokeRole(ctx context.Context, tenantID, principalID, roleName string) error {
	key := grantKey{TenantID: tenantID, PrincipalID: principalID, RoleName: roleName}
	if err := checkTenant(tenantID); err != nil {
		return fmt.Errorf("revoke role: %w", err)
	}
	n, err := namedExec(ctx, s.db, revokeRole, key)
	if err == nil && n == 0 {
		err = s.checkGrantParts(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("revoke role %q from %s/%s: %w", roleName, tenantID, principalID, err)
	}
	if n > 0 {
		s.logger.Info("revoked role", "tenant", tenantID, "principal", principalID, "role", roleName)
	}
	return nil
}

// checkGrantParts returns ErrNotFound naming the missing principal or role, nil when both exist.
func (s *Store) checkGrantParts(ctx context.Context, key grantKey) error {
	var parts struct {
		Principal bool `db:"principal_exists"`
		Role      bool `db:"role_exists"`
	}
	if err := namedGet(ctx, s.db, grantExists, key, &parts); err != nil {
		return err
	}
	switch {
	case !parts.Principal:
		return fmt.Errorf("%w: tenant %s has no principal %s", ErrNotFound, key.TenantID, key.PrincipalID)
	case !parts.Role:
		return fmt.Errorf("%w: tenant %s has no role %q (built-in roles: %s)", ErrNotFound, key.TenantID,
			key.RoleName, strings.Join(builtInNames(), ", "))
	}
	return nil
}

// DefineRole creates or redefines a tenant's own role. The permissions must be known ones (at least
// one); they are stored sorted and without duplicates. A built-in role's name is refused (ErrInvalid).
func (s *Store) DefineRole(ctx context.Context, tenantID, name, description string, perms []Permission) error {
	if err := checkTenant(tenantID); err != nil {
		return fmt.Errorf("define role: %w", err)
	}
	if name == "" || name != strings.TrimSpace(name) {
		return fmt.Errorf("define role %q: %w: the name must be non-empty, without leading or trailing spaces",
			name, ErrInvalid)
	}
	for _, b := range builtInNames() {
		if strings.EqualFold(name, b) {
			return fmt.Errorf("define role %q: %w: %q is a built-in role; choose another name", name, ErrInvalid, b)
		}
	}
	perms, err := validatePermissions(perms)
	if err != nil {
		return fmt.Errorf("define role %q: %w", name, err)
	}
	arg := struct {
		TenantID    string         `db:"tenant_id"`
		RoleName    string         `db:"role_name"`
		Description string         `db:"description"`
		Permissions pq.StringArray `db:"permissions"`
	}{tenantID, name, description, permissionArray(perms)}
	if _, err := namedExec(ctx, s.db, defineRole, arg); err != nil {
		return fmt.Errorf("define role %q in %s: %w", name, tenantID, err)
	}
	s.logger.Info("defined role", "tenant", tenantID, "role", name, "permissions", arg.Permissions)
	return nil
}

// Roles lists the roles a tenant can grant: the built-in roles, then its own, each sorted by name.
func (s *Store) Roles(ctx context.Context, tenantID string) ([]Role, error) {
	if err := checkTenant(tenantID); err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	var rows []roleRow
	if err := namedSelect(ctx, s.db, selectRoles, grantKey{TenantID: tenantID}, &rows); err != nil {
		return nil, fmt.Errorf("list roles of %s: %w", tenantID, err)
	}
	out := make([]Role, len(rows))
	for i, r := range rows {
		perms := make([]Permission, len(r.Permissions))
		for j, p := range r.Permissions {
			perms[j] = Permission(p)
		}
		out[i] = Role{Name: r.RoleName, Description: r.Description, Permissions: normalize(perms), BuiltIn: r.BuiltIn}
	}
	return out, nil
}

func checkTenant(tenantID string) error {
	switch tenantID {
	case "":
		return fmt.Errorf("%w: tenant ID is empty", ErrInvalid)
	case builtInTenant:
		return fmt.Errorf("%w: tenant ID %q is reserved for the built-in roles", ErrInvalid, builtInTenant)
	}
	return nil
}

func builtInNames() []string {
	var names []string
	for _, r := range BuiltInRoles() {
		names = append(names, r.Name)
	}
	return names
}

func permissionArray(perms []Permission) pq.StringArray {
	out := make(pq.StringArray, len(perms))
	for i, p := range perms {
		out[i] = string(p)
	}
	return out
}

// inReadTx runs fn in a read-only transaction that sees one snapshot of the database.
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return fmt.Errorf("begin: %w", mapError(err))
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}

func namedExec(ctx context.Context, ext sqlx.ExtContext, query string, arg any) (int64, error) {
	return sqldb.NamedExec(ctx, ext, query, arg)
}

func namedGet(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedGet(ctx, ext, query, arg, dest)
}

func namedSelect(ctx context.Context, ext sqlx.ExtContext, query string, arg, dest any) error {
	return sqldb.NamedSelect(ctx, ext, query, arg, dest)
}
