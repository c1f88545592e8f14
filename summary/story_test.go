package summary

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/incident"
)

func multiStage(t *testing.T) *incident.Incident {
	t.Helper()
	incs, err := incident.ParseFile("../incident/testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Fatalf("%d incidents, want 1", len(incs))
	}
	return &incs[0]
}

func keys(entities []Entity) []string {
	var out []string
	for _, e := range entities {
		out = append(out, e.Key)
	}
	slices.Sort(out)
	return out
}

func TestSummarizeMultiStage(t *testing.T) {
	inc := multiStage(t)
	s := Summarize(inc)

	if s.IncidentID != "3187" || s.AlertCount != 3 || s.EntityCount != 15 {
		t.Errorf("incident %q, %d alerts, %d entities; want 3187, 3, 15", s.IncidentID, s.AlertCount, s.EntityCount)
	}
	wantHeadline := "Multi-stage incident involving Initial access & Execution & Credential access on one endpoint " +
		"reported by multiple sources (high severity, 3 alerts, 2 still open)"
	if s.Headline != wantHeadline {
		t.Errorf("headline %q, want %q", s.Headline, wantHeadline)
	}

	// Timeline: one event per alert, by first activity.
	var order []string
	for k, e := range s.Timeline {
		order = append(order, e.AlertID)
		if e.Number != k+1 {
			t.Errorf("event %d has number %d", k, e.Number)
		}
		if k > 0 && e.At.Before(s.Timeline[k-1].At) {
			t.Errorf("event %d at %s is before event %d at %s", k, e.At, k-1, s.Timeline[k-1].At)
		}
	}
	wantOrder := []string{
		"fa2f4c5d6e-7b8a-4c9d-a0e1-f2a3b4c5d6e7_1",
		"da638512480801234567_-1482736491",
		"aad8f0e1d2c3-b4a5-4968-8776-655443322110",
	}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("timeline %q, want %q", order, wantOrder)
	}
	first := s.Timeline[0]
	if !first.At.Equal(time.Date(2024, 5, 14, 8, 2, 51, 0, time.UTC)) || first.Category != "InitialAccess" ||
		first.Severity != incident.SeverityMedium || first.Status != incident.StatusResolved ||
		!slices.Equal(first.Techniques, []string{"T1566.001"}) {
		t.Errorf("first event %+v", first)
	}
	if want := "Emails with a malicious attachment were delivered and later removed by zero-hour auto purge (ZAP)."; first.What != want {
		t.Errorf("first event says %q, want %q", first.What, want)
	}
	if !slices.Equal(first.Entities, []string{"MeganB@contoso.com"}) {
		t.Errorf("first event names %q, want the user and mailbox once", first.Entities)
	}
	if want := []string{"ws-megan01.contoso.com", "MeganB@contoso.com"}; !slices.Equal(s.Timeline[1].Entities, want) {
		t.Errorf("second event names %q, want %q", s.Timeline[1].Entities, want)
	}
	if !s.FirstActivity.Equal(time.Date(2024, 5, 14, 8, 2, 51, 0, time.UTC)) ||
		!s.LastActivity.Equal(time.Date(2024, 5, 14, 11, 25, 40, 0, time.UTC)) {
		t.Errorf("activity %s to %s", s.FirstActivity, s.LastActivity)
	}

	// Assets, identities, indicators.
	if len(s.Assets) != 1 {
		t.Fatalf("%d assets, want 1", len(s.Assets))
	}
	device := s.Assets[0]
	if device.Name != "ws-megan01.contoso.com" || device.OS != "Windows11 22631" || device.RiskScore != "high" ||
		device.Verdict != incident.VerdictMalicious || !slices.Equal(device.Roles, []incident.Role{incident.RoleCompromised}) ||
		device.Alerts != 1 {
		t.Errorf("device %+v", device)
	}
	if want := []string{"mailbox:meganb@contoso.com", "user:aad:6b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"}; !slices.Equal(keys(s.Identities), want) {
		t.Errorf("identities %q, want %q", keys(s.Identities), want)
	}
	user := s.Identities[0]
	if user.Kind != incident.KindUser || user.Verdict != incident.VerdictMalicious || user.Alerts != 3 ||
		user.Address != "MeganB@contoso.com" {
		t.Errorf("first identity %+v, want the malicious user named by 3 alerts", user)
	}
	kinds := map[incident.EntityKind]int{}
	for _, e := range s.Indicators {
		kinds[e.Kind]++
	}
	wantKinds := map[incident.EntityKind]int{
		incident.KindIP: 2, incident.KindURL: 2, incident.KindFile: 2, incident.KindProcess: 2,
		incident.KindAnalyzedMessage: 1, incident.KindRegistryValue: 1, incident.KindCloudApplication: 1,
		incident.KindGeneric: 1,
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("indicator kinds %v, want %v", kinds, wantKinds)
	}
	for k := 1; k < len(s.Indicators); k++ {
		if s.Indicators[k].Verdict.Rank() > s.Indicators[k-1].Verdict.Rank() {
			t.Errorf("indicator %d (%s) ranks above indicator %d (%s)", k, s.Indicators[k].Verdict, k-1, s.Indicators[k-1].Verdict)
		}
	}
	byKey := map[string]Entity{}
	for _, e := range s.Indicators {
		byKey[e.Key] = e
	}
	attachment := byKey["file:sha256:46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d"]
	if attachment.Name != "Invoice_20931.docm" || attachment.Alerts != 2 || attachment.RemediationStatus != incident.RemediationRemediated {
		t.Errorf("attachment %+v, want Invoice_20931.docm in 2 alerts, remediated", attachment)
	}
	powershell := byKey["process:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c:9104:2024-05-14T08:14:02.88Z"]
	if !strings.HasPrefix(powershell.CommandLine, "powershell.exe -NoP -W Hidden -Enc ") ||
		powershell.SHA256 != "f307e73a3447b10444e67233700c1aa5ca8e3673dd2f292084bf485583caad6f" {
		t.Errorf("powershell %+v", powershell)
	}
	c2 := byKey["ip:198.51.100.23"]
	if c2.Country != "RU" || c2.Alerts != 2 || c2.Verdict != incident.VerdictMalicious {
		t.Errorf("C2 address %+v", c2)
	}
	email := byKey["email:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d:meganb@contoso.com"]
	if email.Address != "billing@invoices-portal.example" || email.Recipient != "MeganB@contoso.com" {
		t.Errorf("email %+v", email)
	}

	// Techniques: distinct, with counts.
	var techniques []string
	for _, tc := range s.Techniques {
		techniques = append(techniques, tc.ID)
		if tc.Alerts != 1 {
			t.Errorf("technique %s in %d alerts, want 1", tc.ID, tc.Alerts)
		}
	}
	if want := inc.Techniques(); !slices.Equal(techniques, want) {
		t.Errorf("techniques %q, want %q", techniques, want)
	}

	// Verdicts count the distinct entities.
	wantVerdicts := []VerdictCount{{incident.VerdictMalicious, 10}, {incident.VerdictSuspicious, 4}, {incident.VerdictUnknown, 1}}
	if !slices.Equal(s.Verdicts, wantVerdicts) {
		t.Errorf("verdicts %v, want %v", s.Verdicts, wantVerdicts)
	}

	// Still active: the unresolved alerts, and the malicious or suspicious entities not remediated,
	// prevented or blocked.
	var activeAlerts []string
	for _, a := range s.StillActive.Alerts {
		activeAlerts = append(activeAlerts, a.ID)
	}
	if !slices.Equal(activeAlerts, wantOrder[1:]) {
		t.Errorf("still-active alerts %q, want %q", activeAlerts, wantOrder[1:])
	}
	wantActive := []string{
		"device:mde:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c",
		byKeyPrefix(s.Indicators, "generic:#microsoft.graph.security.cloudLogonSessionEvidence:"),
		"ip:198.51.100.23",
		"ip:203.0.113.45",
		"mailbox:meganb@contoso.com",
		"process:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c:7212:2024-05-14T08:13:58.103Z",
		"url:http://198.51.100.23/dl/svchelper.dll",
		"url:https://invoices-portal.example/view?id=20931",
		"user:aad:6b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
	}
	slices.Sort(wantActive)
	if got := keys(s.StillActive.Entities); !slices.Equal(got, wantActive) {
		t.Errorf("still-active entities\n%q\nwant\n%q", got, wantActive)
	}

	// The narrative and the Markdown are built.
	if s.NarrativeSource != NarrativeDeterministic || !strings.Contains(s.Narrative, "Still active: 2 unresolved alerts and 9 malicious or suspicious entities not remediated.") {
		t.Errorf("narrative (%s) %q", s.NarrativeSource, s.Narrative)
	}
	if s.Markdown != s.RenderMarkdown() {
		t.Error("Markdown is not the rendered story")
	}
	for _, want := range []string{"# Multi\\-stage incident", "## What happened", "1. **2024\\-05\\-14 08\\:02 UTC**",
		"## Who and what", "**Devices**", "**Identities**", "**Indicators**", "- and 2 more", "## Techniques",
		"`T1566.001` (1 alert)", "## Still active", "**2 alerts not resolved**",
		"**9 malicious or suspicious entities not remediated**"} {
		if !strings.Contains(s.Markdown, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, s.Markdown)
		}
	}

	// The story survives a JSON round trip (it travels in workflow payloads).
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Story
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Timeline, s.Timeline) || back.Markdown != s.Markdown || back.Omitted != s.Omitted {
		t.Error("story changed in a JSON round trip")
	}
}

func byKeyPrefix(entities []Entity, prefix string) string {
	for _, e := range entities {
		if strings.HasPrefix(e.Key, prefix) {
			return e.Key
		}
	}
	return ""
}

// TestSummarizeDeterministic checks that the story depends on the incident only, not on the order the
// source lists its alerts in.
func TestSummarizeDeterministic(t *testing.T) {
	inc := multiStage(t)
	want := Summarize(inc)
	if again := Summarize(inc); !reflect.DeepEqual(again, want) {
		t.Fatal("two stories of the same incident differ")
	}
	reversed := *inc
	reversed.Alerts = slices.Clone(inc.Alerts)
	slices.Reverse(reversed.Alerts)
	if got := Summarize(&reversed); !reflect.DeepEqual(got, want) {
		t.Errorf("the story depends on the order of the alerts:\n%s\nwant\n%s", got.Markdown, want.Markdown)
	}
}

func TestSummarizeTechniqueCounts(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	inc := &incident.Incident{ID: "1", Title: "t", Severity: incident.SeverityLow, Alerts: []incident.Alert{
		{ID: "a", Title: "a", CreatedAt: at, MitreTechniques: []string{"T1059", "T1059", "T1566.001"}},
		{ID: "b", Title: "b", CreatedAt: at.Add(time.Minute), MitreTechniques: []string{"T1566.001"}},
	}}
	s := Summarize(inc)
	want := []TechniqueCount{{"T1566.001", 2}, {"T1059", 1}}
	if !slices.Equal(s.Techniques, want) {
		t.Errorf("techniques %v, want %v", s.Techniques, want)
	}
	if !slices.Equal(s.Timeline[0].Techniques, []string{"T1059", "T1566.001"}) {
		t.Errorf("event techniques %q", s.Timeline[0].Techniques)
	}
}

func TestSummarizeStillActive(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ip := func(address string, v incident.Verdict, r incident.RemediationStatus) incident.Entity {
		return incident.Entity{Kind: incident.KindIP, Verdict: v, RemediationStatus: r, IP: &incident.IP{Address: address}}
	}
	inc := &incident.Incident{ID: "2", Title: "t", Severity: incident.SeverityHigh, Alerts: []incident.Alert{
		{ID: "early", Title: "early", Status: incident.StatusResolved, CreatedAt: at, Entities: []incident.Entity{
			ip("192.0.2.1", incident.VerdictMalicious, incident.RemediationBlocked),    // seen again later, not remediated
			ip("192.0.2.2", incident.VerdictMalicious, incident.RemediationNone),       // blocked later
			ip("192.0.2.3", incident.VerdictSuspicious, incident.RemediationNotFound),  // not found: still for the analyst
			ip("192.0.2.4", incident.VerdictNoThreatsFound, incident.RemediationNone),  // clean
			ip("192.0.2.5", incident.VerdictUnknown, incident.RemediationNone),         // no verdict
			ip("192.0.2.6", incident.VerdictMalicious, incident.RemediationPrevented),  // prevented
			ip("192.0.2.7", incident.VerdictMalicious, incident.RemediationRemediated), // remediated
		}},
		{ID: "late", Title: "late", Status: incident.StatusNew, CreatedAt: at.Add(time.Hour), Entities: []incident.Entity{
			ip("192.0.2.1", incident.VerdictSuspicious, incident.RemediationNone),
			ip("192.0.2.2", incident.VerdictMalicious, incident.RemediationBlocked),
		}},
		{ID: "middle", Title: "middle", Status: incident.StatusInProgress, CreatedAt: at.Add(time.Minute)},
	}}
	s := Summarize(inc)
	want := []string{"ip:192.0.2.1", "ip:192.0.2.3"}
	if got := keys(s.StillActive.Entities); !slices.Equal(got, want) {
		t.Errorf("still-active entities %q, want %q", got, want)
	}
	var alerts []string
	for _, a := range s.StillActive.Alerts {
		alerts = append(alerts, a.ID)
	}
	if !slices.Equal(alerts, []string{"middle", "late"}) {
		t.Errorf("still-active alerts %q, want middle, late", alerts)
	}
	if s.Identities != nil || s.Assets != nil {
		t.Errorf("identities %v, assets %v, want none", s.Identities, s.Assets)
	}

	// Nothing active.
	for k := range inc.Alerts {
		inc.Alerts[k].Status = incident.StatusResolved
		inc.Alerts[k].Entities = nil
	}
	s = Summarize(inc)
	if len(s.StillActive.Alerts)+len(s.StillActive.Entities) != 0 ||
		!strings.Contains(s.Markdown, "Nothing: every alert is resolved") ||
		!strings.Contains(s.Narrative, "Nothing is still active") || !strings.HasSuffix(s.Headline, "(high severity, 3 alerts, all resolved)") {
		t.Errorf("nothing active, got %+v\n%s", s.StillActive, s.Markdown)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := Summarize(&incident.Incident{ID: "9"})
	if s.Headline != "Incident 9 (0 alerts)" || s.Narrative != "Incident 9 has no alerts yet." {
		t.Errorf("headline %q, narrative %q", s.Headline, s.Narrative)
	}
	for _, want := range []string{"No alerts.", "No entities.", "None reported.", "Nothing:"} {
		if !strings.Contains(s.Markdown, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, s.Markdown)
		}
	}
}

// TestSummarizeBounds checks that a huge incident gives a bounded story and a short Markdown.
func TestSummarizeBounds(t *testing.T) {
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	inc := &incident.Incident{ID: "big", Title: "big", Severity: incident.SeverityHigh}
	for k := range 300 {
		a := incident.Alert{ID: fmt.Sprintf("a%03d", k), Title: fmt.Sprintf("alert %d", k), CreatedAt: at.Add(time.Duration(k) * time.Minute)}
		if k == 0 {
			for d := range 150 {
				a.Entities = append(a.Entities, incident.Entity{Kind: incident.KindDevice, Verdict: incident.VerdictMalicious,
					Device: &incident.Device{DNSName: fmt.Sprintf("host%03d", d)}})
			}
			a.Entities = append(a.Entities, incident.Entity{Kind: incident.KindProcess, Verdict: incident.VerdictMalicious,
				Process: &incident.Process{ProcessID: 1, CommandLine: "cmd.exe /c " + strings.Repeat("x", 1000)}})
		}
		inc.Alerts = append(inc.Alerts, a)
	}
	s := Summarize(inc)
	if len(s.Timeline) != MaxTimeline || s.Omitted.Events != 100 {
		t.Errorf("%d events kept, %d omitted; want %d and 100", len(s.Timeline), s.Omitted.Events, MaxTimeline)
	}
	if s.Timeline[99].Number != 100 || s.Timeline[100].Number != 201 || s.Timeline[199].Number != 300 {
		t.Errorf("event numbers %d %d %d, want 100 201 300", s.Timeline[99].Number, s.Timeline[100].Number, s.Timeline[199].Number)
	}
	if len(s.Assets) != MaxEntities || s.Omitted.Assets != 50 || len(s.StillActive.Entities) != MaxEntities || s.Omitted.ActiveEntities != 51 {
		t.Errorf("assets %d (+%d), active %d (+%d)", len(s.Assets), s.Omitted.Assets, len(s.StillActive.Entities), s.Omitted.ActiveEntities)
	}
	if len(s.StillActive.Alerts) != MaxEntities || s.Omitted.ActiveAlerts != 200 {
		t.Errorf("active alerts %d (+%d)", len(s.StillActive.Alerts), s.Omitted.ActiveAlerts)
	}
	for _, want := range []string{"… 290 more alerts …", "296. **", "300. **", "- and 140 more", "- and 290 more", "- and 141 more",
		"**300 alerts not resolved**", "**151 malicious or suspicious entities not remediated**"} {
		if !strings.Contains(s.Markdown, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if lines := strings.Count(s.Markdown, "\n"); lines > 80 {
		t.Errorf("Markdown has %d lines, want a short story", lines)
	}
	for _, e := range s.Indicators {
		if e.Kind == incident.KindProcess {
			if n := len([]rune(e.CommandLine)); n != maxCommandLine || !strings.HasSuffix(e.CommandLine, "…") {
				t.Errorf("command line of %d characters, want %d ending with …", n, maxCommandLine)
			}
		}
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 256<<10 {
		t.Errorf("story is %d bytes of JSON, want a bounded size", len(data))
	}
}
