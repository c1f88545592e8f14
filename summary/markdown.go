package summary

import (
	"strings"
	"time"
)

// Bounds of the rendered Markdown: it is read in a minute.
const (
	// mdList is the most items a Markdown list shows before "and N more".
	mdList = 10
	// mdTimelineEnds is how many of the first and of the last events the Markdown timeline shows when
	// there are more than mdList.
	mdTimelineEnds = 5
)

// RenderMarkdown renders the story as CommonMark for the Temporal UI and the web console: the headline,
// the narrative, "What happened" (the numbered timeline), "Who and what" (devices, identities,
// indicators), "Techniques" and "Still active". Outside text is escaped (see escapeMarkdown) or put in
// code spans (identifiers, hashes, addresses, URLs, command lines), so that nothing from the incident
// becomes markup, a link or HTML. Lists show at most 10 items and say how many more there are.
func (s Story) RenderMarkdown() string {
	var md mdWriter
	md.line("# " + escapeMarkdown(s.Headline))
	md.blank()
	glance := []string{"Incident " + orDash(codeSpan(s.IncidentID))}
	if s.Status != "" {
		glance = append(glance, "status "+escapeMarkdown(string(s.Status)))
	}
	switch {
	case s.FirstActivity.IsZero():
	case s.FirstActivity.Equal(s.LastActivity) || s.LastActivity.IsZero():
		glance = append(glance, "activity at "+escapeMarkdown(when(s.FirstActivity)))
	default:
		glance = append(glance, "activity from "+escapeMarkdown(when(s.FirstActivity))+" to "+escapeMarkdown(when(s.LastActivity)))
	}
	glance = append(glance, escapeMarkdown(count(s.EntityCount, "entity", "entities")))
	md.line(strings.Join(glance, " · "))
	if s.Narrative != "" {
		md.blank()
		md.line(escapeMarkdown(s.Narrative))
	}

	md.section("What happened")
	if len(s.Timeline) == 0 {
		md.line("No alerts.")
	}
	shown := s.Timeline
	var tail []Event
	if len(s.Timeline) > mdList {
		shown, tail = s.Timeline[:mdTimelineEnds], s.Timeline[len(s.Timeline)-mdTimelineEnds:]
	}
	for _, e := range shown {
		md.line(eventLine(e))
	}
	if tail != nil {
		md.blank()
		md.line("… " + count(tail[0].Number-shown[len(shown)-1].Number-1, "more alert", "more alerts") + " …")
		md.blank()
		for _, e := range tail {
			md.line(eventLine(e))
		}
	}

	md.section("Who and what")
	if len(s.Verdicts) > 0 {
		var parts []string
		for _, v := range s.Verdicts {
			parts = append(parts, escapeMarkdown(string(v.Verdict))+" "+itoa(v.Count))
		}
		md.line("Verdicts: " + strings.Join(parts, " · "))
		md.blank()
	}
	md.entities("Devices", s.Assets, s.Omitted.Assets)
	md.entities("Identities", s.Identities, s.Omitted.Identities)
	md.entities("Indicators", s.Indicators, s.Omitted.Indicators)
	if s.EntityCount == 0 {
		md.line("No entities.")
	}

	md.section("Techniques")
	if len(s.Techniques) == 0 {
		md.line("None reported.")
	} else {
		var parts []string
		for k, t := range s.Techniques {
			if k == mdList {
				parts = append(parts, "and "+itoa(len(s.Techniques)-mdList)+" more")
				break
			}
			parts = append(parts, codeSpan(t.ID)+" ("+count(t.Alerts, "alert", "alerts")+")")
		}
		md.line(strings.Join(parts, ", "))
	}

	md.section("Still active")
	alerts, entities := s.StillActive.Alerts, s.StillActive.Entities
	openAlerts := len(alerts) + s.Omitted.ActiveAlerts
	openEntities := len(entities) + s.Omitted.ActiveEntities
	if openAlerts == 0 && openEntities == 0 {
		md.line("Nothing: every alert is resolved and every malicious or suspicious entity is remediated, prevented or blocked.")
		return md.String()
	}
	if openAlerts > 0 {
		md.line("**" + count(openAlerts, "alert", "alerts") + " not resolved**")
		md.blank()
		for k, a := range alerts {
			if k == mdList {
				break
			}
			md.line("- " + escapeMarkdown(a.Title) + " (" + escapeMarkdown(string(a.Severity)) + ", " +
				escapeMarkdown(orText(string(a.Status), "no status")) + ") " + codeSpan(a.ID))
		}
		md.more(openAlerts, min(len(alerts), mdList))
	}
	if openEntities > 0 {
		if openAlerts > 0 {
			md.blank()
		}
		md.line("**" + count(openEntities, "malicious or suspicious entity", "malicious or suspicious entities") + " not remediated**")
		md.blank()
		for k, e := range entities {
			if k == mdList {
				break
			}
			md.line("- " + entityLine(e))
		}
		md.more(openEntities, min(len(entities), mdList))
	}
	return md.String()
}

// eventLine renders one timeline event as an ordered-list item numbered by its place in the timeline.
func eventLine(e Event) string {
	var facts []string
	for _, f := range []string{string(e.Severity), e.Category} {
		if f != "" {
			facts = append(facts, escapeMarkdown(f))
		}
	}
	for _, t := range e.Techniques {
		facts = append(facts, codeSpan(t))
	}
	facts = append(facts, escapeMarkdown(orText(string(e.Status), "no status")))
	line := itoa(e.Number) + ". **" + escapeMarkdown(when(e.At)) + "** " + escapeMarkdown(e.AlertTitle) +
		" (" + strings.Join(facts, ", ") + "): " + escapeMarkdown(e.What)
	if len(e.Entities) > 0 {
		var names []string
		for _, n := range e.Entities {
			names = append(names, codeSpan(n))
		}
		line += " Involved: " + strings.Join(names, ", ") + "."
	}
	return line
}

// entityLine renders one entity: kind, name, its telling details, verdict, remediation and roles.
func entityLine(e Entity) string {
	parts := []string{escapeMarkdown(string(e.Kind)) + " " + orDash(codeSpan(e.Name))}
	add := func(label, value string, code bool) {
		if value == "" || value == e.Name {
			return
		}
		if code {
			parts = append(parts, label+codeSpan(value))
		} else {
			parts = append(parts, label+escapeMarkdown(value))
		}
	}
	add("", e.OS, false)
	add("risk ", e.RiskScore, false)
	add("", e.Address, true)
	add("", e.Country, false)
	add("to ", e.Recipient, true)
	add("", e.URL, true)
	add("path ", e.Path, true)
	add("SHA-256 ", e.SHA256, true)
	if e.SHA256 == "" {
		add("SHA-1 ", e.SHA1, true)
	}
	add("command line ", e.CommandLine, true)
	parts = append(parts, escapeMarkdown(string(e.Verdict)))
	if e.RemediationStatus != "" && e.RemediationStatus != "none" {
		parts = append(parts, escapeMarkdown(string(e.RemediationStatus)))
	}
	if len(e.Roles) > 0 {
		var roles []string
		for _, r := range e.Roles {
			roles = append(roles, escapeMarkdown(string(r)))
		}
		parts = append(parts, "roles: "+strings.Join(roles, ", "))
	}
	return strings.Join(parts, " · ")
}

// when renders a time for people, in UTC to the minute.
func when(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func orText(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func orDash(s string) string { return orText(s, "—") }

// mdWriter builds Markdown line by line.
type mdWriter struct {
	b strings.Builder
}

func (w *mdWriter) line(s string) {
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

// blank ends a block with an empty line, once.
func (w *mdWriter) blank() {
	if !strings.HasSuffix(w.b.String(), "\n\n") {
		w.b.WriteByte('\n')
	}
}

func (w *mdWriter) section(title string) {
	w.blank()
	w.line("## " + title)
	w.blank()
}

// entities renders a titled list of entities, at most mdList of them.
func (w *mdWriter) entities(title string, list []Entity, omitted int) {
	if len(list) == 0 {
		return
	}
	w.line("**" + title + "**")
	w.blank()
	for k, e := range list {
		if k == mdList {
			break
		}
		w.line("- " + entityLine(e))
	}
	w.more(len(list)+omitted, min(len(list), mdList))
	w.blank()
}

// more says how many of total items a list did not show.
func (w *mdWriter) more(total, shown int) {
	if total > shown {
		w.line("- and " + itoa(total-shown) + " more")
	}
}

func (w *mdWriter) String() string { return strings.TrimRight(w.b.String(), "\n") + "\n" }
