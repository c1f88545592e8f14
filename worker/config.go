package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
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

	Guided guidedConfig
	API    apiConfig
	Tuning tuningConfig
}

// guidedConfig configures the guided response: playbooks, connectors, the LLM narrative, the policy.
type guidedConfig struct {
	PlaybookDir       string
	ConnectorMode     string
	AzureTenantID     string
	AzureClientID     string
	AzureSecret       string
	DefenderURL       string
	GraphURL          string
	TokenURL          string
	WebhookURL        string
	WebhookSecret     string
	WebhookActions    string
	LLMURL            string
	LLMModel          string
	LLMAPIKey         string
	LLMTimeout        time.Duration
	TriageThreshold   float64
	ModelThreshold    float64
	RetrainEvery      time.Duration
	HighRiskApprovals int
	ApprovalTTL       time.Duration
	ApplyAttempts     int
	ApplyTimeout      time.Duration
	ClassificationSLA string
}

func (g *guidedConfig) register(fs *flag.FlagSet) {
	env := temporalclient.Env
	fs.StringVar(&g.PlaybookDir, "playbooks", env("GUIDED_PLAYBOOKS", ""), "directory of playbook files, reloaded when they change; empty uses the built-in set (env GUIDED_PLAYBOOKS)")
	fs.StringVar(&g.ConnectorMode, "connectors", env("GUIDED_CONNECTORS", "dry-run"), "dry-run (record what would run) or live (apply through Defender, Graph and the webhook) (env GUIDED_CONNECTORS)")
	fs.StringVar(&g.AzureTenantID, "azure-tenant-id", env("GUIDED_AZURE_TENANT_ID", ""), "live: Entra ID tenant of the app registration (env GUIDED_AZURE_TENANT_ID)")
	fs.StringVar(&g.AzureClientID, "azure-client-id", env("GUIDED_AZURE_CLIENT_ID", ""), "live: application (client) ID (env GUIDED_AZURE_CLIENT_ID)")
	fs.StringVar(&g.AzureSecret, "azure-client-secret", env("GUIDED_AZURE_CLIENT_SECRET", ""), "live: client secret (env GUIDED_AZURE_CLIENT_SECRET; prefer the variable)")
	fs.StringVar(&g.DefenderURL, "defender-url", env("GUIDED_DEFENDER_URL", "https://api.securitycenter.microsoft.com"), "live: Defender for Endpoint API base URL (env GUIDED_DEFENDER_URL)")
	fs.StringVar(&g.GraphURL, "graph-url", env("GUIDED_GRAPH_URL", "https://graph.microsoft.com"), "live: Microsoft Graph base URL (env GUIDED_GRAPH_URL)")
	fs.StringVar(&g.TokenURL, "token-url", env("GUIDED_TOKEN_URL", ""), "live: OAuth2 token endpoint; empty uses login.microsoftonline.com for the tenant (env GUIDED_TOKEN_URL)")
	fs.StringVar(&g.WebhookURL, "webhook-url", env("GUIDED_WEBHOOK_URL", ""), "live: URL of the generic signed webhook for actions routed to it (env GUIDED_WEBHOOK_URL)")
	fs.StringVar(&g.WebhookSecret, "webhook-secret", env("GUIDED_WEBHOOK_SECRET", ""), "live: HMAC-SHA256 secret of the webhook (env GUIDED_WEBHOOK_SECRET; prefer the variable)")
	fs.StringVar(&g.WebhookActions, "webhook-actions", env("GUIDED_WEBHOOK_ACTIONS", ""), "live: comma-separated actions to send to the webhook, e.g. email.blockSender; * sends every action, and then no Azure credentials are needed (env GUIDED_WEBHOOK_ACTIONS)")
	fs.StringVar(&g.LLMURL, "llm-url", env("GUIDED_LLM_URL", ""), "OpenAI-compatible base URL for the attack-story narrative; empty: deterministic narrative only (env GUIDED_LLM_URL)")
	fs.StringVar(&g.LLMModel, "llm-model", env("GUIDED_LLM_MODEL", ""), "model name for the narrative (env GUIDED_LLM_MODEL)")
	fs.StringVar(&g.LLMAPIKey, "llm-api-key", env("GUIDED_LLM_API_KEY", ""), "API key of the LLM endpoint (env GUIDED_LLM_API_KEY; prefer the variable)")
	fs.DurationVar(&g.LLMTimeout, "llm-timeout", envDuration("GUIDED_LLM_TIMEOUT", 20*time.Second), "how long to wait for the narrative before falling back (env GUIDED_LLM_TIMEOUT)")
	fs.Float64Var(&g.TriageThreshold, "triage-threshold", envFloat("GUIDED_TRIAGE_THRESHOLD", 0.7), "below this confidence the playbooks' rule-based triage says it is unsure (env GUIDED_TRIAGE_THRESHOLD)")
	fs.Float64Var(&g.ModelThreshold, "model-threshold", envFloat("GUIDED_MODEL_THRESHOLD", 0), "below this confidence the trained triage model says it is unsure; 0 uses each model's own, chosen for an answered precision of 0.92 (env GUIDED_MODEL_THRESHOLD)")
	fs.DurationVar(&g.RetrainEvery, "retrain-every", envDuration("GUIDED_RETRAIN_EVERY", 24*time.Hour), "retrain the triage model on this Temporal Schedule; 0 removes none and creates none (env GUIDED_RETRAIN_EVERY)")
	fs.IntVar(&g.HighRiskApprovals, "high-risk-approvals", envInt("GUIDED_HIGH_RISK_APPROVALS", 2), "distinct principals who must approve a high-risk action (four-eyes: 2) (env GUIDED_HIGH_RISK_APPROVALS)")
	fs.DurationVar(&g.ApprovalTTL, "approval-ttl", envDuration("GUIDED_APPROVAL_TTL", 24*time.Hour), "a proposed action not decided within it expires (env GUIDED_APPROVAL_TTL)")
	def := activities.DefaultPolicy()
	fs.IntVar(&g.ApplyAttempts, "apply-attempts", envInt("GUIDED_APPLY_ATTEMPTS", def.ApplyAttempts), "attempts to apply an approved action before its card fails (env GUIDED_APPLY_ATTEMPTS)")
	fs.DurationVar(&g.ApplyTimeout, "apply-timeout", envDuration("GUIDED_APPLY_TIMEOUT", def.ApplyTimeout), "longest one attempt may take; Defender machine actions take minutes (env GUIDED_APPLY_TIMEOUT)")
	fs.StringVar(&g.ClassificationSLA, "classification-sla", env("GUIDED_CLASSIFICATION_SLA", ""), "time to classify per severity before the incident is escalated, e.g. high=30m,medium=2h; severities not named keep "+slaString(def.ClassificationSLA)+" (env GUIDED_CLASSIFICATION_SLA)")
}

// Bounds of the policy flags: beyond them a value is a typo rather than a choice.
const (
	maxApplyAttempts = 100
	minApplyTimeout  = 10 * time.Second
	maxApplyTimeout  = 24 * time.Hour
)

// policy is the guided response's policy from the flags, or an error naming the flag and the fix.
func (g *guidedConfig) policy() (activities.Policy, error) {
	p := activities.DefaultPolicy()
	var errs []error
	if g.HighRiskApprovals < 1 || g.HighRiskApprovals > 10 {
		errs = append(errs, fmt.Errorf("--high-risk-approvals %d: want 1 (no four-eyes) to 10", g.HighRiskApprovals))
	}
	p.RequiredApprovals[card.RiskHigh] = g.HighRiskApprovals
	if g.ApprovalTTL <= 0 {
		errs = append(errs, fmt.Errorf("--approval-ttl %s: want a positive duration such as 24h", g.ApprovalTTL))
	}
	p.ApprovalTTL = g.ApprovalTTL
	if g.ApplyAttempts < 1 || g.ApplyAttempts > maxApplyAttempts {
		errs = append(errs, fmt.Errorf("--apply-attempts %d: want 1 to %d", g.ApplyAttempts, maxApplyAttempts))
	}
	p.ApplyAttempts = g.ApplyAttempts
	if g.ApplyTimeout < minApplyTimeout || g.ApplyTimeout > maxApplyTimeout {
		errs = append(errs, fmt.Errorf("--apply-timeout %s: want %s to %s", g.ApplyTimeout, minApplyTimeout, maxApplyTimeout))
	}
	p.ApplyTimeout = g.ApplyTimeout
	if err := parseSLA(g.ClassificationSLA, p.ClassificationSLA); err != nil {
		errs = append(errs, fmt.Errorf("--classification-sla: %w", err))
	}
	for name, v := range map[string]float64{"--triage-threshold": g.TriageThreshold, "--model-threshold": g.ModelThreshold} {
		if v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("%s %g: want a confidence from 0 to 1", name, v))
		}
	}
	if g.LLMTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--llm-timeout %s: want a positive duration such as 20s", g.LLMTimeout))
	}
	if g.RetrainEvery < 0 {
		errs = append(errs, fmt.Errorf("--retrain-every %s: want 0 (no schedule) or a positive duration", g.RetrainEvery))
	}
	return p, errors.Join(errs...)
}

// parseSLA reads "high=30m,medium=2h" into sla, over its defaults.
func parseSLA(s string, sla map[incident.Severity]time.Duration) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		sev := incident.Severity(strings.ToLower(strings.TrimSpace(name)))
		if _, known := sla[sev]; !ok || !known {
			return fmt.Errorf("%q: want SEVERITY=DURATION, SEVERITY one of %s", part, strings.Join(slaSeverities(sla), ", "))
		}
		d, err := time.ParseDuration(strings.TrimSpace(value))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want a positive duration such as 30m", part)
		}
		sla[sev] = d
	}
	return nil
}

func slaSeverities(sla map[incident.Severity]time.Duration) []string {
	var out []string
	for sev := range sla {
		out = append(out, string(sev))
	}
	sort.Strings(out)
	return out
}

func slaString(sla map[incident.Severity]time.Duration) string {
	var parts []string
	for _, sev := range slaSeverities(sla) {
		parts = append(parts, sev+"="+shortDuration(sla[incident.Severity(sev)]))
	}
	return strings.Join(parts, ",")
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(temporalclient.Env(name, "")); err == nil {
		return d
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(temporalclient.Env(name, ""), 64); err == nil {
		return f
	}
	return def
}

// newFlagSet binds a flag set for command (run, api, migrate, register-search-attributes, grant) to cfg.
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
		cfg.Guided.register(fs)
		cfg.Tuning.register(fs)
	}
	if command == "run" || command == "api" {
		cfg.API.register(fs)
	}
	if command == "api" {
		cfg.Tuning.registerDB(fs)
		fs.StringVar(&cfg.TaskQueue, "task-queue", env("GUIDED_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue of the workers (env GUIDED_TASK_QUEUE)")
		cfg.Temporal.RegisterFlags(fs)
	}
	if command == "run" || command == "register-search-attributes" {
		cfg.Temporal.RegisterFlags(fs)
	}
	if command == "grant" {
		fs.StringVar(&cfg.DataDir, "data-dir", env("GUIDED_DATA_DIR", ".guided"), "without DATABASE_URL: the dev stack's data directory (env GUIDED_DATA_DIR)")
		fs.IntVar(&cfg.PostgresPort, "dev-postgres-port", envInt("GUIDED_DEV_POSTGRES_PORT", 55432), "without DATABASE_URL: the dev stack's Postgres port (env GUIDED_DEV_POSTGRES_PORT)")
	}
	if command == "run" || command == "migrate" || command == "grant" || command == "api" {
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

// shortDuration writes 1h for 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
