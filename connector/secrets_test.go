package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/guided-response/guided/card"
)

// leaks lists the secrets found in s.
func leaks(s string) []string {
	var found []string
	for _, secret := range []string{testClientSecret, string(testWebhookSecret), "hook-url-token", "eyJ0eXAiOiJKV1Qi"} {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}

func TestConfigRedactsSecrets(t *testing.T) {
	cfg := liveConfig()
	creds := Credentials{TenantID: testTenantID, ClientID: testClientID, ClientSecret: testClientSecret}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, creds, &creds} {
			if s := fmt.Sprintf(format, v); len(leaks(s)) > 0 {
				t.Errorf("%s of %T leaks %v: %s", format, v, leaks(s), s)
			}
		}
	}
	for _, v := range []any{cfg, creds} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(leaks(string(data))) > 0 {
			t.Errorf("JSON of %T leaks: %s", v, data)
		}
	}
	if s := cfg.String(); !strings.Contains(s, "ClientSecret:"+redacted) || !strings.Contains(s, testClientID) {
		t.Errorf("String() = %s, want the client id shown and the secret redacted", s)
	}
	for _, jsonFormat := range []bool{false, true} {
		var out logBuffer
		logger := newTestLogger(&out, jsonFormat)
		logger.Info("config", "config", cfg, "credentials", creds)
		if _, err := Build(cfg, nil, nil, logger); err != nil {
			t.Fatal(err)
		}
		if l := leaks(out.String()); len(l) > 0 {
			t.Errorf("hclog (json %v) leaks %v:\n%s", jsonFormat, l, out.String())
		}
		if !strings.Contains(out.String(), testClientID) {
			t.Errorf("hclog (json %v) output lacks the config:\n%s", jsonFormat, out.String())
		}
	}
}

// TestErrorsAndLogsHoldNoSecrets drives the connectors through failures where the target echoes the client
// secret, the bearer token or the webhook secret, and checks the errors and the trace-level logs.
func TestErrorsAndLogsHoldNoSecrets(t *testing.T) {
	for _, jsonFormat := range []bool{false, true} {
		var out logBuffer
		logger := newTestLogger(&out, jsonFormat)
		var errs []error

		// The token endpoint echoes the client secret.
		f := newFakeMicrosoft(t)
		f.tokenStatus = http.StatusUnauthorized
		f.tokenBody = `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: ` + testClientSecret + `"}`
		d, err := NewDefenderEndpoint(DefenderConfig{BaseURL: f.server.URL, Credentials: f.creds(), Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
		errs = append(errs, err)

		// The API echoes the Authorization header, after a 401 and a fresh token.
		f2 := newFakeMicrosoft(t)
		echo := func(w http.ResponseWriter, r *http.Request, body []byte) {
			writeJSON(w, http.StatusForbidden, fmt.Sprintf(`{"error":{"code":"Forbidden","message":"token %s lacks Machine.Isolate"}}`, r.Header.Get("Authorization")))
		}
		f2.handle(echo)
		g, err := NewGraph(GraphConfig{BaseURL: f2.server.URL, Credentials: f2.creds(), Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Apply(context.Background(), request(card.ActionUserDisable, hybridUserEntity(), nil), nil)
		errs = append(errs, err)
		f2.revokeTokens()
		_, err = g.Apply(context.Background(), request(card.ActionUserDisable, hybridUserEntity(), nil), nil)
		errs = append(errs, err)

		// The webhook echoes its secret; then its URL, which carries a token, is unreachable.
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, `{"error":"secret `+string(testWebhookSecret)+` and signature `+r.Header.Get(HeaderSignature)+`"}`)
		}))
		defer rcv.Close()
		hook, err := NewWebhook(WebhookConfig{URL: rcv.URL + "/x?token=hook-url-token", Secret: testWebhookSecret, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		_, err = hook.Apply(context.Background(), request(card.ActionEmailBlockSender, messageEntity(), nil), nil)
		errs = append(errs, err)
		rcv.Close()
		_, err = hook.Apply(context.Background(), request(card.ActionEmailBlockSender, messageEntity(), nil), nil)
		errs = append(errs, err)

		for i, err := range errs {
			if err == nil {
				t.Fatalf("case %d: no error", i)
			}
			logger.Error("apply failed", "error", err)
			if l := leaks(err.Error()); len(l) > 0 {
				t.Errorf("case %d: error leaks %v: %v", i, l, err)
			}
			if l := leaks(fmt.Sprintf("%+v %#v", err, err)); len(l) > 0 {
				t.Errorf("case %d: formatted error leaks %v", i, l)
			}
		}
		if !strings.Contains(errs[0].Error(), redacted) || !strings.Contains(errs[1].Error(), redacted) {
			t.Errorf("echoed secrets were not replaced: %v / %v", errs[0], errs[1])
		}
		if l := leaks(out.String()); len(l) > 0 {
			t.Errorf("hclog (json %v) leaks %v:\n%s", jsonFormat, l, out.String())
		}
	}
}
