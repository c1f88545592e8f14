// Package envflag checks the environment variables behind command-line flags. Flags take their defaults
// from variables named in their usage text, "(env NAME)"; a variable that does not parse used to fall back
// to the built-in default without a word (GUIDED_APPROVAL_TTL=1day ran with 24h). Apply sets each flag the
// command line left alone from its variable through the flag's own parser, so a bad value is an error
// naming the variable, the flag and the fix.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var envName = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)`)

// Lookup reads the environment; tests replace it.
var Lookup = os.LookupEnv

// Apply sets every flag of fs that was not given on the command line and names a variable that is set and
// not empty. Call it after fs.Parse.
func Apply(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var problems []string
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		m := envName.FindStringSubmatch(f.Usage)
		if m == nil {
			return
		}
		name := m[1]
		v, ok := Lookup(name)
		if !ok || v == "" {
			return
		}
		if isBool(f) {
			v = boolWord(v)
		}
		old := f.Value.String()
		if err := fs.Set(f.Name, v); err != nil {
			_ = f.Value.Set(old) // the flag package's parsers write zero on failure
			problems = append(problems, fmt.Sprintf("environment variable %s%s (for --%s): %v; fix it or unset it "+
				"(the default is %q)", name, shown(name, v), f.Name, cause(f, err), f.DefValue))
		}
	})
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// boolWord accepts yes and no besides what strconv.ParseBool takes, as the variables always have.
func boolWord(v string) string {
	switch strings.ToLower(v) {
	case "yes", "on":
		return "true"
	case "no", "off":
		return "false"
	}
	return v
}

// shown is the value as it may appear in an error: never for a variable that may hold a secret.
func shown(name, v string) string {
	for _, s := range []string{"SECRET", "KEY", "TOKEN", "PASSWORD", "DATABASE_URL"} {
		if strings.Contains(name, s) {
			return ""
		}
	}
	return fmt.Sprintf("=%q", v)
}

// cause says what the value should have been: the flag package's own errors are only "parse error" and
// "value out of range".
func cause(f *flag.Flag, err error) string {
	want := ""
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.durationValue":
		want = "a duration such as 90s, 15m or 24h"
	case "*flag.intValue", "*flag.int64Value":
		want = "a whole number"
	case "*flag.uintValue", "*flag.uint64Value":
		want = "a whole number, not negative"
	case "*flag.float64Value":
		want = "a number such as 0.7"
	case "*flag.boolValue":
		want = "true or false"
	}
	if want == "" {
		return err.Error()
	}
	return fmt.Sprintf("%v, want %s", err, want)
}
