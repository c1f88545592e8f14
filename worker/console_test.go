package main

import (
	"context"
	"strings"
	"testing"
)

func TestConsoleOIDCConfig(t *testing.T) {
	ctx := context.Background()
	// Without an issuer or the console's URL there is no OpenID Connect sign-in (tokens only).
	for _, cfg := range []apiConfig{{}, {OIDCIssuer: "https://login.example"}, {ConsoleURL: "https://guided.example"}} {
		login, err := consoleOIDC(ctx, cfg)
		if err != nil || login != nil {
			t.Errorf("%+v: %v, %v; want none", cfg, login, err)
		}
	}
	// A state key that is not 32 bytes of base64 is refused before anything is contacted.
	for _, key := range []string{"not base64!", "c2hvcnQ="} {
		_, err := consoleOIDC(ctx, apiConfig{OIDCIssuer: "https://login.example", OIDCAudience: "guided", ConsoleURL: "https://guided.example", OIDCStateKey: key})
		if err == nil || !strings.Contains(err.Error(), "GUIDED_OIDC_STATE_KEY must be 32 random bytes in base64") {
			t.Errorf("state key %q: %v", key, err)
		}
	}
	// An issuer that cannot be reached fails the start with what to fix.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := consoleOIDC(cctx, apiConfig{OIDCIssuer: "https://127.0.0.1:1", OIDCAudience: "guided", ConsoleURL: "https://guided.example"})
	if err == nil || !strings.Contains(err.Error(), "console OpenID Connect sign-in") {
		t.Errorf("unreachable issuer: %v", err)
	}
}
