package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/playbook"
)

const multiIncidentFile = "../incident/testdata/graph_incident_multi.json"

func runLocal(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr strings.Builder
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestPlaybookCheck(t *testing.T) {
	out, _, err := runLocal(t, "playbook", "check")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{": OK", "email", "endpoint", "identity", "indicators", "investigation", "default/identity.yaml"} {
		if !strings.Contains(out, want) {
			t.Errorf("check of the built-in set lacks %q:\n%s", want, out)
		}
	}

	// A broken file: the error names the file, the line, the field and the fix; nothing says OK.
	dir := t.TempDir()
	broken := "id: mine\nversion: 1.0.0\ntitle: Mine\nrules:\n  - id: r1\n    when:\n      entityKinds: [user]\n    cards:\n      - action: user.disabel\n        title: Disable {{.Entity.Name}}\n"
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runLocal(t, "playbook", "check", dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "mine.yaml")+":9") || !strings.Contains(err.Error(), "user.disabel") || strings.Contains(out, "OK") {
		t.Fatalf("check of a broken file: %v\n%s", err, out)
	}
	out, _, err = runLocal(t, "playbook", "check", "--json", dir)
	var rep playbookReport
	if err == nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "mine.yaml:9") {
		t.Fatalf("check --json of a broken file: %v, %+v", err, rep)
	}
	if _, _, err := runLocal(t, "playbook", "check", filepath.Join(dir, "missing")); err == nil {
		t.Error("check of a missing directory passed")
	}
	if _, _, err := runLocal(t, "playbook", "lint"); err == nil || !strings.Contains(err.Error(), "check or preview") {
		t.Errorf("unknown subcommand: %v", err)
	}
}

func TestPlaybookPreview(t *testing.T) {
	out, _, err := runLocal(t, "playbook", "preview", multiIncidentFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"incident 4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93/3187", "Classify as true positive",
		"[containment] Isolate device ws-megan01.contoso.com", "playbook endpoint rule isolate-bad-device", "query:"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}

	// JSON: the same cards the workers would generate.
	out, _, err = runLocal(t, "playbook", "preview", "--json", multiIncidentFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep playbookReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Incidents) != 1 {
		t.Fatalf("preview --json: %v\n%s", err, out)
	}
	incs, err := incident.ParseFile(multiIncidentFile)
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbook.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := set.Generate(&incs[0])
	got := rep.Incidents[0]
	if len(got.Cards) != len(want) || got.Triage.Action != card.ActionTriageClassify {
		t.Fatalf("%d cards and triage %q, want %d cards", len(got.Cards), got.Triage.Action, len(want))
	}
	for i := range want {
		if got.Cards[i].ID != want[i].ID || got.Cards[i].Title != want[i].Title {
			t.Errorf("card %d: %s %q, want %s %q", i, got.Cards[i].ID, got.Cards[i].Title, want[i].ID, want[i].Title)
		}
	}

	// An author's own playbook: its card appears, the built-in ones do not.
	dir := t.TempDir()
	mine := "id: mine\nversion: 0.1.0\ntitle: Mine\nrules:\n  - id: watch-megan\n    when:\n      entityKinds: [user]\n      roles: [compromised]\n    cards:\n      - action: user.revokeAllSessions\n        title: Sign {{.Entity.Name}} out everywhere\n        why: Ours.\n"
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runLocal(t, "playbook", "preview", "--playbooks", dir, multiIncidentFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Sign MeganB@contoso.com out everywhere") || strings.Contains(out, "Isolate device") || !strings.Contains(out, "mine@0.1.0") {
		t.Errorf("preview with the author's playbooks:\n%s", out)
	}

	// A phishing incident: its similar-emails card carries the query the workers would write.
	out, _, err = runLocal(t, "playbook", "preview", "../incident/testdata/native_phishing.json")
	if err != nil || !strings.Contains(out, "View emails similar to") || !strings.Contains(out, "EmailEvents") {
		t.Errorf("preview of a phishing incident: %v\n%s", err, out)
	}
	if _, _, err := runLocal(t, "playbook", "preview"); err == nil || !strings.Contains(err.Error(), "incident file") {
		t.Errorf("preview without a file: %v", err)
	}
	if _, _, err := runLocal(t, "playbook", "preview", filepath.Join(dir, "mine.yaml")); err == nil {
		t.Error("preview of a file that is not an incident passed")
	}
}

// TestParseFilesNotesAnotherPage: a file that is one page of a longer Graph list is taken, and the user is
// told where the rest is.
func TestParseFilesNotesAnotherPage(t *testing.T) {
	page := filepath.Join(t.TempDir(), "page1.json")
	if err := os.WriteFile(page, []byte(`{"@odata.context": "x", "value": [], "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/incidents?$skiptoken=Z2"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var notes strings.Builder
	incs, err := parseFiles([]string{page, multiIncidentFile}, &notes)
	if err != nil || len(incs) != 1 {
		t.Fatalf("%d incidents, %v", len(incs), err)
	}
	if !strings.Contains(notes.String(), page+" is one page of a longer Graph list") || !strings.Contains(notes.String(), "skiptoken=Z2") || strings.Count(notes.String(), "\n") != 1 {
		t.Errorf("notes:\n%s", notes.String())
	}
}
