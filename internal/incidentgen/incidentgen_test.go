package incidentgen

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/playbook"
)

func generate(t *testing.T, opts Options, n int) ([]incident.Incident, []Mix) {
	t.Helper()
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var incs []incident.Incident
	var mixes []Mix
	for range n {
		inc, m := g.Next()
		incs = append(incs, inc)
		mixes = append(mixes, m)
	}
	return incs, mixes
}

// Every generated incident is valid, survives the native JSON round trip, and has an ID of its own.
func TestIncidentsAreValidAndUnique(t *testing.T) {
	incs, mixes := generate(t, Options{RunID: "t1", Seed: 7}, 400)
	seen := map[string]bool{}
	count := map[Mix]int{}
	for i := range incs {
		inc := &incs[i]
		if err := inc.Validate(); err != nil {
			t.Fatalf("incident %d (%s) is invalid: %v", i, mixes[i], err)
		}
		raw, err := json.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := incident.Parse("generated.json", raw)
		if err != nil || len(parsed) != 1 {
			t.Fatalf("incident %d (%s) does not parse back: %v", i, mixes[i], err)
		}
		key := inc.TenantID + "/" + inc.ID
		if seen[key] {
			t.Fatalf("incident %s generated twice", key)
		}
		seen[key] = true
		count[mixes[i]]++
		if inc.TenantID != "bench-t1" {
			t.Fatalf("tenant %s, want bench-t1", inc.TenantID)
		}
	}
	for _, m := range Mixes() {
		if count[m] != 100 {
			t.Errorf("%d incidents of mix %s, want 100 (the mixes in turn)", count[m], m)
		}
	}
}

// The same options give the same incidents; another seed or run ID gives others.
func TestDeterministic(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a, _ := generate(t, Options{RunID: "r", Seed: 42, Now: now}, 20)
	b, _ := generate(t, Options{RunID: "r", Seed: 42, Now: now}, 20)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same options gave different incidents")
	}
	c, _ := generate(t, Options{RunID: "r", Seed: 43, Now: now}, 20)
	if reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same incidents")
	}
	d, _ := generate(t, Options{RunID: "other", Seed: 42, Now: now}, 1)
	if d[0].ID == a[0].ID || d[0].TenantID == a[0].TenantID {
		t.Fatalf("runs collide: %s/%s and %s/%s", d[0].TenantID, d[0].ID, a[0].TenantID, a[0].ID)
	}
	if !a[0].CreatedAt.Equal(now) {
		t.Fatalf("created at %s, want %s", a[0].CreatedAt, now)
	}
}

// Each mix carries the evidence it promises, and the built-in playbooks propose cards for it: the load
// test exercises the card generator the way real incidents do.
func TestMixesMeetThePlaybooks(t *testing.T) {
	set, err := playbook.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := map[Mix][]incident.EntityKind{
		MixPhishing:        {incident.KindAnalyzedMessage, incident.KindMailbox, incident.KindUser, incident.KindURL, incident.KindIP},
		MixMalware:         {incident.KindDevice, incident.KindFile, incident.KindProcess, incident.KindIP},
		MixCompromisedUser: {incident.KindUser, incident.KindIP, incident.KindCloudApplication},
		MixBenignAdmin:     {incident.KindUser, incident.KindDevice},
	}
	for _, m := range Mixes() {
		g, err := New(Options{RunID: "m", Mixes: []Mix{m}})
		if err != nil {
			t.Fatal(err)
		}
		inc, got := g.Next()
		if got != m {
			t.Fatalf("asked for %s, got %s", m, got)
		}
		var kinds []incident.EntityKind
		for _, e := range inc.Entities() {
			if !slices.Contains(kinds, e.Kind) {
				kinds = append(kinds, e.Kind)
			}
		}
		slices.Sort(kinds)
		w := slices.Clone(want[m])
		slices.Sort(w)
		if !slices.Equal(kinds, w) {
			t.Errorf("%s: entity kinds %v, want %v", m, kinds, w)
		}
		cards := set.Generate(&inc)
		actions := 0
		for _, c := range cards {
			if c.Action.Applicable() {
				actions++
			}
		}
		c, d := m.Verdict()
		if !incident.FitsClassification(c, d) {
			t.Errorf("%s: verdict %s/%s does not fit", m, c, d)
		}
		switch m {
		case MixBenignAdmin:
			if inc.Severity != incident.SeverityLow {
				t.Errorf("benign admin activity has severity %s", inc.Severity)
			}
			for _, e := range inc.Entities() {
				if e.Verdict != incident.VerdictNoThreatsFound {
					t.Errorf("benign admin activity has a %s %s", e.Verdict, e.Kind)
				}
			}
		default:
			if actions == 0 {
				t.Errorf("%s: the built-in playbooks propose no action: %v", m, titles(cards))
			}
		}
		if m == MixCompromisedUser && inc.Alerts[0].Category != "CredentialAccess" {
			t.Errorf("compromised user: first alert's category is %s, want CredentialAccess", inc.Alerts[0].Category)
		}
		t.Logf("%s: %d cards, %d actions: %v", m, len(cards), actions, titles(cards))
	}
}

func titles(cards []card.Card) []string {
	var out []string
	for _, c := range cards {
		out = append(out, string(c.Action))
	}
	return out
}

func TestRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{RunID: "has space"}); err == nil {
		t.Error("a run ID with a space was accepted")
	}
	if _, err := New(Options{Mixes: []Mix{"ransomware"}}); err == nil {
		t.Error("an unknown mix was accepted")
	}
}
