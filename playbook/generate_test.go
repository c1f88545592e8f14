package playbook

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

const multiIncident = "../incident/testdata/graph_incident_multi.json"

// The entities of the multi-stage incident.
const (
	deviceKey = "device:mde:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c"
	userKey   = "user:aad:6b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
	emailKey  = "email:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d:meganb@contoso.com"
	dllSHA256 = "0c5ff1bc9705e7a6a5c6b6a249cf81be6ffa94ea88a9f678b3d354ed140d1679"
	docSHA256 = "46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d"
	c2IP      = "198.51.100.23"
	c2URL     = "http://198.51.100.23/dl/svchelper.dll"
	phishURL  = "https://invoices-portal.example/view?id=20931"

	powershellAlert = `Alert "Suspicious PowerShell command line launched by Office application" (high, Execution, T1204.002, T1059.001, T1547.001)`
	tokenAlert      = `Alert "Anomalous token: sign-in from an IP address linked to malware command and control" (high, CredentialAccess, T1528, T1078.004, T1550.001)`
	emailAlert      = `Alert "Email messages containing malicious file removed after delivery" (medium, InitialAccess, T1566.001)`
)

func loadIncident(t testing.TB, path string) *incident.Incident {
	t.Helper()
	incs, err := incident.ParseFile(path)
	if err != nil || len(incs) != 1 {
		t.Fatalf("parse %s: %d incidents, %v", path, len(incs), err)
	}
	return &incs[0]
}

func defaultSet(t testing.TB) *Set {
	t.Helper()
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// find returns the cards with the action whose entity key (or indicator value) is key.
func find(cards []card.Card, action card.Action, key string) []card.Card {
	var found []card.Card
	for _, c := range cards {
		if c.Action != action {
			continue
		}
		if (c.Entity != nil && c.Entity.Key == key) || (key != "" && c.Parameters["indicatorValue"] == key) || (c.Entity == nil && key == "") {
			found = append(found, c)
		}
	}
	return found
}

func one(t *testing.T, cards []card.Card, action card.Action, key string) card.Card {
	t.Helper()
	found := find(cards, action, key)
	if len(found) != 1 {
		t.Fatalf("%d %s cards for %s, want 1", len(found), action, key)
	}
	return found[0]
}

func TestGenerateMultiStageIncident(t *testing.T) {
	set := defaultSet(t)
	inc := loadIncident(t, multiIncident)
	cards, err := set.Evaluate(inc)
	if err != nil {
		t.Fatalf("templates failed: %v", err)
	}

	// Containment for the device, the user, the email, the file hashes, the IP and the URLs.
	isolate := one(t, cards, card.ActionDeviceIsolate, deviceKey)
	disable := one(t, cards, card.ActionUserDisable, userKey)
	block := one(t, cards, card.ActionEmailBlockSender, emailKey)
	dll := one(t, cards, card.ActionIndicatorBlock, dllSHA256)
	doc := one(t, cards, card.ActionIndicatorBlock, docSHA256)
	ip := one(t, cards, card.ActionIndicatorBlock, c2IP)
	url := one(t, cards, card.ActionIndicatorBlock, c2URL)
	phish := one(t, cards, card.ActionIndicatorBlock, phishURL)
	for _, c := range []card.Card{isolate, disable, block, dll, doc, ip, url, phish} {
		if c.Category != card.CategoryContainment || c.Status != card.StatusProposed {
			t.Errorf("%s %s: category %s, status %s", c.Action, c.Title, c.Category, c.Status)
		}
		if c.PlaybookID == "" || c.RuleID == "" || !regexp.MustCompile(`^1\.0\.0\+[0-9a-f]{8}$`).MatchString(c.PlaybookVersion) {
			t.Errorf("%s: playbook %q %q rule %q", c.Title, c.PlaybookID, c.PlaybookVersion, c.RuleID)
		}
	}

	// Titles use Defender's names; reasons name the alerts, verdicts and roles.
	if isolate.Title != "Isolate device ws-megan01.contoso.com" {
		t.Errorf("title %q", isolate.Title)
	}
	wantReason := powershellAlert + ": device ws-megan01.contoso.com is malicious, role compromised"
	if !slices.Contains(isolate.Why, wantReason) {
		t.Errorf("isolate why %q lacks %q", isolate.Why, wantReason)
	}
	if !slices.Contains(disable.Why, tokenAlert+": user MeganB@contoso.com is malicious, role compromised") {
		t.Errorf("disable why %q", disable.Why)
	}
	if !slices.Contains(block.Why, emailAlert+`: email "Overdue invoice INV-20931 - action required" is malicious, role contextual`) {
		t.Errorf("block sender why %q", block.Why)
	}
	if !slices.Equal(isolate.AlertIDs, []string{"da638512480801234567_-1482736491"}) {
		t.Errorf("isolate alerts %v", isolate.AlertIDs)
	}

	// Permissions, undo, time boxes and parameters.
	checks := []struct {
		c          card.Card
		permission rbac.Permission
		undo       card.Action
		timeBox    time.Duration
		params     map[string]string
	}{
		{isolate, rbac.PermResponseManage, card.ActionDeviceRelease, 24 * time.Hour, map[string]string{"isolationType": "Full"}},
		{disable, rbac.PermResponseManage, card.ActionUserEnable, 24 * time.Hour, nil},
		{block, rbac.PermEmailAdvancedManage, card.ActionEmailUnblockSender, 0, map[string]string{
			"sender": "billing@invoices-portal.example", "networkMessageId": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "recipient": "MeganB@contoso.com"}},
		{dll, rbac.PermResponseManage, card.ActionIndicatorRemove, 0, map[string]string{"indicatorType": "FileSha256", "indicatorValue": dllSHA256}},
		{ip, rbac.PermResponseManage, card.ActionIndicatorRemove, 0, map[string]string{"indicatorType": "IpAddress", "indicatorValue": c2IP}},
		{url, rbac.PermResponseManage, card.ActionIndicatorRemove, 0, map[string]string{"indicatorType": "Url", "indicatorValue": c2URL}},
		{one(t, cards, card.ActionDeviceRunAntivirusScan, deviceKey), rbac.PermResponseManage, "", 0, map[string]string{"scanType": "Quick"}},
		{one(t, cards, card.ActionDeviceLiveResponse, deviceKey), rbac.PermLiveResponseAdvanced, "", 0, nil},
		{one(t, cards, card.ActionInvestigateSimilarEmails, emailKey), rbac.PermSecurityDataRead, "", 0, nil},
		{one(t, cards, card.ActionUserRevokeSessions, userKey), rbac.PermResponseManage, "", 0, nil},
	}
	for _, ck := range checks {
		c := ck.c
		if c.Permission != ck.permission || c.UndoAction != ck.undo || c.TimeBox != ck.timeBox || !reflect.DeepEqual(c.Parameters, ck.params) {
			t.Errorf("%s: permission %s undo %q time box %s parameters %v; want %s %q %s %v",
				c.Title, c.Permission, c.UndoAction, c.TimeBox, c.Parameters, ck.permission, ck.undo, ck.timeBox, ck.params)
		}
		if c.Reversible != (ck.undo != "") || (c.Reversible && c.Undo == "") {
			t.Errorf("%s: reversible %v undo %q", c.Title, c.Reversible, c.Undo)
		}
	}

	// The domain of the phishing URL is blocked; the C2 URL's host is an address, not a domain.
	domain := one(t, cards, card.ActionIndicatorBlock, "invoices-portal.example")
	if domain.Parameters["indicatorType"] != "DomainName" || domain.Risk != card.RiskHigh {
		t.Errorf("domain card %+v", domain)
	}
	if len(find(cards, card.ActionIndicatorBlock, "198.51.100.23")) != 1 {
		t.Error("the C2 URL's host was proposed as a domain")
	}
	// The suspicious sender IP is hunted for, not blocked.
	if len(find(cards, card.ActionIndicatorBlock, "203.0.113.45")) != 0 {
		t.Error("suspicious IP blocked")
	}

	// View similar emails: the workflow fills in the query.
	if c := one(t, cards, card.ActionInvestigateSimilarEmails, emailKey); c.Query != "" || c.Category != card.CategoryInvestigation {
		t.Errorf("similar emails %+v", c)
	}
	// The timeline covers the incident and names every alert in its query, as literals.
	timeline := one(t, cards, card.ActionInvestigateTimeline, "")
	for _, a := range inc.Alerts {
		if !strings.Contains(timeline.Query, KQLString(a.ID)) {
			t.Errorf("timeline query lacks alert %s:\n%s", a.ID, timeline.Query)
		}
	}
	if len(timeline.AlertIDs) != len(inc.Alerts) {
		t.Errorf("timeline alerts %v", timeline.AlertIDs)
	}

	// Every card is well formed; IDs follow the formula.
	ids := map[string]bool{}
	for _, c := range cards {
		if ids[c.ID] {
			t.Errorf("duplicate card id %s", c.ID)
		}
		ids[c.ID] = true
		key := ""
		if c.Entity != nil {
			key = c.Entity.Key
		}
		if want := cardID(inc.TenantID, inc.ID, c.PlaybookID, c.RuleID, string(c.Action), key); c.ID != want {
			t.Errorf("%s: id %s, want %s", c.Title, c.ID, want)
		}
		if !c.Permission.Valid() || c.Confidence < 0.5 || c.Confidence > 0.9 || len(c.Why) < 2 || len(c.AlertIDs) == 0 {
			t.Errorf("card %+v", c)
		}
		if c.Query != "" {
			literalsOf(t, c.Query)
		}
	}

	// Deterministic order: category, rank, ID.
	order := map[card.Category]int{card.CategoryContainment: 0, card.CategoryInvestigation: 1, card.CategoryRemediation: 2}
	if !slices.IsSortedFunc(cards, func(a, b card.Card) int {
		if d := order[a.Category] - order[b.Category]; d != 0 {
			return d
		}
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		return strings.Compare(a.ID, b.ID)
	}) {
		t.Error("cards are not ordered by category, rank, id")
	}

	// Stable: the same cards on a second generation, and from a fresh parse.
	if again := set.Generate(loadIncident(t, multiIncident)); !reflect.DeepEqual(again, cards) {
		t.Error("a second generation gave different cards")
	}
}

func TestGenerateDeduplicates(t *testing.T) {
	cards := defaultSet(t).Generate(loadIncident(t, multiIncident))
	// Two rules isolate the device (malicious; compromised): one card, with both reasons.
	isolate := one(t, cards, card.ActionDeviceIsolate, deviceKey)
	if isolate.RuleID != "isolate-bad-device" || !slices.Contains(isolate.Why, "Also proposed by playbook endpoint rule isolate-compromised-device.") {
		t.Errorf("isolate %q %q", isolate.RuleID, isolate.Why)
	}
	// Two rules revoke sessions and reset the password.
	one(t, cards, card.ActionUserRevokeSessions, userKey)
	one(t, cards, card.ActionUserForcePasswordReset, userKey)

	// Lowest rank wins; reasons and alerts merge.
	set, err := Load(fstest.MapFS{"d.yaml": {Data: []byte(`id: d
version: 2.0.0
title: Dedup
rules:
  - id: late
    when:
      alertCategories: [CredentialAccess]
      entityKinds: [ip]
    cards:
      - action: indicator.block
        title: Block late
        why: Late reason.
        rank: 50
        confidence: 0.9
  - id: early
    when:
      alertCategories: [Execution]
      entityKinds: [ip]
    cards:
      - action: indicator.block
        title: Block early
        why: Early reason.
        rank: 5
        confidence: 0.6
`)}})
	if err != nil {
		t.Fatal(err)
	}
	got := one(t, set.Generate(loadIncident(t, multiIncident)), card.ActionIndicatorBlock, c2IP)
	if got.RuleID != "early" || got.Title != "Block early" || got.Rank != 5 || got.Confidence != 0.9 {
		t.Errorf("merged card %+v", got)
	}
	if len(got.AlertIDs) != 2 || got.Why[0] != "Early reason." || got.Why[1] != "Late reason." ||
		!slices.Contains(got.Why, "Also proposed by playbook d rule late.") {
		t.Errorf("merged alerts %v, why %q", got.AlertIDs, got.Why)
	}
}

func TestGenerateSkipsWhatIsDone(t *testing.T) {
	set := defaultSet(t)
	inc := loadIncident(t, multiIncident)
	cards := set.Generate(inc)
	// The email was removed after delivery (remediated); the files are remediated or prevented; the
	// PowerShell process was prevented.
	for _, a := range []card.Action{card.ActionEmailSoftDelete, card.ActionEmailHardDelete, card.ActionFileStopAndQuarantine, card.ActionProcessKill} {
		if found := findAction(cards, a); len(found) != 0 {
			t.Errorf("%s proposed for done entities: %v", a, found)
		}
	}
	// Once the email is back (remediation none), deleting it is proposed again.
	for i := range inc.Alerts {
		for k := range inc.Alerts[i].Entities {
			if e := &inc.Alerts[i].Entities[k]; e.Kind == incident.KindAnalyzedMessage {
				e.RemediationStatus = incident.RemediationNone
			}
		}
	}
	cards = set.Generate(inc)
	soft := one(t, cards, card.ActionEmailSoftDelete, emailKey)
	if soft.Permission != rbac.PermEmailAdvancedManage || soft.UndoAction != card.ActionEmailMoveToInbox || soft.Category != card.CategoryRemediation ||
		soft.Parameters["networkMessageId"] != "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d" || soft.Parameters["recipient"] != "MeganB@contoso.com" {
		t.Errorf("soft delete %+v", soft)
	}
	one(t, cards, card.ActionEmailHardDelete, emailKey)
}

func findAction(cards []card.Card, a card.Action) []card.Card {
	var found []card.Card
	for _, c := range cards {
		if c.Action == a {
			found = append(found, c)
		}
	}
	return found
}

func TestGenerateSkipsPrivateIPsAndInternalSenders(t *testing.T) {
	inc := &incident.Incident{TenantID: "t", ID: "1", Severity: incident.SeverityHigh, Alerts: []incident.Alert{{
		ID: "a", Title: "x", Severity: incident.SeverityHigh, Category: "InitialAccess",
		Entities: []incident.Entity{
			{Kind: incident.KindIP, Verdict: incident.VerdictMalicious, IP: &incident.IP{Address: "10.1.2.3"}},
			{Kind: incident.KindIP, Verdict: incident.VerdictMalicious, IP: &incident.IP{Address: "8.8.4.4"}},
			{Kind: incident.KindAnalyzedMessage, Verdict: incident.VerdictMalicious, AnalyzedMessage: &incident.AnalyzedMessage{
				NetworkMessageID: "n", RecipientEmailAddress: "a@contoso.com", P2Sender: "b@contoso.com", AntiSpamDirection: "intraorg"}},
		},
	}}}
	cards := defaultSet(t).Generate(inc)
	if len(find(cards, card.ActionIndicatorBlock, "10.1.2.3")) != 0 || len(find(cards, card.ActionIndicatorBlock, "8.8.4.4")) != 1 {
		t.Error("private address blocked, or public one not")
	}
	if len(findAction(cards, card.ActionEmailBlockSender)) != 0 {
		t.Error("internal sender blocked")
	}
	if len(findAction(cards, card.ActionEmailSoftDelete)) != 1 {
		t.Error("internal phishing email not deleted")
	}
}

func TestGenerateEmptyIncident(t *testing.T) {
	cards := defaultSet(t).Generate(&incident.Incident{TenantID: "t", ID: "1"})
	if cards == nil || len(cards) != 0 {
		t.Errorf("cards %v", cards)
	}
}

func TestConditions(t *testing.T) {
	c := conditions{techniques: []string{"T1566"}, categories: []string{"initialaccess"}, minSeverity: incident.SeverityMedium, titleContains: []string{"phish"}}
	a := &incident.Alert{Category: "InitialAccess", MitreTechniques: []string{"T1566.002"}, Severity: incident.SeverityHigh, Title: "Phishing link clicked"}
	if !c.alertMatches(a) {
		t.Error("alert does not match")
	}
	for name, change := range map[string]func(*incident.Alert){
		"technique": func(a *incident.Alert) { a.MitreTechniques = []string{"T15660"} },
		"category":  func(a *incident.Alert) { a.Category = "Execution" },
		"severity":  func(a *incident.Alert) { a.Severity = incident.SeverityLow },
		"title":     func(a *incident.Alert) { a.Title = "Malware" },
	} {
		b := *a
		change(&b)
		if c.alertMatches(&b) {
			t.Errorf("alert with another %s matches", name)
		}
	}
}

// TestQuarantinePerDevice: Defender stops and quarantines a file one machine at a time, so a malicious file
// seen on two devices gets a card for each, named after the device and carrying its machine ID; a file
// seen on one device keeps a single card, and the device an attachment's first appearance lacked is taken
// from a later one.
func TestQuarantinePerDevice(t *testing.T) {
	set := defaultSet(t)
	inc := loadIncident(t, multiIncident)
	const otherDevice = "0123456789abcdef0123456789abcdef01234567"
	var dll incident.Entity
	for _, a := range inc.Alerts {
		for _, e := range a.Entities {
			if e.Kind == incident.KindFile && e.File != nil && e.File.SHA256 == dllSHA256 {
				dll = e
			}
		}
	}
	if dll.File == nil {
		t.Fatal("the incident has no DLL")
	}
	onOther := dll
	onOther.RemediationStatus = incident.RemediationNone
	f := *dll.File
	f.MdeDeviceID = otherDevice
	onOther.File = &f
	host := incident.Entity{Kind: incident.KindDevice, Verdict: incident.VerdictSuspicious,
		Device: &incident.Device{MdeDeviceID: otherDevice, DNSName: "ws-bob02.contoso.com"}}
	second := inc.Alerts[0]
	second.ID = "da-second-device"
	second.Entities = []incident.Entity{onOther, host}
	inc.Alerts = append(inc.Alerts, second)

	// On Megan's device Defender prevented the DLL already: only Bob's device gets a card.
	cards, err := set.Evaluate(inc)
	if err != nil {
		t.Fatal(err)
	}
	dllKey := dll.Key()
	if q := find(cards, card.ActionFileStopAndQuarantine, dllKey); len(q) != 1 || q[0].Parameters["mdeDeviceId"] != otherDevice {
		t.Fatalf("quarantine cards %+v: want one, for Bob's device", q)
	}
	for ai := range inc.Alerts {
		for ei := range inc.Alerts[ai].Entities {
			if e := &inc.Alerts[ai].Entities[ei]; e.Key() == dllKey {
				e.RemediationStatus = incident.RemediationNone
			}
		}
	}
	cards, err = set.Evaluate(inc)
	if err != nil {
		t.Fatal(err)
	}
	quarantine := find(cards, card.ActionFileStopAndQuarantine, dllKey)
	if len(quarantine) != 2 {
		t.Fatalf("%d quarantine cards for the DLL on two devices, want 2: %+v", len(quarantine), quarantine)
	}
	byDevice := map[string]card.Card{}
	for _, c := range quarantine {
		byDevice[c.Parameters["mdeDeviceId"]] = c
	}
	megan, bob := byDevice[dll.File.MdeDeviceID], byDevice[otherDevice]
	if !strings.HasSuffix(megan.Title, " on ws-megan01.contoso.com") || !strings.HasSuffix(bob.Title, " on ws-bob02.contoso.com") {
		t.Errorf("titles %q and %q do not name their devices", megan.Title, bob.Title)
	}
	if megan.ID == bob.ID || megan.ID == "" || bob.ID == "" {
		t.Errorf("IDs %q and %q", megan.ID, bob.ID)
	}
	if !slices.Equal(bob.AlertIDs, []string{"da-second-device"}) || slices.Contains(megan.AlertIDs, "da-second-device") {
		t.Errorf("alerts: on Megan's device %v, on Bob's %v", megan.AlertIDs, bob.AlertIDs)
	}
	if again := set.Generate(inc); !reflect.DeepEqual(again, cards) {
		t.Error("a second generation gave different cards")
	}

	// The document arrived as an attachment (no device) and was then seen on Megan's device: one card,
	// and the merged entity knows the device.
	foundDoc := false
	for _, e := range inc.Entities() {
		if e.Kind == incident.KindFile && e.File != nil && e.File.SHA256 == docSHA256 {
			foundDoc = true
			if e.File.MdeDeviceID != dll.File.MdeDeviceID {
				t.Errorf("the document's merged entity has device %q, want %q", e.File.MdeDeviceID, dll.File.MdeDeviceID)
			}
			if n := len(find(cards, card.ActionFileStopAndQuarantine, e.Key())); n > 1 {
				t.Errorf("%d quarantine cards for a file seen on one device", n)
			}
		}
	}
	if !foundDoc {
		t.Error("the incident has no document")
	}
}
