package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

// TriageModelVersion names the rule-based triage, until a learned model replaces it.
const TriageModelVersion = "rules-v1"

// Triage suggests a classification of the incident from its evidence, by rules:
//   - informational alerts whose titles speak of testing or simulation: informational, expected activity
//     (security testing);
//   - any malicious evidence: true positive, surer with higher severity, more malicious evidence and alerts
//     already classified true positive; suspicious evidence only: true positive, much less sure;
//   - every piece of evidence without threats: false positive (not malicious);
//   - nothing to go on: false positive (not enough data), barely sure.
//
// The determination of a true positive comes from the alerts: a multi-staged attack when they span three
// or more categories, phishing for an initial-access alert with a bad email or URL, a compromised account
// for a compromised user or a credential-access alert, malware for execution or a bad file or process.
// When the confidence is below threshold the suggestion is marked unsure and its card says so.
func Triage(inc *incident.Incident, threshold float64) card.Card {
	f := triageFeatures(inc)
	s := f.suggest()
	s.Confidence = math.Round(s.Confidence*100) / 100
	s.ModelVersion = TriageModelVersion
	s.Unsure = s.Confidence < threshold
	if s.Unsure {
		s.Why = append(s.Why, fmt.Sprintf("confidence %.2f is below the threshold %.2f: review the evidence before classifying", s.Confidence, threshold))
	}

	label := classificationWords[s.Classification]
	if d := determinationWords[s.Determination]; d != "" {
		label += " (" + d + ")"
	}
	title := "Classify as " + label
	if s.Unsure {
		title = "Unsure: perhaps " + label + "; review the evidence before classifying"
	}
	sum := sha256.Sum256([]byte(inc.TenantID + "|" + inc.ID))
	c := card.Card{
		ID:       "c-triage-" + hex.EncodeToString(sum[:])[:16],
		Category: card.CategoryTriage,
		Title:    title,
		Action:   card.ActionTriageClassify,
		Why:      slices.Clone(s.Why),
		Risk:     card.RiskLow,
		Parameters: map[string]string{
			"classification": string(s.Classification),
			"determination":  string(s.Determination),
		},
		Reversible: true,
		Undo:       "Classify the incident again.",
		Permission: rbac.PermAlertsManage,
		Confidence: s.Confidence,
		Triage:     &s,
		Status:     card.StatusProposed,
	}
	for _, a := range inc.Alerts {
		c.AlertIDs = append(c.AlertIDs, a.ID)
	}
	return c
}

// features is what the triage rules look at.
type features struct {
	entities                           int
	malicious, suspicious, noThreats   int
	maliciousKinds, suspiciousKinds    []incident.EntityKind
	compromisedUsers                   []string
	categories                         []string // as the alerts spell them, first spelling kept
	maxSeverity                        incident.Severity
	testing                            bool // titles speak of testing or simulation
	alertsTruePositive, alertsFalsePos int
}

func triageFeatures(inc *incident.Incident) *features {
	f := &features{maxSeverity: inc.Severity}
	for _, e := range inc.Entities() {
		f.entities++
		switch e.Verdict {
		case incident.VerdictMalicious:
			f.malicious++
			f.maliciousKinds = appendKind(f.maliciousKinds, e.Kind)
		case incident.VerdictSuspicious:
			f.suspicious++
			f.suspiciousKinds = appendKind(f.suspiciousKinds, e.Kind)
		case incident.VerdictNoThreatsFound:
			f.noThreats++
		}
		if (e.Kind == incident.KindUser || e.Kind == incident.KindMailbox) && slices.Contains(e.Roles, incident.RoleCompromised) {
			f.compromisedUsers = append(f.compromisedUsers, clip(clean(e.Name()), 80))
		}
	}
	if !f.maxSeverity.Valid() {
		f.maxSeverity = incident.SeverityUnknown
	}
	testing := testingWords(inc.Title)
	for _, a := range inc.Alerts {
		if a.Severity.Rank() > f.maxSeverity.Rank() {
			f.maxSeverity = a.Severity
		}
		if a.Category != "" && !slices.ContainsFunc(f.categories, func(c string) bool { return strings.EqualFold(c, a.Category) }) {
			f.categories = append(f.categories, clip(clean(a.Category), 40))
		}
		if testingWords(a.Title) {
			testing = true
		}
		switch a.Classification {
		case incident.ClassificationTruePositive:
			f.alertsTruePositive++
		case incident.ClassificationFalsePositive:
			f.alertsFalsePos++
		}
	}
	f.testing = testing
	return f
}

func appendKind(list []incident.EntityKind, k incident.EntityKind) []incident.EntityKind {
	if slices.Contains(list, k) {
		return list
	}
	return append(list, k)
}

// testingWords reports whether a title speaks of security testing: test, simulation, EICAR, red team,
// penetration test, pentest.
func testingWords(title string) bool {
	words := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		switch w {
		case "test", "tests", "testing", "simulation", "simulated", "eicar", "pentest", "redteam":
			return true
		case "red", "penetration", "attack":
			if i+1 < len(words) && (words[i+1] == "team" || words[i+1] == "test" || words[i+1] == "simulation") {
				return true
			}
		}
	}
	return false
}

func (f *features) hasCategory(name string) bool {
	return slices.ContainsFunc(f.categories, func(c string) bool { return strings.EqualFold(c, name) })
}

// suggest applies the rules.
func (f *features) suggest() card.TriageSuggestion {
	var why []string
	evidence := fmt.Sprintf("%d malicious, %d suspicious and %d without threats of %d pieces of evidence", f.malicious, f.suspicious, f.noThreats, f.entities)
	if len(f.maliciousKinds) > 0 {
		evidence += "; malicious: " + kindList(f.maliciousKinds)
	}
	why = append(why, evidence, "highest severity "+string(f.maxSeverity))
	if len(f.categories) > 0 {
		why = append(why, fmt.Sprintf("alert categories: %s (%d)", strings.Join(f.categories, ", "), len(f.categories)))
	}
	if f.alertsTruePositive > 0 {
		why = append(why, fmt.Sprintf("%d alert(s) already classified true positive", f.alertsTruePositive))
	}
	if f.alertsFalsePos > 0 {
		why = append(why, fmt.Sprintf("%d alert(s) already classified false positive", f.alertsFalsePos))
	}
	sev := f.maxSeverity.Rank()

	switch {
	case f.testing && sev <= incident.SeverityInformational.Rank():
		conf := 0.7
		if f.malicious == 0 {
			conf += 0.1
		}
		why = append(why, "informational severity and titles that speak of testing or simulation")
		return card.TriageSuggestion{
			Classification: incident.ClassificationInformationalExpectedActivity,
			Determination:  incident.DeterminationSecurityTesting,
			Confidence:     conf, Why: why,
		}

	case f.malicious > 0 || f.suspicious > 0:
		conf := 0.35
		if f.malicious > 0 {
			conf = 0.55 + 0.05*float64(min(f.malicious-1, 2))
		}
		switch {
		case sev >= incident.SeverityHigh.Rank():
			conf += 0.2
		case sev >= incident.SeverityMedium.Rank():
			conf += 0.1
		}
		if f.alertsTruePositive > 0 {
			conf += 0.1
		}
		if f.alertsFalsePos > 0 {
			conf -= 0.1
		}
		det, because := f.determination()
		why = append(why, because)
		return card.TriageSuggestion{
			Classification: incident.ClassificationTruePositive,
			Determination:  det,
			Confidence:     min(max(conf, 0.05), 0.95), Why: why,
		}

	case f.entities > 0 && f.noThreats == f.entities:
		conf := 0.7
		if sev <= incident.SeverityLow.Rank() {
			conf += 0.1
		}
		if f.alertsFalsePos > 0 {
			conf += 0.1
		}
		why = append(why, "every piece of evidence was analysed and found without threats")
		return card.TriageSuggestion{
			Classification: incident.ClassificationFalsePositive,
			Determination:  incident.DeterminationNotMalicious,
			Confidence:     min(conf, 0.95), Why: why,
		}
	}
	why = append(why, "no evidence has a verdict that points either way")
	return card.TriageSuggestion{
		Classification: incident.ClassificationFalsePositive,
		Determination:  incident.DeterminationNotEnoughDataToValidate,
		Confidence:     0.3, Why: why,
	}
}

// determination picks the determination of a true positive and says why.
func (f *features) determination() (incident.Determination, string) {
	bad := append(slices.Clone(f.maliciousKinds), f.suspiciousKinds...)
	switch {
	case len(f.categories) >= 3:
		return incident.DeterminationMultiStagedAttack, fmt.Sprintf("multi-staged attack: the alerts span %d categories", len(f.categories))
	case f.hasCategory("InitialAccess") && (slices.Contains(bad, incident.KindAnalyzedMessage) || slices.Contains(bad, incident.KindURL)):
		return incident.DeterminationPhishing, "phishing: an initial-access alert with a malicious or suspicious email or URL"
	case len(f.compromisedUsers) > 0:
		return incident.DeterminationCompromisedAccount, "compromised account: " + strings.Join(f.compromisedUsers, ", ") + " has the role compromised"
	case f.hasCategory("CredentialAccess"):
		return incident.DeterminationCompromisedAccount, "compromised account: a credential-access alert"
	case f.hasCategory("Execution") || slices.Contains(f.maliciousKinds, incident.KindFile) || slices.Contains(f.maliciousKinds, incident.KindProcess):
		return incident.DeterminationMalware, "malware: an execution alert or a malicious file or process"
	}
	return incident.DeterminationOther, "no category or evidence points to a specific determination"
}

func kindList(ks []incident.EntityKind) string {
	words := make([]string, len(ks))
	for i, k := range ks {
		words[i] = kindWords[k]
	}
	return strings.Join(words, ", ")
}

// classificationWords and determinationWords are the portal's names, for card titles.
var classificationWords = map[incident.Classification]string{
	incident.ClassificationTruePositive:                  "true positive",
	incident.ClassificationFalsePositive:                 "false positive",
	incident.ClassificationInformationalExpectedActivity: "informational, expected activity",
	incident.ClassificationUnknown:                       "unknown",
}

var determinationWords = map[incident.Determination]string{
	incident.DeterminationMultiStagedAttack:       "multi-staged attack",
	incident.DeterminationPhishing:                "phishing",
	incident.DeterminationCompromisedAccount:      "compromised account",
	incident.DeterminationMalware:                 "malware",
	incident.DeterminationOther:                   "other",
	incident.DeterminationNotMalicious:            "not malicious",
	incident.DeterminationNotEnoughDataToValidate: "insufficient data",
	incident.DeterminationSecurityTesting:         "security testing",
}
