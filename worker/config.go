package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/workflows"
)

// config is everything the worker can be told, by flag or environment variable.
type config struct {
	Dev          bool
	DataDir      string
	TemporalPort int
	UIPort       int
	PostgresPort int
	PostgresBin  string

	Temporal    temporalclient.Config
	DatabaseURL string
	TaskQueue   string

	LogLevel  string
	LogFormat string
}

// newFlagSet binds a flag set for command (run, migrate, register-search-attributes) to cfg.
func newFlagSet(command string, cfg *config, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("worker "+command, flag.ContinueOnError)
	fs.SetOutput(output)
	env := temporalclient.Env
	if command == "run" {
		fs.BoolVar(&cfg.Dev, "dev", temporalclient.EnvBool("GUIDED_DEV", false), "run everything in this process: embedded Temporal and its UI, a local Postgres, the worker (env GUIDED_DEV)")
		fs.StringVar(&cfg.DataDir, "data-dir", env("GUIDED_DATA_DIR", ".guided"), "with --dev: where Temporal's SQLite file and the Postgres cluster live (env GUIDED_DATA_DIR)")
		fs.IntVar(&cfg.TemporalPort, "dev-temporal-port", envInt("GUIDED_DEV_TEMPORAL_PORT", 7233), "with --dev: the embedded Temporal frontend's port on 127.0.0.1 (env GUIDED_DEV_TEMPORAL_PORT)")
		fs.IntVar(&cfg.UIPort, "dev-ui-port", envInt("GUIDED_DEV_UI_PORT", 8233), "with --dev: the Temporal Web UI's port on 127.0.0.1 (env GUIDED_DEV_UI_PORT)")
		fs.IntVar(&cfg.PostgresPort, "dev-postgres-port", envInt("GUIDED_DEV_POSTGRES_PORT", 55432), "with --dev and no DATABASE_URL: the local Postgres's port on 127.0.0.1 (env GUIDED_DEV_POSTGRES_PORT)")
		fs.StringVar(&cfg.PostgresBin, "dev-postgres-bin", env("PG_BIN", ""), "with --dev: directory of initdb and postgres; searched for when empty (env PG_BIN)")
		fs.StringVar(&cfg.TaskQueue, "task-queue", env("GUIDED_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue to poll (env GUIDED_TASK_QUEUE)")
	}
	if command == "run" || command == "register-search-attributes" {
		cfg.Temporal.RegisterFlags(fs)
	}
	if command == "run" || command == "migrate" {
		fs.StringVar(&cfg.DatabaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL, postgres://user:password@host:port/db?sslmode=... (env DATABASE_URL; prefer the variable, flags show in process lists)")
	}
	fs.StringVar(&cfg.LogLevel, "log-level", env("LOG_LEVEL", "info"), "trace, debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&cfg.LogFormat, "log-format", env("LOG_FORMAT", "text"), "text or json (env LOG_FORMAT)")
	return fs
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(temporalclient.Env(name, "")); err == nil {
		return v
	}
	return def
}

// newLogger is the one root logger; components take .Named() children of it.
func newLogger(cfg *config, output io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(cfg.LogLevel)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level %q: use trace, debug, info, warn or error", cfg.LogLevel)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "guided",
		Level:      level,
		Output:     output,
		JSONFormat: cfg.LogFormat == "json",
		// Children may run quieter than the root: the Temporal server is chatty at info.
		IndependentLevels: true,
	}), nil
}
