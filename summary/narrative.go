package summary

import (
	"slices"
	"strings"

	"github.com/guided-response/guided/incident"
)

// maxNarrativeName is the longest title or name the deterministic narrative quotes, in characters.
const maxNarrativeName = 100

// deterministicNarrative tells the story in a few plain sentences built from the story alone: when and
// how many alerts, the first and the latest, who and what is involved, the techniques, and what is still
// active. Quoted outside text is made one line (oneLine) and cut; the result is plain text, to be escaped
// where it is shown.
func deterministicNarrative(s Story) string {
	name := func(text string) string { return `"` + cut(oneLine(text), maxNarrativeName) + `"` }
	id := cut(oneLine(s.IncidentID), maxNarrativeName)
	if s.AlertCount == 0 {
		return "Incident " + id + " has no alerts yet."
	}
	var sentences []string

	opening := "Incident " + id
	if s.Severity != "" {
		opening += " (" + oneLine(string(s.Severity)) + " severity)"
	}
	opening += " has " + count(s.AlertCount, "alert", "alerts")
	switch {
	case s.FirstActivity.IsZero():
	case s.FirstActivity.Equal(s.LastActivity) || s.LastActivity.IsZero():
		opening += " with activity at " + when(s.FirstActivity)
	default:
		opening += " with activity from " + when(s.FirstActivity) + " to " + when(s.LastActivity)
	}
	sentences = append(sentences, opening+".")

	if n := len(s.Timeline); n > 0 {
		first, last := s.Timeline[0], s.Timeline[n-1]
		if n == 1 {
			sentences = append(sentences, "The alert is "+name(first.AlertTitle)+category(first)+".")
		} else {
			sentences = append(sentences, "It began with "+name(first.AlertTitle)+category(first)+
				" and the latest alert is "+name(last.AlertTitle)+category(last)+".")
		}
	}

	var involved []string
	if n := len(s.Assets) + s.Omitted.Assets; n > 0 {
		involved = append(involved, count(n, "device", "devices")+" ("+names(s.Assets, n)+")")
	}
	if n := len(s.Identities) + s.Omitted.Identities; n > 0 {
		involved = append(involved, count(n, "user or mailbox", "users and mailboxes")+" ("+names(s.Identities, n)+")")
	}
	if malicious := verdictCount(s, incident.VerdictMalicious); malicious > 0 {
		involved = append(involved, count(malicious, "entity judged malicious", "entities judged malicious"))
	}
	if len(involved) > 0 {
		sentences = append(sentences, "It involves "+joinAnd(involved)+".")
	}

	if n := len(s.Techniques); n > 0 {
		var ids []string
		for k, t := range s.Techniques {
			if k == 5 {
				ids = append(ids, "and "+itoa(n-5)+" more")
				break
			}
			ids = append(ids, cut(oneLine(t.ID), maxNarrativeName))
		}
		sentences = append(sentences, "Reported MITRE ATT&CK techniques: "+strings.Join(ids, ", ")+".")
	}

	openAlerts := len(s.StillActive.Alerts) + s.Omitted.ActiveAlerts
	openEntities := len(s.StillActive.Entities) + s.Omitted.ActiveEntities
	if openAlerts == 0 && openEntities == 0 {
		sentences = append(sentences, "Nothing is still active: every alert is resolved and every malicious or suspicious entity is remediated.")
	} else {
		sentences = append(sentences, "Still active: "+count(openAlerts, "unresolved alert", "unresolved alerts")+" and "+
			count(openEntities, "malicious or suspicious entity", "malicious or suspicious entities")+" not remediated.")
	}
	return strings.Join(sentences, " ")
}

func category(e Event) string {
	if e.Category == "" {
		return ""
	}
	return " (" + cut(oneLine(e.Category), maxNarrativeName) + ")"
}

// names lists up to three distinct entity names (a user and their mailbox often share one) of total, with
// how many more entities there are.
func names(list []Entity, total int) string {
	var out []string
	named := 0
	for _, e := range list {
		if len(out) == 3 {
			break
		}
		named++
		name := cut(oneLine(e.Name), maxNarrativeName)
		if !slices.ContainsFunc(out, func(n string) bool { return strings.EqualFold(n, name) }) {
			out = append(out, name)
		}
	}
	if total > named {
		out = append(out, itoa(total-named)+" more")
	}
	return strings.Join(out, ", ")
}

func verdictCount(s Story, v incident.Verdict) int {
	for _, c := range s.Verdicts {
		if c.Verdict == v {
			return c.Count
		}
	}
	return 0
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
