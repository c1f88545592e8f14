package connector

import (
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
)

func liveConfig() Config {
	return Config{
		Mode: ModeLive, TenantID: testTenantID, ClientID: testClientID, ClientSecret: testClientSecret,
		WebhookURL: "https://hooks.example/guided?token=hook-url-token", WebhookSecret: string(testWebhookSecret),
		WebhookActions: []card.Action{card.ActionEmailBlockSender, card.ActionEmailUnblockSender, card.ActionUserDisable},
	}
}

func TestRegistryRoutesLive(t *testing.T) {
	reg, err := Build(liveConfig(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[card.Action]string{
		card.ActionDeviceIsolate:              "defender-endpoint",
		card.ActionDeviceRelease:              "defender-endpoint",
		card.ActionDeviceRestrictAppExecution: "defender-endpoint",
		card.ActionDeviceRemoveAppRestriction: "defender-endpoint",
		card.ActionDeviceRunAntivirusScan:     "defender-endpoint",
		card.ActionDeviceCollectInvestigation: "defender-endpoint",
		card.ActionFileStopAndQuarantine:      "defender-endpoint",
		card.ActionIndicatorBlock:             "defender-endpoint",
		card.ActionIndicatorRemove:            "defender-endpoint",
		card.ActionUserDisable:                "webhook", // overridden
		card.ActionUserEnable:                 "graph",
		card.ActionUserRevokeSessions:         "graph",
		card.ActionUserForcePasswordReset:     "graph",
		card.ActionUserMarkCompromised:        "graph",
		card.ActionUserRequireSignIn:          "graph",
		card.ActionEmailSoftDelete:            "graph",
		card.ActionEmailHardDelete:            "graph",
		card.ActionEmailMoveToJunk:            "graph",
		card.ActionEmailMoveToInbox:           "graph",
		card.ActionEmailBlockSender:           "webhook",
		card.ActionEmailUnblockSender:         "webhook",
		card.ActionOAuthAppRevoke:             "graph",
	}
	for a, name := range want {
		c, err := reg.For(a)
		if err != nil || c.Name() != name {
			t.Errorf("For(%s) = %v, %v; want %s", a, c, err, name)
		}
	}
	for _, a := range []card.Action{card.ActionProcessKill, card.ActionDeviceLiveResponse} {
		_, err := reg.For(a)
		if !IsPermanent(err) || !strings.Contains(err.Error(), string(a)) || !strings.Contains(err.Error(), "defender-endpoint: ") {
			t.Errorf("For(%s): %v, want a permanent error naming the action and Defender's reason", a, err)
		}
	}
	if _, err := reg.For(card.ActionInvestigateHunt); !IsPermanent(err) {
		t.Errorf("For(investigation) = %v", err)
	}
}

func TestRegistryWithoutWebhookExplainsBlockSender(t *testing.T) {
	cfg := liveConfig()
	cfg.WebhookURL, cfg.WebhookSecret, cfg.WebhookActions = "", "", nil
	reg, err := Build(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.For(card.ActionEmailBlockSender)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "email.blockSender") || !strings.Contains(err.Error(), "allow/block") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistryDryRunIsDefault(t *testing.T) {
	reg, err := Build(Config{}, newMemoryRecorder(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applicableActions {
		if c, err := reg.For(a); err != nil || c.Name() != "dry-run" {
			t.Errorf("For(%s) = %v, %v", a, c, err)
		}
	}
	if _, err := Build(Config{Mode: ModeDryRun}, nil, nil, nil); err == nil {
		t.Error("dry run without a recorder was accepted")
	}
}

func TestRegistryOverride(t *testing.T) {
	d := NewDryRun(newMemoryRecorder(), nil)
	w := newTestWebhook(t, "https://hooks.example/x", card.ActionEmailBlockSender)
	reg := NewRegistry(d)
	if err := reg.Override(card.ActionDeviceIsolate, w); err == nil {
		t.Error("override to a connector that does not support the action was accepted")
	}
	if err := reg.Override(card.ActionEmailBlockSender, w); err != nil {
		t.Fatal(err)
	}
	if c, _ := reg.For(card.ActionEmailBlockSender); c != Connector(w) {
		t.Errorf("override not used: %v", c)
	}
	if c, _ := reg.For(card.ActionDeviceIsolate); c != Connector(d) {
		t.Errorf("fallback not used: %v", c)
	}
	if _, err := NewRegistry().For(card.ActionDeviceIsolate); !IsPermanent(err) || !strings.Contains(err.Error(), "device.isolate") {
		t.Errorf("empty registry: %v", err)
	}
}

func TestBuildValidates(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"unknown mode", func(c *Config) { c.Mode = "prod" }, EnvMode},
		{"live without secret", func(c *Config) { c.ClientSecret = "" }, EnvClientSecret},
		{"live without tenant", func(c *Config) { c.TenantID = "" }, EnvTenantID},
		{"webhook without actions", func(c *Config) { c.WebhookActions = nil }, EnvWebhookActions},
		{"actions without webhook", func(c *Config) { c.WebhookURL = "" }, EnvWebhookURL},
		{"short webhook secret", func(c *Config) { c.WebhookSecret = "abc" }, EnvWebhookSecret},
		{"unknown action", func(c *Config) { c.WebhookActions = []card.Action{"email.blockSendr"} }, "email.blockSendr"},
		{"investigation action", func(c *Config) { c.WebhookActions = []card.Action{card.ActionInvestigateHunt} }, "investigation.huntingQuery"},
		{"bad base URL", func(c *Config) { c.DefenderBaseURL = "api.securitycenter.microsoft.com" }, EnvDefenderBaseURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := liveConfig()
			tt.change(&cfg)
			_, err := Build(cfg, newMemoryRecorder(), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), string(testWebhookSecret)) {
				t.Errorf("err leaks a secret: %v", err)
			}
		})
	}
	// A token URL stands in for the tenant.
	cfg := liveConfig()
	cfg.TenantID, cfg.TokenURL = "", "https://login.example/t/oauth2/v2.0/token"
	if _, err := Build(cfg, nil, nil, nil); err != nil {
		t.Errorf("token URL without tenant: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		EnvMode: "live", EnvTenantID: testTenantID, EnvClientID: testClientID, EnvClientSecret: testClientSecret,
		EnvWebhookURL: "https://hooks.example/guided", EnvWebhookSecret: string(testWebhookSecret),
		EnvWebhookActions: " email.blockSender , email.unblockSender,", EnvPollInterval: "15s",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != ModeLive || cfg.ClientSecret != testClientSecret || cfg.PollInterval != 15*time.Second ||
		len(cfg.WebhookActions) != 2 || cfg.WebhookActions[1] != card.ActionEmailUnblockSender {
		t.Errorf("cfg = %+v", cfg)
	}
	env[EnvPollInterval] = "soon"
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvPollInterval) {
		t.Errorf("bad poll interval: %v", err)
	}
	if cfg, err := ConfigFromEnv(func(string) string { return "" }); err != nil || cfg.Mode != "" {
		t.Errorf("empty environment: %+v, %v", cfg, err)
	}
}

// TestWebhookOnlyLiveMode: with every action sent to the webhook (GUIDED_WEBHOOK_ACTIONS=*), live mode needs
// no Microsoft credentials and routes everything, process kill and live response included, to the webhook.
func TestWebhookOnlyLiveMode(t *testing.T) {
	env := map[string]string{
		EnvMode: "live", EnvWebhookURL: "https://soar.example/guided", EnvWebhookSecret: string(testWebhookSecret),
		EnvWebhookActions: " * ",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.WebhookActions) != len(applicableActions) {
		t.Fatalf("* gave %d actions, want %d", len(cfg.WebhookActions), len(applicableActions))
	}
	reg, err := Build(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applicableActions {
		if c, err := reg.For(a); err != nil || c.Name() != "webhook" {
			t.Errorf("For(%s) = %v, %v; want the webhook", a, c, err)
		}
	}
	if len(reg.Connectors()) != 0 {
		t.Errorf("Defender and Graph built without credentials: %v", reg.Connectors())
	}

	// Credentials given anyway must be whole; and without * they are required, the error saying so.
	env[EnvClientID] = testClientID
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvClientSecret) {
		t.Errorf("half the credentials with *: %v", err)
	}
	delete(env, EnvClientID)
	env[EnvWebhookActions] = "email.blockSender"
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), EnvClientID) || !strings.Contains(err.Error(), EnvWebhookActions+"=*") {
		t.Errorf("live without credentials and some actions to the webhook: %v", err)
	}
	// Without a webhook, * is refused like any list.
	delete(env, EnvWebhookURL)
	env[EnvWebhookActions] = "*"
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvWebhookURL) {
		t.Errorf("* without a webhook: %v", err)
	}
}

func TestParseWebhookActions(t *testing.T) {
	got := ParseWebhookActions("email.unblockSender, email.blockSender,,email.blockSender")
	if len(got) != 2 || got[0] != card.ActionEmailBlockSender || got[1] != card.ActionEmailUnblockSender {
		t.Fatalf("got %v", got)
	}
	if got := ParseWebhookActions("*,email.blockSender"); len(got) != len(applicableActions) {
		t.Fatalf("* with a name: %d actions", len(got))
	}
	if got := ParseWebhookActions(" "); got != nil {
		t.Fatalf("blank: %v", got)
	}
}
