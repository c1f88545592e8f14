// Command worker runs the guided-response worker.
//
//	worker --dev                       everything in one process: embedded Temporal + UI, local Postgres, worker
//	worker                             the worker against an existing Temporal cluster and Postgres
//	worker migrate                     apply the database migrations to DATABASE_URL
//	worker register-search-attributes  register the search attributes in TEMPORAL_NAMESPACE
//	worker grant                       give a principal of a tenant a role (RBAC)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/api"
	"github.com/guided-response/guided/internal/devstack"
	"github.com/guided-response/guided/internal/devtemporal"
	"github.com/guided-response/guided/internal/envflag"
	"github.com/guided-response/guided/internal/interrupt"
	"github.com/guided-response/guided/internal/localpg"
	"github.com/guided-response/guided/internal/sdkmetrics"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/migrations"
	"github.com/guided-response/guided/workflows"
)

func main() {
	ctx, stop := interrupt.Context()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "worker:", err)
		}
		os.Exit(2)
	}
}

// run is the whole program; main is a shell around it so tests can run it too.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	command := "run"
	if len(args) > 0 && (args[0] == "migrate" || args[0] == "register-search-attributes" || args[0] == "grant" || args[0] == "api") {
		command, args = args[0], args[1:]
	}
	var cfg config
	var g grantConfig
	fs := newFlagSet(command, &cfg, stderr)
	if command == "grant" {
		fs.StringVar(&g.Tenant, "tenant", "", "tenant ID")
		fs.StringVar(&g.Principal, "principal", "", "principal ID, e.g. alice@contoso.com")
		fs.StringVar(&g.DisplayName, "display-name", "", "display name")
		fs.StringVar(&g.Role, "role", "", `role, e.g. "Security operator" (built-in: Security reader, Security operator, Security administrator, Email operator)`)
		fs.BoolVar(&g.Revoke, "revoke", false, "take the role back")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envflag.Apply(fs); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the commands are migrate, register-search-attributes and grant; see -h", fs.Arg(0))
	}
	logger, err := newLogger(&cfg, stderr)
	if err != nil {
		return err
	}
	apiAddrSet := false
	fs.Visit(func(f *flag.Flag) { apiAddrSet = apiAddrSet || f.Name == "api-addr" })
	if cfg.Dev && !apiAddrSet && os.Getenv("GUIDED_API_ADDR") == "" {
		cfg.API.Addr = DevAPIAddr
	}
	switch command {
	case "migrate":
		return runMigrate(ctx, &cfg, logger, stdout)
	case "register-search-attributes":
		return runRegisterSearchAttributes(ctx, &cfg, logger, stdout)
	case "grant":
		return runGrant(ctx, &cfg, &g, logger, stdout)
	case "api":
		return runAPIOnly(ctx, &cfg, logger, stdout)
	}
	return runWorker(ctx, &cfg, logger, stdout)
}

func runMigrate(ctx context.Context, cfg *config, logger hclog.Logger, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set: set it (or --database-url) to the PostgreSQL to migrate")
	}
	db, err := sqlx.ConnectContext(ctx, "postgres", cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to postgres at %s: %w", devstack.RedactURL(cfg.DatabaseURL), err)
	}
	defer db.Close()
	applied, err := migrations.Up(ctx, db.DB, logger.Named("migrations"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied: %d\n", len(applied))
	return nil
}

func runRegisterSearchAttributes(ctx context.Context, cfg *config, logger hclog.Logger, stdout io.Writer) error {
	c, err := temporalclient.Dial(ctx, cfg.Temporal, logger.Named("temporal-client"), 2*time.Minute)
	if err != nil {
		return err
	}
	defer c.Close()
	added, err := temporalclient.EnsureSearchAttributes(ctx, c, cfg.Temporal.Namespace, workflows.SearchAttributes())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "search attributes added to %s: %v\n", cfg.Temporal.Namespace, added)
	return nil
}

func runWorker(ctx context.Context, cfg *config, logger hclog.Logger, stdout io.Writer) error {
	if err := cfg.Tuning.validate(); err != nil {
		return err
	}
	// Before anything starts: a policy flag out of range is an error now, not after the dev stack is up.
	if _, err := cfg.Guided.policy(); err != nil {
		return err
	}
	// Before any SDK worker exists: the cache is made by the first one, and with --dev the embedded
	// server's own system workers start first.
	worker.SetStickyWorkflowCacheSize(cfg.Tuning.StickyCacheSize)
	// The listeners below stop when ctx ends and their waits are deferred: an error return must end ctx
	// before it waits, or the process would hang with the error unsaid (it did, on a bad playbook).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, waitPprof, err := startPprof(ctx, cfg.Tuning.PprofAddr, logger.Named("pprof"))
	if err != nil {
		return err
	}
	defer func() { cancel(); waitPprof() }()
	var db *sqlx.DB
	var stack *devstack.Stack
	if cfg.Dev {
		temporalLogger := logger.Named("temporal")
		if logger.GetLevel() > hclog.Debug {
			temporalLogger.SetLevel(max(hclog.Warn, logger.GetLevel()))
		}
		stack, err = devstack.Start(ctx, devstack.Options{
			DataDir:        cfg.DataDir,
			TemporalPort:   cfg.TemporalPort,
			UIPort:         cfg.UIPort,
			PostgresPort:   cfg.PostgresPort,
			DatabaseURL:    cfg.DatabaseURL,
			PostgresBin:    cfg.PostgresBin,
			Namespace:      cfg.Temporal.Namespace,
			Logger:         logger,
			TemporalLogger: temporalLogger,
		})
		if errors.Is(err, devtemporal.ErrPortInUse) || errors.Is(err, localpg.ErrPortInUse) {
			return fmt.Errorf("%w\n(the dev stack's ports: --dev-temporal-port %d, --dev-ui-port %d, --dev-postgres-port %d; 0 picks a free one)",
				err, cfg.TemporalPort, cfg.UIPort, cfg.PostgresPort)
		}
		if err != nil {
			return err
		}
		defer func() {
			if err := stack.Stop(context.Background()); err != nil {
				logger.Error("stopping the dev stack", "error", err)
				return
			}
			fmt.Fprintln(stdout, "Guided Response stopped.")
		}()
		cfg.Temporal.Address = stack.Temporal.FrontendAddress()
		db = stack.DB
	} else {
		if cfg.DatabaseURL == "" {
			return errors.New("DATABASE_URL is not set: set it (or --database-url) to the PostgreSQL the worker uses, or run `worker --dev` for the embedded stack")
		}
		db, err = sqlx.ConnectContext(ctx, "postgres", cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("connect to postgres at %s: %w", devstack.RedactURL(cfg.DatabaseURL), err)
		}
		defer db.Close()
		if err := migrations.Check(ctx, db.DB); err != nil {
			return err
		}
	}
	cfg.Tuning.sizePool(db)

	reg := newRegistry()
	cfg.Temporal.MetricsHandler = sdkmetrics.New(reg, "temporal")
	c, err := temporalclient.Dial(ctx, cfg.Temporal, logger.Named("temporal-client"), 2*time.Minute)
	if err != nil {
		return err
	}
	defer c.Close()
	metrics := api.NewMetrics(reg)
	// The playbooks and connectors before anything says the worker runs: a bad playbook directory or
	// connector setting ends it here, with the reason.
	acts, err := newActivities(cfg.Guided, db, logger)
	if err != nil {
		return err
	}
	acts.ObserveAction = func(action string, applied bool) {
		result := "failed"
		if applied {
			result = "applied"
		}
		metrics.ObserveAction(action, result)
	}
	if cfg.Dev && cfg.API.UIBaseURL == "" {
		cfg.API.UIBaseURL = stack.Temporal.UIURL()
	}
	apiURL, waitAPI, err := startAPI(ctx, cfg.API, cfg.Temporal.Namespace, cfg.TaskQueue, c, db, reg, metrics, logger)
	if err != nil {
		return err
	}
	defer func() { cancel(); waitAPI() }()
	_, waitMetrics, err := startMetrics(ctx, cfg.Tuning.MetricsAddr, reg, logger.Named("metrics"))
	if err != nil {
		return err
	}
	defer func() { cancel(); waitMetrics() }()
	if cfg.Dev {
		printBanner(stdout, cfg, stack, apiURL)
		if _, err := temporalclient.EnsureSearchAttributes(ctx, c, cfg.Temporal.Namespace, workflows.SearchAttributes()); err != nil {
			return err
		}
	}
	if err := ensureTrainSchedule(ctx, c, cfg.TaskQueue, cfg.Guided.RetrainEvery, logger); err != nil {
		return err
	}
	logger.Info("sticky workflow cache", "size", cfg.Tuning.StickyCacheSize, "db_max_conns", cfg.Tuning.DBMaxConns)
	return serve(ctx, c, cfg.TaskQueue, acts, logger)
}

// serve polls the task queue until ctx ends, then lets running tasks finish.
func serve(ctx context.Context, c client.Client, taskQueue string, acts *activities.Activities, logger hclog.Logger) error {
	// On SIGTERM, running activities get ten seconds to finish rather than being abandoned to their
	// timeouts (a rolling restart should not delay incidents).
	// A short sticky timeout: a query or task sent to this worker's sticky queue falls back to the shared
	// queue after a second, not five, when this worker is busy (queries back the cards views).
	w := worker.New(c, taskQueue, worker.Options{WorkerStopTimeout: 10 * time.Second, StickyScheduleToStartTimeout: time.Second})
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", taskQueue, err)
	}
	logger.Info("worker polling", "task_queue", taskQueue)
	<-ctx.Done()
	logger.Info("stopping")
	w.Stop()
	return nil
}

// printBanner says where everything is.
func printBanner(out io.Writer, cfg *config, stack *devstack.Stack, apiURL string) {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		dataDir = cfg.DataDir
	}
	fmt.Fprintf(out, `
Guided Response is running (dev mode)
  Temporal frontend  %s (namespace %s)
  Temporal Web UI    %s
  PostgreSQL         %s
  HTTP API           %s
  Web console        %s
  Worker task queue  %s
  Data directory     %s

Trigger an incident: go run ./starter incident incident/testdata/graph_incident_multi.json
Sign in to the console with a token: go run ./starter token create --tenant TENANT --principal YOU (README)
Stop with Ctrl-C.

`, stack.Temporal.FrontendAddress(), cfg.Temporal.Namespace, orNone(stack.Temporal.UIURL()), stack.RedactedDatabaseURL(), orNone(apiURL), orNone(consoleURL(apiURL)), cfg.TaskQueue, dataDir)
}

// consoleURL is the web console's address on the API's, if the API runs.
func consoleURL(apiURL string) string {
	if apiURL == "" {
		return ""
	}
	return apiURL + "/console/"
}

func orNone(s string) string {
	if s == "" {
		return "(not running)"
	}
	return s
}

// runAPIOnly serves the HTTP API without polling a task queue: the API as a separate process.
func runAPIOnly(ctx context.Context, cfg *config, logger hclog.Logger, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set: the API reads incidents, principals and tokens from PostgreSQL")
	}
	if cfg.API.Addr == "" {
		cfg.API.Addr = ":8080"
	}
	if err := cfg.Tuning.validate(); err != nil {
		return err
	}
	db, err := sqlx.ConnectContext(ctx, "postgres", cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to postgres at %s: %w", devstack.RedactURL(cfg.DatabaseURL), err)
	}
	defer db.Close()
	cfg.Tuning.sizePool(db)
	if err := migrations.Check(ctx, db.DB); err != nil {
		return err
	}
	reg := newRegistry()
	cfg.Temporal.MetricsHandler = sdkmetrics.New(reg, "temporal")
	c, err := temporalclient.Dial(ctx, cfg.Temporal, logger.Named("temporal-client"), 2*time.Minute)
	if err != nil {
		return err
	}
	defer c.Close()
	url, wait, err := startAPI(ctx, cfg.API, cfg.Temporal.Namespace, cfg.TaskQueue, c, db, reg, api.NewMetrics(reg), logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Guided Response API on %s\n", url)
	<-ctx.Done()
	wait()
	return nil
}
