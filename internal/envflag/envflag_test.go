package envflag

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func flags() (*flag.FlagSet, *time.Duration, *int, *bool, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ttl := fs.Duration("approval-ttl", 24*time.Hour, "expiry (env T_TTL)")
	n := fs.Int("approvals", 2, "approvers (env T_APPROVALS)")
	dev := fs.Bool("dev", false, "dev mode (env T_DEV)")
	secret := fs.String("api-key", "", "key (env T_API_KEY; prefer the variable)")
	fs.Int("plain", 1, "no variable")
	return fs, ttl, n, dev, secret
}

func withEnv(t *testing.T, env map[string]string) {
	saved := Lookup
	Lookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { Lookup = saved })
}

func TestApplyTakesVariablesTheCommandLineLeftAlone(t *testing.T) {
	withEnv(t, map[string]string{"T_TTL": "2h", "T_APPROVALS": "3", "T_DEV": "yes", "T_API_KEY": "s3cret"})
	fs, ttl, n, dev, secret := flags()
	if err := fs.Parse([]string{"--approvals", "4"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs); err != nil {
		t.Fatal(err)
	}
	if *ttl != 2*time.Hour || *n != 4 || !*dev || *secret != "s3cret" {
		t.Fatalf("ttl %v approvals %d dev %v key %q: the variables (2h, yes, s3cret) apply, the flag (4) wins", *ttl, *n, *dev, *secret)
	}
}

func TestApplyRefusesValuesThatDoNotParse(t *testing.T) {
	withEnv(t, map[string]string{"T_TTL": "1day", "T_APPROVALS": "two", "T_DEV": "maybe"})
	fs, ttl, _, _, _ := flags()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := Apply(fs)
	if err == nil {
		t.Fatal("bad variables accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`T_TTL="1day" (for --approval-ttl)`, "a duration such as", `the default is "24h0m0s"`,
		`T_APPROVALS="two" (for --approvals)`, "a whole number",
		`T_DEV="maybe" (for --dev)`, "true or false",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if *ttl != 24*time.Hour {
		t.Errorf("ttl %v after a refused variable", *ttl)
	}
}

func TestApplyNeverShowsSecretValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("key-bits", 0, "(env T_API_KEY)")
	withEnv(t, map[string]string{"T_API_KEY": "sk-live-abcdef"})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := Apply(fs)
	if err == nil || strings.Contains(err.Error(), "sk-live") || !strings.Contains(err.Error(), "T_API_KEY") {
		t.Fatalf("error %v: names the variable, never its value", err)
	}
}
