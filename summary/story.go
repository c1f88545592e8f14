// Package summary tells the attack story of an incident in a form an analyst reads in a minute: what
// happened, in time order; which devices, identities and indicators are involved; which techniques; and
// what is still active. Summarize builds it deterministically from the incident alone; Enrich may add a
// narrative written by a language model and falls back to the deterministic one on any failure.
//
// Much of an incident is attacker-controlled (email subjects, file names, command lines, even alert
// titles that quote them). The Story keeps that text as data; RenderMarkdown escapes it for display, and
// the language model is told it is data, never instructions.
package summary

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/guided-response/guided/incident"
)

// NarrativeDeterministic is the NarrativeSource of a narrative built from the story alone; a narrative
// written by a language model has the source "llm:<model>".
const NarrativeDeterministic = "deterministic"

// Bounds that keep a story small enough for a workflow's state, whatever the size of the incident.
const (
	// MaxTimeline is the most events a story keeps: the first and the last MaxTimeline/2 alerts.
	MaxTimeline = 200
	// MaxEntities is the most entities each list of a story keeps, the most important first.
	MaxEntities = 100
	// maxText is the longest title, name or sentence a story keeps, in characters.
	maxText = 300
	// maxCommandLine is the longest command line a story keeps, in characters.
	maxCommandLine = 256
	// maxEventEntities is the most entity names an event lists.
	maxEventEntities = 5
)

// Story is the attack story of one incident. Text fields hold outside input as it came (bounded in
// length): escape it for where it is shown, as RenderMarkdown does.
type Story struct {
	IncidentID string            `json:"incidentId"`
	TenantID   string            `json:"tenantId,omitempty"`
	Title      string            `json:"title"`
	Headline   string            `json:"headline"`
	Severity   incident.Severity `json:"severity"`
	Status     incident.Status   `json:"status"`
	// FirstActivity and LastActivity bound the activity of all alerts (each alert's first and last
	// activity, else its creation time).
	FirstActivity time.Time `json:"firstActivity,omitzero"`
	LastActivity  time.Time `json:"lastActivity,omitzero"`
	// AlertCount and EntityCount count all alerts and all distinct entities, kept in the lists or not.
	AlertCount  int `json:"alertCount"`
	EntityCount int `json:"entityCount"`
	// Timeline has one event per alert, in time order. Beyond MaxTimeline alerts it keeps the first and
	// the last ones; Event.Number says where each stands.
	Timeline []Event `json:"timeline"`
	// Assets are the devices; Identities the users and mailboxes; Indicators every other entity (IP
	// addresses, URLs, files, processes, emails, registry, applications). Each list is ordered by verdict,
	// malicious first, then by name, and keeps at most MaxEntities.
	Assets     []Entity `json:"assets"`
	Identities []Entity `json:"identities"`
	Indicators []Entity `json:"indicators"`
	// Techniques are the distinct MITRE ATT&CK techniques, with how many alerts report each; most
	// reported first.
	Techniques []TechniqueCount `json:"techniques"`
	// Verdicts count the distinct entities by verdict, malicious first.
	Verdicts []VerdictCount `json:"verdicts"`
	// StillActive is what still needs attention.
	StillActive StillActive `json:"stillActive"`
	// Omitted counts what the bounds left out of each list.
	Omitted Omitted `json:"omitted,omitzero"`

	// Markdown is the story rendered by RenderMarkdown.
	Markdown string `json:"markdown"`
	// Narrative is a few sentences telling the story: NarrativeSource says who wrote them.
	Narrative       string `json:"narrative"`
	NarrativeSource string `json:"narrativeSource"`
}

// Event is one alert on the timeline.
type Event struct {
	// Number is the alert's place in the whole timeline, from 1.
	Number int `json:"number"`
	// At is the alert's first activity, else its creation time.
	At         time.Time         `json:"at,omitzero"`
	AlertID    string            `json:"alertId"`
	AlertTitle string            `json:"alertTitle"`
	Severity   incident.Severity `json:"severity"`
	Status     incident.Status   `json:"status,omitempty"`
	Category   string            `json:"category,omitempty"`
	Source     string            `json:"source,omitempty"`
	Techniques []string          `json:"techniques,omitempty"`
	// What says what happened in one sentence: the first sentence of the alert's description, else its
	// title.
	What string `json:"what"`
	// Entities names the devices, users and mailboxes of the alert (at most five).
	Entities []string `json:"entities,omitempty"`
}

// Entity is one distinct entity of the incident, merged across alerts (see incident.Incident.Entities).
type Entity struct {
	Key  string              `json:"key"`
	Kind incident.EntityKind `json:"kind"`
	Name string              `json:"name"`
	// Devices.
	OS           string `json:"os,omitempty"`
	RiskScore    string `json:"riskScore,omitempty"`
	HealthStatus string `json:"healthStatus,omitempty"`
	// Address is an IP address, a user's UPN, a mailbox's address or an email's sender.
	Address string `json:"address,omitempty"`
	Country string `json:"country,omitempty"`
	// Recipient is an email's recipient.
	Recipient string `json:"recipient,omitempty"`
	URL       string `json:"url,omitempty"`
	// SHA256, SHA1 and Path are a file's, or a process's image file's.
	SHA256 string `json:"sha256,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	Path   string `json:"path,omitempty"`
	// CommandLine is a process's command line, cut to 256 characters.
	CommandLine string `json:"commandLine,omitempty"`
	// Verdict is the highest verdict of any alert; RemediationStatus the latest evidence's.
	Verdict           incident.Verdict           `json:"verdict,omitempty"`
	RemediationStatus incident.RemediationStatus `json:"remediationStatus,omitempty"`
	Roles             []incident.Role            `json:"roles,omitempty"`
	// Alerts is how many alerts name the entity.
	Alerts int `json:"alerts"`
}

// TechniqueCount is a MITRE ATT&CK technique and how many alerts report it.
type TechniqueCount struct {
	ID     string `json:"id"`
	Alerts int    `json:"alerts"`
}

// VerdictCount is how many distinct entities have a verdict.
type VerdictCount struct {
	Verdict incident.Verdict `json:"verdict"`
	Count   int              `json:"count"`
}

// StillActive is what is still active: the alerts not resolved, and the entities with a malicious or
// suspicious verdict whose latest evidence is not remediated, prevented or blocked.
type StillActive struct {
	Alerts   []ActiveAlert `json:"alerts"`
	Entities []Entity      `json:"entities"`
}

// ActiveAlert is an alert not resolved.
type ActiveAlert struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Severity incident.Severity `json:"severity"`
	Status   incident.Status   `json:"status,omitempty"`
}

// Omitted counts what the bounds left out.
type Omitted struct {
	Events         int `json:"events,omitempty"`
	Assets         int `json:"assets,omitempty"`
	Identities     int `json:"identities,omitempty"`
	Indicators     int `json:"indicators,omitempty"`
	ActiveAlerts   int `json:"activeAlerts,omitempty"`
	ActiveEntities int `json:"activeEntities,omitempty"`
}

// Summarize tells the story of inc. It is deterministic and pure: the same incident gives the same story,
// whatever the time or the order of maps. The story's narrative is the deterministic one, and its
// Markdown is rendered.
func Summarize(inc *incident.Incident) Story {
	s := Story{
		IncidentID: inc.ID,
		TenantID:   inc.TenantID,
		Title:      cut(inc.Title, maxText),
		Severity:   inc.Severity,
		Status:     inc.Status,
		AlertCount: len(inc.Alerts),
	}
	alerts := alertsInTimeOrder(inc.Alerts)

	// Timeline, activity bounds, still-active alerts, techniques.
	techniqueAlerts := map[string]int{}
	var activeAlerts []ActiveAlert
	for k, a := range alerts {
		at := alertTime(a)
		last := a.LastActivityAt
		if last.IsZero() {
			last = at
		}
		if !at.IsZero() && (s.FirstActivity.IsZero() || at.Before(s.FirstActivity)) {
			s.FirstActivity = at
		}
		if last.After(s.LastActivity) {
			s.LastActivity = last
		}
		if len(alerts) <= MaxTimeline || k < MaxTimeline/2 || k >= len(alerts)-MaxTimeline/2 {
			s.Timeline = append(s.Timeline, event(k+1, a))
		}
		if a.Status != incident.StatusResolved {
			activeAlerts = append(activeAlerts, ActiveAlert{
				ID: a.ID, Title: cut(a.Title, maxText), Severity: a.Severity, Status: a.Status,
			})
		}
		for _, t := range distinct(a.MitreTechniques) {
			techniqueAlerts[t]++
		}
	}
	s.Omitted.Events = len(alerts) - len(s.Timeline)
	s.StillActive.Alerts, s.Omitted.ActiveAlerts = bound(activeAlerts, MaxEntities)
	for t, n := range techniqueAlerts {
		s.Techniques = append(s.Techniques, TechniqueCount{ID: t, Alerts: n})
	}
	slices.SortFunc(s.Techniques, func(a, b TechniqueCount) int {
		return cmp.Or(cmp.Compare(b.Alerts, a.Alerts), strings.Compare(a.ID, b.ID))
	})

	// Entities.
	latest := latestEvidence(alerts)
	verdicts := map[incident.Verdict]int{}
	var assets, identities, indicators, active []Entity
	// Merge the entities over the alerts in time order, so that the story does not depend on the order the
	// source listed the alerts in.
	ordered := incident.Incident{Alerts: alerts}
	for _, e := range ordered.Entities() {
		entity := toEntity(e, latest[e.Key()])
		verdicts[entity.Verdict]++
		switch e.Kind {
		case incident.KindDevice:
			assets = append(assets, entity)
		case incident.KindUser, incident.KindMailbox:
			identities = append(identities, entity)
		default:
			indicators = append(indicators, entity)
		}
		if stillActive(entity) {
			active = append(active, entity)
		}
	}
	s.EntityCount = len(assets) + len(identities) + len(indicators)
	for _, list := range [][]Entity{assets, identities, indicators, active} {
		slices.SortFunc(list, byImportance)
	}
	s.Assets, s.Omitted.Assets = bound(assets, MaxEntities)
	s.Identities, s.Omitted.Identities = bound(identities, MaxEntities)
	s.Indicators, s.Omitted.Indicators = bound(indicators, MaxEntities)
	s.StillActive.Entities, s.Omitted.ActiveEntities = bound(active, MaxEntities)
	for v, n := range verdicts {
		s.Verdicts = append(s.Verdicts, VerdictCount{Verdict: v, Count: n})
	}
	slices.SortFunc(s.Verdicts, func(a, b VerdictCount) int {
		return cmp.Or(cmp.Compare(b.Verdict.Rank(), a.Verdict.Rank()), strings.Compare(string(a.Verdict), string(b.Verdict)))
	})

	s.Headline = headline(s)
	s.Narrative = deterministicNarrative(s)
	s.NarrativeSource = NarrativeDeterministic
	s.Markdown = s.RenderMarkdown()
	return s
}

// alertTime is when an alert's activity began: its first activity, else its creation.
func alertTime(a incident.Alert) time.Time {
	if !a.FirstActivityAt.IsZero() {
		return a.FirstActivityAt
	}
	return a.CreatedAt
}

// alertsInTimeOrder returns the alerts ordered by alertTime, then creation time, then id.
func alertsInTimeOrder(alerts []incident.Alert) []incident.Alert {
	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b incident.Alert) int {
		return cmp.Or(alertTime(a).Compare(alertTime(b)), a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return sorted
}

func event(number int, a incident.Alert) Event {
	e := Event{
		Number:     number,
		At:         alertTime(a),
		AlertID:    a.ID,
		AlertTitle: cut(a.Title, maxText),
		Severity:   a.Severity,
		Status:     a.Status,
		Category:   cut(a.Category, maxText),
		Source:     cut(cmp.Or(a.DetectionSource, a.ServiceSource), maxText),
		Techniques: distinct(a.MitreTechniques),
		What:       what(a),
	}
	seen := map[string]bool{}
	for _, en := range a.Entities {
		switch en.Kind {
		case incident.KindDevice, incident.KindUser, incident.KindMailbox:
		default:
			continue
		}
		// A user and their mailbox often share a name: list it once.
		name := cut(en.Name(), maxText)
		if folded := strings.ToLower(name); !seen[folded] && len(e.Entities) < maxEventEntities {
			seen[folded] = true
			e.Entities = append(e.Entities, name)
		}
	}
	return e
}

// what is the first sentence of the alert's description, else its title, as one line.
func what(a incident.Alert) string {
	text := oneLine(a.Description)
	if text == "" {
		text = oneLine(a.Title)
		if text != "" && !strings.ContainsAny(text[len(text)-1:], ".!?") {
			text += "."
		}
		return cut(text, maxText)
	}
	for k := 0; k+1 < len(text); k++ {
		if strings.IndexByte(".!?", text[k]) >= 0 && text[k+1] == ' ' {
			text = text[:k+1]
			break
		}
	}
	return cut(text, maxText)
}

// evidence is the latest occurrence of an entity: its remediation status and how many alerts name it.
type evidence struct {
	at          time.Time
	remediation incident.RemediationStatus
	alerts      int
}

// latestEvidence returns, by entity key, the remediation status of the entity's latest evidence (by the
// evidence's creation time, else its alert's; a later alert wins a tie) and the number of alerts naming
// it. The latest evidence says best whether the entity is still active: an entity remediated in one alert
// and seen again, not remediated, in a later one is active again.
func latestEvidence(alerts []incident.Alert) map[string]evidence {
	latest := map[string]evidence{}
	for _, a := range alerts {
		counted := map[string]bool{}
		for _, e := range a.Entities {
			key := e.Key()
			at := e.CreatedAt
			if at.IsZero() {
				at = a.CreatedAt
			}
			ev := latest[key]
			if !counted[key] {
				counted[key] = true
				ev.alerts++
			}
			if ev.at.IsZero() || !at.Before(ev.at) {
				ev.at, ev.remediation = at, e.RemediationStatus
			}
			latest[key] = ev
		}
	}
	return latest
}

// toEntity flattens a merged entity into the story's form.
func toEntity(e incident.Entity, ev evidence) Entity {
	out := Entity{
		Key:               cut(e.Key(), maxText),
		Kind:              e.Kind,
		Name:              cut(e.Name(), maxText),
		Verdict:           cmp.Or(e.Verdict, incident.VerdictUnknown),
		RemediationStatus: ev.remediation,
		Roles:             e.Roles,
		Alerts:            ev.alerts,
	}
	switch {
	case e.Device != nil:
		out.OS = cut(strings.TrimSpace(e.Device.OSPlatform+" "+e.Device.OSBuild), maxText)
		out.RiskScore = cut(e.Device.RiskScore, maxText)
		out.HealthStatus = cut(e.Device.HealthStatus, maxText)
	case e.User != nil:
		out.Address = cut(e.User.UserPrincipalName, maxText)
	case e.Mailbox != nil:
		out.Address = cut(e.Mailbox.PrimaryAddress, maxText)
	case e.AnalyzedMessage != nil:
		out.Address = cut(cmp.Or(e.AnalyzedMessage.P2Sender, e.AnalyzedMessage.P1Sender), maxText)
		out.Recipient = cut(e.AnalyzedMessage.RecipientEmailAddress, maxText)
	case e.IP != nil:
		out.Address = cut(e.IP.Address, maxText)
		out.Country = cut(e.IP.CountryCode, maxText)
	case e.URL != nil:
		out.URL = cut(e.URL.URL, maxText)
	case e.File != nil:
		out.SHA256, out.SHA1 = cut(e.File.SHA256, maxText), cut(e.File.SHA1, maxText)
		out.Path = cut(e.File.FilePath, maxText)
	case e.Process != nil:
		out.CommandLine = cut(oneLine(e.Process.CommandLine), maxCommandLine)
		if f := e.Process.ImageFile; f != nil {
			out.SHA256, out.SHA1 = cut(f.SHA256, maxText), cut(f.SHA1, maxText)
			out.Path = cut(f.FilePath, maxText)
		}
	}
	return out
}

// stillActive reports whether an entity with a malicious or suspicious verdict is not yet remediated,
// prevented or blocked.
func stillActive(e Entity) bool {
	if e.Verdict != incident.VerdictMalicious && e.Verdict != incident.VerdictSuspicious {
		return false
	}
	switch e.RemediationStatus {
	case incident.RemediationRemediated, incident.RemediationPrevented, incident.RemediationBlocked:
		return false
	}
	return true
}

// byImportance orders entities by verdict (malicious first), then name, then key.
func byImportance(a, b Entity) int {
	return cmp.Or(
		cmp.Compare(b.Verdict.Rank(), a.Verdict.Rank()),
		strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
		strings.Compare(a.Key, b.Key),
	)
}

// bound keeps the first max items and says how many it left out.
func bound[T any](list []T, max int) ([]T, int) {
	if len(list) <= max {
		return list, 0
	}
	return list[:max], len(list) - max
}

// distinct returns the values without repeats, in order.
func distinct(values []string) []string {
	var out []string
	for _, v := range values {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func headline(s Story) string {
	title := oneLine(s.Title)
	if title == "" {
		title = "Incident " + oneLine(s.IncidentID)
	}
	open := len(s.StillActive.Alerts) + s.Omitted.ActiveAlerts
	parts := []string{count(s.AlertCount, "alert", "alerts")}
	if s.AlertCount > 0 {
		if open == 0 {
			parts = append(parts, "all resolved")
		} else {
			parts = append(parts, itoa(open)+" still open")
		}
	}
	if s.Severity != "" {
		parts = append([]string{oneLine(string(s.Severity)) + " severity"}, parts...)
	}
	return title + " (" + strings.Join(parts, ", ") + ")"
}
