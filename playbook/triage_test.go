package playbook

import (
	"regexp"
	"strings"
	"testing"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

func TestTriage(t *testing.T) {
	clean := func(verdict incident.Verdict, severity incident.Severity, title string) *incident.Incident {
		return &incident.Incident{TenantID: "t", ID: "7", Severity: severity, Alerts: []incident.Alert{{
			ID: "a1", Title: title, Severity: severity, Category: "Execution",
			Entities: []incident.Entity{
				{Kind: incident.KindFile, Verdict: verdict, File: &incident.File{SHA256: "aa"}},
				{Kind: incident.KindDevice, Verdict: verdict, Device: &incident.Device{MdeDeviceID: "d"}},
			},
		}}}
	}
	tests := []struct {
		name           string
		inc            *incident.Incident
		threshold      float64
		classification incident.Classification
		determination  incident.Determination
		unsure         bool
		why            string
	}{
		{"malicious phishing", loadIncident(t, "../incident/testdata/native_phishing.json"), 0.7,
			incident.ClassificationTruePositive, incident.DeterminationPhishing, false, "phishing: an initial-access alert"},
		{"multi-stage attack", loadIncident(t, multiIncident), 0.7,
			incident.ClassificationTruePositive, incident.DeterminationMultiStagedAttack, false, "span 3 categories"},
		{"all evidence clean", clean(incident.VerdictNoThreatsFound, incident.SeverityLow, "Suspicious file"), 0.7,
			incident.ClassificationFalsePositive, incident.DeterminationNotMalicious, false, "found without threats"},
		{"malware", clean(incident.VerdictMalicious, incident.SeverityHigh, "Malware detected"), 0.7,
			incident.ClassificationTruePositive, incident.DeterminationMalware, false, "malware: an execution alert"},
		{"unsure below threshold", clean(incident.VerdictSuspicious, incident.SeverityLow, "Suspicious file"), 0.7,
			incident.ClassificationTruePositive, incident.DeterminationMalware, true, "below the threshold 0.70"},
		{"security testing", clean(incident.VerdictUnknown, incident.SeverityInformational, "EICAR test file detected"), 0.7,
			incident.ClassificationInformationalExpectedActivity, incident.DeterminationSecurityTesting, false, "testing or simulation"},
		{"nothing to go on", clean(incident.VerdictUnknown, incident.SeverityMedium, "Suspicious file"), 0.7,
			incident.ClassificationFalsePositive, incident.DeterminationNotEnoughDataToValidate, true, "points either way"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Triage(tt.inc, tt.threshold)
			s := c.Triage
			if s == nil {
				t.Fatal("no suggestion")
			}
			if s.Classification != tt.classification || s.Determination != tt.determination || s.Unsure != tt.unsure {
				t.Errorf("suggested %s / %s unsure %v (confidence %.2f), want %s / %s unsure %v\nwhy: %q",
					s.Classification, s.Determination, s.Unsure, s.Confidence, tt.classification, tt.determination, tt.unsure, s.Why)
			}
			if !strings.Contains(strings.Join(s.Why, "\n"), tt.why) {
				t.Errorf("why %q does not say %q", s.Why, tt.why)
			}
			if s.Unsure != (s.Confidence < tt.threshold) || s.Unsure != strings.HasPrefix(c.Title, "Unsure") {
				t.Errorf("unsure %v, confidence %.2f, title %q", s.Unsure, s.Confidence, c.Title)
			}
			if c.Category != card.CategoryTriage || c.Action != card.ActionTriageClassify || c.Permission != rbac.PermAlertsManage ||
				s.ModelVersion != "rules-v1" || c.Status != card.StatusProposed || c.Confidence != s.Confidence ||
				!regexp.MustCompile(`^c-triage-[0-9a-f]{16}$`).MatchString(c.ID) || c.Parameters["classification"] != string(s.Classification) {
				t.Errorf("card %+v", c)
			}
			if again := Triage(tt.inc, tt.threshold); again.ID != c.ID || again.Title != c.Title {
				t.Error("triage is not stable")
			}
		})
	}
	if a, b := Triage(clean(incident.VerdictMalicious, incident.SeverityHigh, "x"), 0.5), Triage(loadIncident(t, multiIncident), 0.5); a.ID == b.ID {
		t.Error("two incidents share a triage card id")
	}
}

func TestTestingWords(t *testing.T) {
	for title, want := range map[string]bool{
		"EICAR test file detected":          true,
		"Attack simulation training":        true,
		"Red team tool detected":            true,
		"Latest contest winners":            false,
		"Suspicious PowerShell command":     false,
		"Penetration test activity (Kali)":  true,
		"Protested sign-in":                 false,
		"Atomic Red Team: T1059 simulation": true,
	} {
		if got := testingWords(title); got != want {
			t.Errorf("testingWords(%q) = %v", title, got)
		}
	}
}
