package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Webhook sources come from a file without secrets; each secret from the environment variable it names.
func TestLoadWebhookSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sources.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"id":"servicenow","tenantId":"contoso","principal":"svc-servicenow","secretEnv":"TEST_HOOK_SECRET"}]`)
	t.Setenv("TEST_HOOK_SECRET", "a-secret-of-enough-length")
	got, err := loadWebhookSources(path)
	if err != nil {
		t.Fatal(err)
	}
	if src := got["servicenow"]; src.TenantID != "contoso" || src.Principal != "svc-servicenow" || string(src.Secret) != "a-secret-of-enough-length" {
		t.Fatalf("source %+v", src)
	}

	t.Setenv("TEST_HOOK_SECRET", "short")
	if _, err := loadWebhookSources(path); err == nil || !strings.Contains(err.Error(), "TEST_HOOK_SECRET") {
		t.Fatalf("short secret: %v", err)
	}
	write(`[{"id":"x","tenantId":"contoso","principal":"p","secretEnv":"S","secret":"inline"}]`)
	if _, err := loadWebhookSources(path); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("an inline secret must be refused: %v", err)
	}
}
