package playbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/rbac"
)

func TestDefaultLoads(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatalf("default playbooks do not load:\n%v", err)
	}
	var ids []string
	for _, p := range set.Playbooks() {
		ids = append(ids, p.ID)
		if p.Rules == 0 || p.Title == "" || !strings.HasPrefix(p.File, "default/") {
			t.Errorf("playbook %+v", p)
		}
	}
	if want := []string{"email", "endpoint", "identity", "indicators", "investigation"}; !slices.Equal(ids, want) {
		t.Errorf("default playbooks %v, want %v", ids, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}:email@1\.0\.0,endpoint@`).MatchString(set.Version()) {
		t.Errorf("version %q", set.Version())
	}
	again, err := Default()
	if err != nil || again.Version() != set.Version() {
		t.Errorf("second load: version %q, %v; want %q", again.Version(), err, set.Version())
	}
}

// TestDefaultReferences checks every reactId and d3fend id of the default set against the knowledge bases
// they come from (when this machine has them) and against ATTRIBUTION.md.
func TestDefaultReferences(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	react, d3fend := map[string]bool{}, map[string]bool{}
	for _, b := range set.books {
		for _, r := range b.rules {
			for _, c := range r.cards {
				if c.reactID != "" {
					react[c.reactID] = true
				}
				if c.d3fend != "" {
					d3fend[c.d3fend] = true
				}
			}
		}
	}
	attribution, err := os.ReadFile("default/ATTRIBUTION.md")
	if err != nil {
		t.Fatal(err)
	}
	for id := range react {
		if !strings.Contains(string(attribution), id) {
			t.Errorf("ATTRIBUTION.md does not list %s", id)
		}
	}
	for id := range d3fend {
		if !regexp.MustCompile(`\b` + id + `\b`).Match(attribution) {
			t.Errorf("ATTRIBUTION.md does not list %s", id)
		}
	}

	kb := "/work/shared/kb"
	if _, err := os.Stat(kb); err != nil {
		t.Skip("knowledge bases not on this machine")
	}
	actions, err := filepath.Glob(filepath.Join(kb, "atc-react/response_actions/RA_*.yml"))
	if err != nil || len(actions) == 0 {
		t.Fatalf("no RE&CT actions: %v", err)
	}
	for id := range react {
		found := false
		for _, f := range actions {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if regexp.MustCompile(`(?m)^id: ` + id + `$`).Match(data) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("RE&CT has no response action %s", id)
		}
	}
	ttl, err := os.ReadFile(filepath.Join(kb, "d3fend/d3fend-protege.ttl"))
	if err != nil {
		t.Fatal(err)
	}
	for id := range d3fend {
		if !strings.Contains(string(ttl), `:d3fend-id "`+id+`"`) {
			t.Errorf("D3FEND has no technique %s", id)
		}
	}
}

// good is a valid playbook; cases below break one thing in it.
const good = `id: test
version: 1.0.0
title: Test playbook
rules:
  - id: isolate
    when:
      entityKinds: [device]
      verdicts: [malicious]
    cards:
      - action: device.isolate
        title: Isolate device {{.Entity.Name}}
        why: It is bad.
        reversible: true
        undoAction: device.release
        timeBox: 24h
`

func TestLoadGood(t *testing.T) {
	set, err := Load(fstest.MapFS{"test.yaml": {Data: []byte(good)}, "README.md": {Data: []byte("not a playbook")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Playbooks(); len(got) != 1 || got[0].ID != "test" || got[0].File != "test.yaml" {
		t.Errorf("playbooks %+v", got)
	}
}

// TestLoadErrors breaks a playbook in each way validation knows and checks that the error names the file,
// the line (the line marked with #<), the field path, and says what is wrong.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml, path, problem string
	}{
		{"syntax", "id: test\n\tversion: 1.0.0 #<\n", "", "not valid YAML"},
		{"unknown top field", strings.Replace(good, "title: Test playbook", "title: Test playbook\ntitel: x #<", 1), "titel", `unknown field "titel"`},
		{"unknown card field", strings.Replace(good, "        why: It is bad.", "        why: It is bad.\n        acton: x #<", 1), "rules[0].cards[0].acton", `unknown field "acton"`},
		{"unknown condition", strings.Replace(good, "      verdicts: [malicious]", "      verdict: [malicious] #<", 1), "rules[0].when.verdict", "did you mean verdicts?"},
		{"unknown action", strings.Replace(good, "action: device.isolate", "action: device.isolat #<", 1), "rules[0].cards[0].action", `unknown action "device.isolat"`},
		{"undo-only action", strings.Replace(good, "action: device.isolate", "action: device.release #<", 1), "rules[0].cards[0].action", "only undoes device.isolate"},
		{"unknown category", strings.Replace(good, "      - action: device.isolate", "      - action: device.isolate\n        category: contain #<", 1), "rules[0].cards[0].category", `unknown category "contain"`},
		{"unknown permission", strings.Replace(good, "      - action: device.isolate", "      - action: device.isolate\n        permission: secops.response #<", 1), "rules[0].cards[0].permission", "unknown permission"},
		{"weak permission", strings.Replace(good, "      - action: device.isolate", "      - action: device.isolate\n        permission: secops.security-data.read #<", 1), "rules[0].cards[0].permission", "cannot need only"},
		{"unknown kind", strings.Replace(good, "entityKinds: [device]", "entityKinds: [devise] #<", 1), "rules[0].when.entityKinds[0]", `unknown entity kind "devise"`},
		{"unknown verdict", strings.Replace(good, "verdicts: [malicious]", "verdicts: [evil] #<", 1), "rules[0].when.verdicts[0]", `unknown verdict "evil"`},
		{"unknown role", strings.Replace(good, "      verdicts: [malicious]", "      roles: [victim] #<", 1), "rules[0].when.roles[0]", `unknown role "victim"`},
		{"unknown severity", strings.Replace(good, "      verdicts: [malicious]", "      minSeverity: severe #<", 1), "rules[0].when.minSeverity", `unknown severity "severe"`},
		{"category typo", strings.Replace(good, "      verdicts: [malicious]", "      alertCategories: [IntialAccess] #<", 1), "rules[0].when.alertCategories[0]", "did you mean InitialAccess?"},
		{"bad technique", strings.Replace(good, "      verdicts: [malicious]", "      mitreTechniques: [1566] #<", 1), "rules[0].when.mitreTechniques[0]", "not a MITRE ATT&CK technique id"},
		{"kind the action cannot target", strings.Replace(good, "entityKinds: [device]", "entityKinds: [file]", 1) + "", "rules[0].cards[0].action", "targets device entities"},
		{"template does not parse", strings.Replace(good, "title: Isolate device {{.Entity.Name}}", "title: Isolate device {{.Entity.Name #<", 1), "rules[0].cards[0].title", "does not parse"},
		{"template unknown field", strings.Replace(good, "title: Isolate device {{.Entity.Name}}", "title: Isolate device {{.Entity.Nmae}} #<", 1), "rules[0].cards[0].title", "Nmae"},
		{"template unknown function", strings.Replace(good, "why: It is bad.", "why: It is {{shout .Entity.Name}} #<", 1), "rules[0].cards[0].why", `"shout" not defined`},
		{"template define", strings.Replace(good, "why: It is bad.", `why: '{{define "x"}}y{{end}}bad' #<`, 1), "rules[0].cards[0].why", "not allowed"},
		{"nested range", strings.Replace(good, "why: It is bad.", `why: '{{range .Alerts}}{{range .Techniques}}x{{end}}{{end}}' #<`, 1), "rules[0].cards[0].why", "range inside a range"},
		{"range over a number", strings.Replace(good, "why: It is bad.", `why: '{{range 1000000000}}x{{end}}' #<`, 1), "rules[0].cards[0].why", "range over a list field"},
		{"missing title", strings.Replace(good, "        title: Isolate device {{.Entity.Name}}\n", "", 1), "rules[0].cards[0].title", "has no title"},
		{"duplicate rule ids", good + "  - id: isolate #<\n    cards:\n      - action: device.runAntivirusScan\n        title: Scan\n        why: Scan it.\n", "rules[1].id", `rule id "isolate" is already used by rules[0]`},
		{"duplicate action in a rule", strings.Replace(good, "        timeBox: 24h\n", "        timeBox: 24h\n      - action: device.isolate #<\n        title: Again\n        why: Again.\n", 1), "rules[0].cards[1].action", "already proposes device.isolate"},
		{"timeBox on a remediation card", strings.Replace(good, "        timeBox: 24h\n", "      - action: device.runAntivirusScan\n        title: Scan\n        why: Scan it.\n        timeBox: 1h #<\n", 1), "rules[0].cards[1].timeBox", "only containment cards are time-boxed"},
		{"timeBox on an irreversible card", strings.Replace(good, "        timeBox: 24h\n", "      - action: device.collectInvestigationPackage\n        category: containment\n        title: Collect\n        why: Collect.\n        timeBox: 1h #<\n", 1), "rules[0].cards[1].timeBox", "has no undoAction"},
		{"timeBox not a duration", strings.Replace(good, "timeBox: 24h", "timeBox: a day #<", 1), "rules[0].cards[0].timeBox", "is not a duration"},
		{"reversible without undoAction", strings.Replace(good, "        undoAction: device.release\n        timeBox: 24h\n", "", 1), "rules[0].cards[0].undoAction", "add undoAction: device.release"},
		{"wrong undoAction", strings.Replace(good, "undoAction: device.release", "undoAction: user.enable #<", 1), "rules[0].cards[0].undoAction", "is not the undo of device.isolate"},
		{"irreversible marked reversible", strings.Replace(good, "action: device.isolate", "action: device.runAntivirusScan", 1), "rules[0].cards[0].reversible", "cannot be undone"},
		{"query without kqlString", strings.Replace(good, "        timeBox: 24h\n", "      - action: investigation.huntingQuery\n        title: Hunt\n        why: Hunt.\n        query: DeviceEvents | where DeviceName == '{{.Entity.DeviceName}}' #<\n", 1), "rules[0].cards[1].query", "without escaping"},
		{"query wraps kqlString in quotes", strings.Replace(good, "        timeBox: 24h\n", "      - action: investigation.huntingQuery\n        title: Hunt\n        why: Hunt.\n        query: DeviceEvents | where DeviceName == \"{{kqlString .Entity.DeviceName}}\" #<\n", 1), "rules[0].cards[1].query", "the query is unsafe"},
		{"query in a comment", strings.Replace(good, "        timeBox: 24h\n", "      - action: investigation.huntingQuery\n        title: Hunt\n        why: Hunt.\n        query: \"DeviceEvents // {{kqlString .Entity.DeviceName}}\" #<\n", 1), "rules[0].cards[1].query", "does not land as a literal of its own"},
		{"hunting without a query", strings.Replace(good, "        timeBox: 24h\n", "      - action: investigation.huntingQuery #<\n        title: Hunt\n        why: Hunt.\n", 1), "rules[0].cards[1].query", "needs a query"},
		{"query on similar emails", "id: test\nversion: 1.0.0\ntitle: T\nrules:\n  - id: r\n    cards:\n      - action: investigation.viewSimilarEmails\n        title: Similar\n        why: Look.\n        query: EmailEvents #<\n", "rules[0].cards[0].query", "the workflow fills in the query"},
		{"hunting without entity kinds", "id: test\nversion: 1.0.0\ntitle: T\nrules:\n  - id: r\n    cards:\n      - action: investigation.huntingQuery #<\n        title: Hunt\n        why: Look.\n        query: DeviceEvents\n", "rules[0].cards[0]", "does not say which kind"},
		{"entity none on a device action", strings.Replace(good, "      - action: device.isolate", "      - action: device.isolate\n        entity: none #<", 1), "rules[0].cards[0].entity", "needs an entity"},
		{"parameter value", strings.Replace(good, "        timeBox: 24h\n", "        timeBox: 24h\n        parameters:\n          isolationType: Partial #<\n", 1), "rules[0].cards[0].parameters.isolationType", `isolationType "Partial" is not one the connectors know`},
		{"rank not a number", strings.Replace(good, "        timeBox: 24h\n", "        timeBox: 24h\n        rank: first #<\n", 1), "rules[0].cards[0].rank", "is not a whole number"},
		{"confidence out of range", strings.Replace(good, "    cards:", "    confidence: 2 #<\n    cards:", 1), "rules[0].confidence", "not between 0 and 1"},
		{"bad reactId", strings.Replace(good, "        timeBox: 24h\n", "        timeBox: 24h\n        reactId: RE3101 #<\n", 1), "rules[0].cards[0].reactId", "not a RE&CT response action id"},
		{"bad d3fend", strings.Replace(good, "        timeBox: 24h\n", "        timeBox: 24h\n        d3fend: NI #<\n", 1), "rules[0].cards[0].d3fend", "not a D3FEND technique id"},
		{"missing version", strings.Replace(good, "version: 1.0.0\n", "", 1), "version", "has no version"},
		{"bad version", strings.Replace(good, "version: 1.0.0", "version: one #<", 1), "version", "not a semantic version"},
		{"bad id", strings.Replace(good, "id: test", "id: Test Playbook #<", 1), "id", "not a valid id"},
		{"no rules", "id: test\nversion: 1.0.0\ntitle: T\nrules: [] #<\n", "rules", "has no rules"},
		{"list expected", "id: test\nversion: 1.0.0\ntitle: T\nrules: none #<\n", "rules", "expected a list"},
		{"alias", "id: &x test #<\nversion: 1.0.0\ntitle: *x\nrules: []\n", "id", "anchors and aliases"},
		{"two documents", good + "--- #<\nid: other\n", "", "more than one YAML document"},
		{"repeated field", strings.Replace(good, "title: Test playbook", "title: Test playbook\ntitle: Again #<", 1), "", "title"},
		{"empty file", "# nothing here\n", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Load(fstest.MapFS{"bad.yaml": {Data: []byte(tt.yaml)}})
			if err == nil {
				t.Fatalf("loaded:\n%s", tt.yaml)
			}
			if set != nil {
				t.Error("returned a set with an error")
			}
			var problems Errors
			if !errors.As(err, &problems) || len(problems) == 0 {
				t.Fatalf("error %v (%T) is not Errors", err, err)
			}
			p := problems[0]
			if p.File != "bad.yaml" {
				t.Errorf("file %q, want bad.yaml", p.File)
			}
			if tt.path != "" && p.Path != tt.path {
				t.Errorf("path %q, want %q (%v)", p.Path, tt.path, p)
			}
			if !strings.Contains(p.Error(), tt.problem) {
				t.Errorf("error %q does not say %q", p.Error(), tt.problem)
			}
			if p.Fix == "" {
				t.Errorf("error %q says no fix", p.Error())
			}
			if want := markedLine(tt.yaml); want > 0 && p.Line != want {
				t.Errorf("line %d, want %d (%v)", p.Line, want, p)
			}
			if !strings.HasPrefix(p.Error(), fmt.Sprintf("bad.yaml:%d: ", p.Line)) && p.Line > 0 {
				t.Errorf("error %q does not start with file:line", p.Error())
			}
		})
	}
}

// markedLine returns the 1-based line holding "#<", or 0.
func markedLine(text string) int {
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "#<") {
			return i + 1
		}
	}
	return 0
}

func TestLoadRefusesTheWholeSet(t *testing.T) {
	bad := strings.Replace(good, "id: test", "id: other", 1)
	bad = strings.Replace(bad, "action: device.isolate", "action: device.explode", 1)
	_, err := Load(fstest.MapFS{"a.yaml": {Data: []byte(good)}, "b.yaml": {Data: []byte(bad)}})
	if err == nil || !strings.Contains(err.Error(), "b.yaml:10: rules[0].cards[0].action") {
		t.Fatalf("error %v", err)
	}
	_, err = Load(fstest.MapFS{"a.yaml": {Data: []byte(good)}, "b.yaml": {Data: []byte(good)}})
	if err == nil || !strings.Contains(err.Error(), `b.yaml:1: id: playbook id "test" is already used by a.yaml`) {
		t.Fatalf("duplicate playbook ids: %v", err)
	}
	_, err = Load(fstest.MapFS{"README.md": {Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "no playbook files") {
		t.Fatalf("no files: %v", err)
	}
}

func TestLoadReportsAtMost20Problems(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: test\nversion: 1.0.0\ntitle: T\nrules:\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  - id: r%d\n    cards:\n      - action: nope\n        title: x\n        why: y\n", i)
	}
	_, err := Load(fstest.MapFS{"many.yaml": {Data: []byte(b.String())}})
	var problems Errors
	if !errors.As(err, &problems) {
		t.Fatalf("error %v", err)
	}
	if len(problems) != maxProblems+1 || !strings.Contains(problems[maxProblems].Problem, "stopped after 20 problems") {
		t.Errorf("%d problems, last %v", len(problems), problems[len(problems)-1])
	}
}

func TestLoadDirNamesFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte("id: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "x.yaml")+":1: version:") {
		t.Fatalf("error %v", err)
	}
}

func TestCardDefaults(t *testing.T) {
	set, err := Load(fstest.MapFS{"t.yaml": {Data: []byte(`id: t
version: 1.0.0
title: T
rules:
  - id: r
    when:
      entityKinds: [device]
    cards:
      - action: device.initiateLiveResponse
        title: Live
        why: Look.
      - action: device.runAntivirusScan
        title: Scan
        why: Scan.
`)}})
	if err != nil {
		t.Fatal(err)
	}
	c := set.books[0].rules[0].cards
	if c[0].permission != rbac.PermLiveResponseAdvanced || c[0].category != card.CategoryInvestigation || c[0].rank != defaultRank || c[0].confidence != defaultConfidence {
		t.Errorf("live response defaults %+v", c[0])
	}
	if c[1].permission != rbac.PermResponseManage || c[1].category != card.CategoryRemediation || c[1].risk != card.RiskLow {
		t.Errorf("scan defaults %+v", c[1])
	}
}
