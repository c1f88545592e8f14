package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/internal/devdb"
	"github.com/guided-response/guided/rbac"
)

// grantConfig is the grant command's flags.
type grantConfig struct {
	Tenant      string
	Principal   string
	DisplayName string
	Role        string
	Revoke      bool
}

// runGrant gives a principal of a tenant a role (creating the principal), or takes it back with --revoke.
// Without DATABASE_URL it works on the dev stack's database in --data-dir.
func runGrant(ctx context.Context, cfg *config, g *grantConfig, logger hclog.Logger, stdout io.Writer) error {
	if g.Tenant == "" || g.Principal == "" || g.Role == "" {
		return errors.New("grant: --tenant, --principal and --role are required, e.g. --tenant contoso --principal alice@contoso.com --role \"Security operator\"")
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		var err error
		if dbURL, err = devdb.URL(cfg.DataDir, cfg.PostgresPort); err != nil {
			return err
		}
	}
	db, err := sqlx.ConnectContext(ctx, "postgres", dbURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w (is `worker --dev` running, or DATABASE_URL set?)", err)
	}
	defer db.Close()
	access := rbac.New(db, logger.Named("rbac"))
	if g.Revoke {
		if err := access.RevokeRole(ctx, g.Tenant, g.Principal, g.Role); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %q from %s in tenant %s\n", g.Role, g.Principal, g.Tenant)
		return nil
	}
	if err := access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: g.Tenant, ID: g.Principal, DisplayName: g.DisplayName}); err != nil {
		return err
	}
	if err := access.GrantRole(ctx, g.Tenant, g.Principal, g.Role); err != nil {
		if errors.Is(err, rbac.ErrNotFound) {
			var names []string
			for _, r := range rbac.BuiltInRoles() {
				names = append(names, r.Name)
			}
			return fmt.Errorf("%w: built-in roles are %s", err, strings.Join(names, ", "))
		}
		return err
	}
	p, err := access.Principal(ctx, g.Tenant, g.Principal)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "granted %q to %s in tenant %s: permissions %v\n", g.Role, g.Principal, g.Tenant, p.Permissions)
	fmt.Fprintln(stdout, "running incident workflows see it after their next access refresh (10 minutes) or a refresh-access signal")
	return nil
}
