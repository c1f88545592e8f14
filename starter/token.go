package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the "postgres" driver

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/internal/devdb"
	"github.com/guided-response/guided/migrations"
)

const tokenUsage = `usage: starter token create|list|revoke --tenant TENANT [flags]

  create --tenant T --principal P [--name N] [--ttl 720h]
                     make an API token for an existing principal (see worker grant) and print it once;
                     --ttl 0 makes a token that lasts until revoked
  list --tenant T    the tenant's tokens: ID, principal, name, created, expires, revoked, last used
  revoke --tenant T --id TOKENID
                     revoke a token at once

Without DATABASE_URL (or --database-url) the commands work on the dev stack's database in --data-dir.
Run "starter token COMMAND -h" for a command's flags.
`

// tokenFlags are the token command's flags.
type tokenFlags struct {
	tenant       string
	principal    string
	name         string
	ttl          time.Duration
	id           string
	databaseURL  string
	dataDir      string
	postgresPort int
	json         bool
	timeout      time.Duration
	logLevel     string
}

func (f *tokenFlags) register(command string, fs *flag.FlagSet) {
	fs.StringVar(&f.tenant, "tenant", "", "the tenant of the tokens")
	switch command {
	case "create":
		fs.StringVar(&f.principal, "principal", envOr("GUIDED_PRINCIPAL", ""), "the principal the token acts as, e.g. soar@contoso.com (env GUIDED_PRINCIPAL)")
		fs.StringVar(&f.name, "name", "", "what the token is for, e.g. \"ticketing approvals\"")
		fs.DurationVar(&f.ttl, "ttl", 720*time.Hour, "how long the token is valid; 0 until revoked")
	case "revoke":
		fs.StringVar(&f.id, "id", "", "the ID of the token to revoke (starter token list shows it)")
	}
	fs.StringVar(&f.databaseURL, "database-url", envOr("DATABASE_URL", ""), "PostgreSQL URL, postgres://user:password@host:port/db?sslmode=... (env DATABASE_URL; prefer the variable, flags show in process lists)")
	fs.StringVar(&f.dataDir, "data-dir", envOr("GUIDED_DATA_DIR", ".guided"), "without DATABASE_URL: the dev stack's data directory (env GUIDED_DATA_DIR)")
	fs.IntVar(&f.postgresPort, "dev-postgres-port", envInt("GUIDED_DEV_POSTGRES_PORT", 55432), "without DATABASE_URL: the dev stack's Postgres port (env GUIDED_DEV_POSTGRES_PORT)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the database")
	fs.StringVar(&f.logLevel, "log-level", envOr("LOG_LEVEL", "warn"), "log level of the command's own logs")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(envOr(name, "")); err == nil {
		return v
	}
	return def
}

// runToken runs `starter token create|list|revoke`; args are the arguments after "token".
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, tokenUsage)
		if len(args) == 0 {
			return errors.New("token: no command given (create, list or revoke)")
		}
		return nil
	}
	command, args := args[0], args[1:]
	switch command {
	case "create", "list", "revoke":
	default:
		fmt.Fprint(stderr, tokenUsage)
		return fmt.Errorf("token: unknown command %q (create, list or revoke)", command)
	}
	var f tokenFlags
	fs := flag.NewFlagSet("starter token "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(command, fs)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("token %s: unexpected argument %q; every input is a flag (-h lists them)", command, positional[0])
	}
	if f.tenant == "" {
		return fmt.Errorf("token %s: --tenant is required, e.g. --tenant contoso", command)
	}
	switch {
	case command == "create" && f.principal == "":
		return errors.New("token create: --principal is required, e.g. --principal soar@contoso.com (an existing principal: see worker grant)")
	case command == "revoke" && f.id == "":
		return fmt.Errorf("token revoke: --id is required (starter token list --tenant %s shows the IDs)", f.tenant)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "starter", Level: hclog.LevelFromString(f.logLevel), Output: stderr})

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	db, err := connectTokenDB(ctx, &f)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens := auth.NewTokenStore(db, logger.Named("tokens"))

	switch command {
	case "create":
		return createToken(ctx, tokens, &f, stdout)
	case "list":
		return listTokens(ctx, tokens, &f, stdout)
	default:
		if err := tokens.Revoke(ctx, f.tenant, f.id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API token %s of tenant %s\n", f.id, f.tenant)
		return nil
	}
}

// connectTokenDB connects to DATABASE_URL, or to the dev stack's database, and checks its schema.
func connectTokenDB(ctx context.Context, f *tokenFlags) (*sqlx.DB, error) {
	dbURL := f.databaseURL
	if dbURL == "" {
		var err error
		if dbURL, err = devdb.URL(f.dataDir, f.postgresPort); err != nil {
			return nil, err
		}
	}
	db, err := sqlx.ConnectContext(ctx, "postgres", dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w (is `worker --dev` running, or DATABASE_URL set?)", err)
	}
	if err := migrations.Check(ctx, db.DB); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func createToken(ctx context.Context, tokens *auth.TokenStore, f *tokenFlags, out io.Writer) error {
	token, info, err := tokens.Create(ctx, f.tenant, f.principal, f.name, f.ttl)
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(out).Encode(struct {
			Token string `json:"token"`
			auth.TokenInfo
		}{token, info})
	}
	fmt.Fprintf(out, "created API token %s for %s in tenant %s, expires %s\n",
		info.ID, info.PrincipalID, info.TenantID, timeOrNever(info.ExpiresAt))
	fmt.Fprintln(out, "store it now; it cannot be shown again:")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  %s\n\n", token)
	fmt.Fprintln(out, "send it as: Authorization: Bearer <token>")
	return nil
}

func listTokens(ctx context.Context, tokens *auth.TokenStore, f *tokenFlags, out io.Writer) error {
	list, err := tokens.List(ctx, f.tenant)
	if err != nil {
		return err
	}
	if f.json {
		if list == nil {
			list = []auth.TokenInfo{}
		}
		return json.NewEncoder(out).Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(out, "tenant %s has no API tokens\n", f.tenant)
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPRINCIPAL\tNAME\tCREATED\tEXPIRES\tREVOKED\tLAST USED")
	for _, t := range list {
		name := t.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.PrincipalID, name, t.CreatedAt.Format(time.RFC3339),
			timeOrNever(t.ExpiresAt), timeOr(t.RevokedAt, "-"), timeOr(t.LastUsedAt, "never"))
	}
	return w.Flush()
}

func timeOrNever(t time.Time) string { return timeOr(t, "never") }

func timeOr(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
