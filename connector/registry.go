package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
)

// Registry routes an action to the connector that applies it: an explicit per-action override first, else
// the first connector, in the order given, that supports the action.
type Registry struct {
	conns     []Connector
	overrides map[card.Action]Connector
}

// NewRegistry routes to conns, in order.
func NewRegistry(conns ...Connector) *Registry {
	return &Registry{conns: slices.Clone(conns), overrides: map[card.Action]Connector{}}
}

// Override routes a to c, whatever the other connectors support.
func (r *Registry) Override(a card.Action, c Connector) error {
	if !a.Applicable() {
		return fmt.Errorf("registry: %q has nothing to apply", a)
	}
	if c == nil || !c.Supports(a) {
		return fmt.Errorf("registry: connector %s does not support %s", connectorName(c), a)
	}
	r.overrides[a] = c
	return nil
}

// For returns the connector that applies a, or a permanent *Error naming the action when none does.
func (r *Registry) For(a card.Action) (Connector, error) {
	if !a.Applicable() {
		return nil, permanentf("registry: %q has nothing to apply through a connector", a)
	}
	if c, ok := r.overrides[a]; ok {
		return c, nil
	}
	for _, c := range r.conns {
		if c.Supports(a) {
			return c, nil
		}
	}
	var why []string
	for _, c := range r.conns {
		if e, ok := c.(interface{ WhyUnsupported(card.Action) string }); ok {
			if s := e.WhyUnsupported(a); s != "" {
				why = append(why, c.Name()+": "+s)
			}
		}
	}
	msg := fmt.Sprintf("registry: no connector applies %s", a)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return nil, permanentf("%s", msg)
}

// Connectors returns the connectors in routing order, overrides not included.
func (r *Registry) Connectors() []Connector { return slices.Clone(r.conns) }

func connectorName(c Connector) string {
	if c == nil {
		return "<nil>"
	}
	return c.Name()
}

// Modes of Config.
const (
	// ModeDryRun records what would have run; the default.
	ModeDryRun = "dry-run"
	// ModeLive applies actions through Defender for Endpoint, Microsoft Graph and the webhook.
	ModeLive = "live"
)

// Environment variables ConfigFromEnv reads (the worker's variables of the same settings).
const (
	EnvMode            = "GUIDED_CONNECTORS"
	EnvDefenderBaseURL = "GUIDED_DEFENDER_URL"
	EnvGraphBaseURL    = "GUIDED_GRAPH_URL"
	EnvTokenURL        = "GUIDED_TOKEN_URL"
	EnvTenantID        = "GUIDED_AZURE_TENANT_ID"
	EnvClientID        = "GUIDED_AZURE_CLIENT_ID"
	EnvClientSecret    = "GUIDED_AZURE_CLIENT_SECRET"
	EnvWebhookURL      = "GUIDED_WEBHOOK_URL"
	EnvWebhookSecret   = "GUIDED_WEBHOOK_SECRET"
	// EnvWebhookActions is a comma-separated list of actions, e.g. "email.blockSender,email.unblockSender",
	// or AllActions.
	EnvWebhookActions = "GUIDED_WEBHOOK_ACTIONS"
	// EnvPollInterval is a Go duration, e.g. "10s".
	EnvPollInterval = "GUIDED_DEFENDER_POLL_INTERVAL"
)

// Config is how actions are applied. Its String, GoString and MarshalJSON redact the secrets, so it can be
// logged.
type Config struct {
	// Mode is ModeDryRun (default) or ModeLive.
	Mode string
	// DefenderBaseURL and GraphBaseURL default to DefaultDefenderBaseURL and DefaultGraphBaseURL.
	DefenderBaseURL string
	GraphBaseURL    string
	// TokenURL defaults to https://login.microsoftonline.com/{TenantID}/oauth2/v2.0/token.
	TokenURL string
	// TenantID, ClientID and ClientSecret are the Entra app registration's; live mode needs them.
	TenantID     string
	ClientID     string
	ClientSecret string
	// WebhookURL, when set, gets the WebhookActions, signed with WebhookSecret.
	WebhookURL     string
	WebhookSecret  string
	WebhookActions []card.Action
	// PollInterval is the wait between polls of a Defender machine action; default 10 s.
	PollInterval time.Duration
}

// AllActions, as the webhook's list of actions, sends it every action a connector applies: a deployment
// whose responses all run through its own automation (a SOAR), with no Microsoft tenant to call.
const AllActions = "*"

// ParseWebhookActions reads a comma-separated list of actions, or AllActions. Names are checked by
// Validate.
func ParseWebhookActions(list string) []card.Action {
	var out []card.Action
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		switch a {
		case "":
		case AllActions:
			out = append(out, applicableActions...)
		default:
			out = append(out, card.Action(a))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// webhookTakesAll says every applicable action goes to the webhook, so Microsoft is never called.
func (c Config) webhookTakesAll() bool {
	if c.WebhookURL == "" {
		return false
	}
	for _, a := range applicableActions {
		if !slices.Contains(c.WebhookActions, a) {
			return false
		}
	}
	return true
}

func (c Config) hasMicrosoftCredentials() bool {
	return c.ClientID != "" || c.ClientSecret != "" || c.TenantID != ""
}

// ConfigFromEnv reads the Env* variables through getenv (os.Getenv).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Mode:            strings.TrimSpace(getenv(EnvMode)),
		DefenderBaseURL: getenv(EnvDefenderBaseURL),
		GraphBaseURL:    getenv(EnvGraphBaseURL),
		TokenURL:        getenv(EnvTokenURL),
		TenantID:        getenv(EnvTenantID),
		ClientID:        getenv(EnvClientID),
		ClientSecret:    getenv(EnvClientSecret),
		WebhookURL:      getenv(EnvWebhookURL),
		WebhookSecret:   getenv(EnvWebhookSecret),
	}
	cfg.WebhookActions = ParseWebhookActions(getenv(EnvWebhookActions))
	if v := strings.TrimSpace(getenv(EnvPollInterval)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s=%q: want a positive Go duration such as 10s", EnvPollInterval, v)
		}
		cfg.PollInterval = d
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate says what is wrong with the configuration, naming the environment variables.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case "", ModeDryRun, ModeLive:
	default:
		errs = append(errs, fmt.Errorf("%s=%q: use %s or %s", EnvMode, c.Mode, ModeDryRun, ModeLive))
	}
	// Live mode calls Defender and Graph with the app registration's credentials, unless every action goes
	// to the webhook; credentials given there must still be whole.
	if c.Mode == ModeLive && (!c.webhookTakesAll() || c.hasMicrosoftCredentials()) {
		if c.ClientID == "" || c.ClientSecret == "" || (c.TenantID == "" && c.TokenURL == "") {
			errs = append(errs, fmt.Errorf("live mode needs the app registration's credentials: set %s, %s and %s (or %s); "+
				"or send every action to the webhook with %s=%s", EnvClientID, EnvClientSecret, EnvTenantID, EnvTokenURL,
				EnvWebhookActions, AllActions))
		}
	}
	for _, u := range []struct{ name, value string }{
		{EnvDefenderBaseURL, c.DefenderBaseURL}, {EnvGraphBaseURL, c.GraphBaseURL}, {EnvTokenURL, c.TokenURL}, {EnvWebhookURL, c.WebhookURL},
	} {
		if u.value != "" {
			if err := checkHTTPURL(u.value); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
			}
		}
	}
	switch {
	case c.WebhookURL != "" && len(c.WebhookActions) == 0:
		errs = append(errs, fmt.Errorf("%s is set but %s lists no actions to send to it", EnvWebhookURL, EnvWebhookActions))
	case c.WebhookURL == "" && len(c.WebhookActions) > 0:
		errs = append(errs, fmt.Errorf("%s lists actions but %s is not set", EnvWebhookActions, EnvWebhookURL))
	}
	if c.WebhookURL != "" && len(c.WebhookSecret) < MinWebhookSecret {
		errs = append(errs, fmt.Errorf("%s is %d bytes; use at least %d random bytes", EnvWebhookSecret, len(c.WebhookSecret), MinWebhookSecret))
	}
	for _, a := range c.WebhookActions {
		if !slices.Contains(applicableActions, a) {
			errs = append(errs, fmt.Errorf("%s: %q is not an action a connector applies (e.g. %s)", EnvWebhookActions, a, card.ActionEmailBlockSender))
		}
	}
	return errors.Join(errs...)
}

// String redacts the secrets.
func (c Config) String() string {
	return fmt.Sprintf("{Mode:%s DefenderBaseURL:%s GraphBaseURL:%s TokenURL:%s TenantID:%s ClientID:%s ClientSecret:%s WebhookURL:%s WebhookSecret:%s WebhookActions:%v PollInterval:%s}",
		c.Mode, c.DefenderBaseURL, c.GraphBaseURL, c.TokenURL, c.TenantID, c.ClientID, redactedIfSet(c.ClientSecret),
		redactWebhookURL(c.WebhookURL), redactedIfSet(c.WebhookSecret), c.WebhookActions, c.PollInterval)
}

// GoString redacts the secrets from %#v.
func (c Config) GoString() string { return "connector.Config" + c.String() }

// MarshalJSON redacts the secrets (hclog's JSON format marshals values).
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	p := plain(c)
	p.ClientSecret = redactedIfSet(c.ClientSecret)
	p.WebhookSecret = redactedIfSet(c.WebhookSecret)
	p.WebhookURL = redactWebhookURL(c.WebhookURL)
	return json.Marshal(p)
}

// redactWebhookURL drops a webhook URL's query and user info, where receivers often put a token.
func redactWebhookURL(u string) string {
	if u == "" {
		return ""
	}
	return redactURL(u)
}

// Build makes the registry cfg asks for. In dry-run mode (the default) every action goes to a DryRun over
// recorder. In live mode device, file and indicator actions go to Defender for Endpoint, user, email and
// OAuth app actions to Microsoft Graph, and the WebhookActions to the webhook. httpClient and logger may be
// nil.
func Build(cfg Config, recorder DryRunRecorder, httpClient *http.Client, logger hclog.Logger) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("connector config: %w", err)
	}
	logger = orNullLogger(logger)
	if cfg.Mode == "" || cfg.Mode == ModeDryRun {
		if recorder == nil {
			return nil, errors.New("connector config: dry-run mode needs a dry-run recorder")
		}
		logger.Info("connectors: dry run, nothing is applied")
		return NewRegistry(NewDryRun(recorder, logger)), nil
	}
	reg := NewRegistry()
	if cfg.hasMicrosoftCredentials() {
		creds := Credentials{TokenURL: cfg.TokenURL, TenantID: cfg.TenantID, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret}
		defender, err := NewDefenderEndpoint(DefenderConfig{
			BaseURL: cfg.DefenderBaseURL, Credentials: creds, PollInterval: cfg.PollInterval, HTTPClient: httpClient, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("connector config: %w", err)
		}
		graph, err := NewGraph(GraphConfig{BaseURL: cfg.GraphBaseURL, Credentials: creds, HTTPClient: httpClient, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("connector config: %w", err)
		}
		reg = NewRegistry(defender, graph)
	}
	if cfg.WebhookURL != "" {
		hook, err := NewWebhook(WebhookConfig{
			URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret), Actions: cfg.WebhookActions, HTTPClient: httpClient, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("connector config: %w", err)
		}
		for _, a := range cfg.WebhookActions {
			if err := reg.Override(a, hook); err != nil {
				return nil, fmt.Errorf("connector config: %w", err)
			}
		}
	}
	if cfg.hasMicrosoftCredentials() {
		logger.Info("connectors: live", "config", cfg)
	} else {
		logger.Info("connectors: live, every action through the webhook; no Microsoft credentials", "config", cfg)
	}
	return reg, nil
}

// applicableActions are card's actions that a connector applies (card.Action.Applicable), for checking
// configured action names. Keep in step with the card package's constants.
var applicableActions = []card.Action{
	card.ActionDeviceIsolate, card.ActionDeviceRelease, card.ActionDeviceRestrictAppExecution,
	card.ActionDeviceRemoveAppRestriction, card.ActionDeviceRunAntivirusScan, card.ActionDeviceCollectInvestigation,
	card.ActionDeviceLiveResponse, card.ActionFileStopAndQuarantine, card.ActionIndicatorBlock, card.ActionIndicatorRemove,
	card.ActionUserDisable, card.ActionUserEnable, card.ActionUserRevokeSessions, card.ActionUserForcePasswordReset,
	card.ActionUserMarkCompromised, card.ActionUserRequireSignIn, card.ActionEmailSoftDelete, card.ActionEmailHardDelete,
	card.ActionEmailMoveToJunk, card.ActionEmailMoveToInbox, card.ActionEmailBlockSender, card.ActionEmailUnblockSender,
	card.ActionOAuthAppRevoke, card.ActionProcessKill,
}
