// Package report writes an incident's closing report: the summary, the classification, every decision
// with who and when, and every action with its result, as Markdown for people and JSON for machines.
package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/summary"
)

// Input is what a report is made of.
type Input struct {
	Incident        incident.Incident
	Story           summary.Story
	Cards           []card.Card
	Classification  incident.Classification
	Determination   incident.Determination
	ClassifiedBy    string
	ClassifiedAt    time.Time
	ModelVersion    string
	PlaybookVersion string
	ClosedAt        time.Time
}

// Document is the JSON report.
type Document struct {
	TenantID        string                  `json:"tenantId"`
	IncidentID      string                  `json:"incidentId"`
	Title           string                  `json:"title"`
	Severity        incident.Severity       `json:"severity"`
	Classification  incident.Classification `json:"classification"`
	Determination   incident.Determination  `json:"determination"`
	ClassifiedBy    string                  `json:"classifiedBy"`
	ClassifiedAt    time.Time               `json:"classifiedAt"`
	ClosedAt        time.Time               `json:"closedAt"`
	ModelVersion    string                  `json:"modelVersion"`
	PlaybookVersion string                  `json:"playbookVersion"`
	Summary         string                  `json:"summary"`
	Cards           []card.Card             `json:"cards"`
}

// Build returns the report as Markdown and as JSON.
func Build(in Input) (string, []byte, error) {
	doc := Document{
		TenantID: in.Incident.TenantID, IncidentID: in.Incident.ID, Title: in.Incident.Title,
		Severity: in.Incident.Severity, Classification: in.Classification, Determination: in.Determination,
		ClassifiedBy: in.ClassifiedBy, ClassifiedAt: in.ClassifiedAt.UTC(), ClosedAt: in.ClosedAt.UTC(),
		ModelVersion: in.ModelVersion, PlaybookVersion: in.PlaybookVersion, Summary: in.Story.Markdown, Cards: in.Cards,
	}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", nil, fmt.Errorf("encode report: %w", err)
	}
	return markdown(in), js, nil
}

func markdown(in Input) string {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }
	fmt.Fprintf(&b, "# Incident report: %s\n\n", text(in.Incident.Title))
	fmt.Fprintf(&b, "- **Incident** %s (tenant %s), severity %s\n", text(in.Incident.ID), text(in.Incident.TenantID), in.Incident.Severity)
	fmt.Fprintf(&b, "- **Classification** %s, %s: by %s at %s\n", portal(string(in.Classification)), portal(string(in.Determination)), text(in.ClassifiedBy), ts(in.ClassifiedAt))
	fmt.Fprintf(&b, "- **Closed** %s\n", ts(in.ClosedAt))
	fmt.Fprintf(&b, "- **Playbooks** %s · **Triage model** %s\n\n", text(in.PlaybookVersion), text(in.ModelVersion))
	b.WriteString("## Summary\n\n")
	b.WriteString(in.Story.Markdown)
	b.WriteString("\n\n## Decisions and actions\n\n")
	b.WriteString("| card | action | entity | status | decisions | result |\n|---|---|---|---|---|---|\n")
	for _, c := range in.Cards {
		if c.Category == card.CategoryTriage {
			continue
		}
		entity := ""
		if c.Entity != nil {
			entity = text(c.Entity.Name)
		}
		var decisions []string
		for _, d := range c.Decisions {
			decisions = append(decisions, fmt.Sprintf("%s by %s at %s (%s)", d.Kind, text(d.Principal), ts(d.At), d.Via))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", text(c.Title), c.Action, entity, c.Status,
			strings.Join(decisions, "; "), result(c))
	}
	return b.String()
}

func result(c card.Card) string {
	var parts []string
	for _, r := range []*card.Result{c.Result, c.UndoResult} {
		if r == nil {
			continue
		}
		s := r.Connector
		if r.ExternalID != "" {
			s += " " + text(r.ExternalID)
		}
		if r.Message != "" {
			s += ": " + text(r.Message)
		}
		if r.Error != "" {
			s += " failed: " + text(r.Error)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; then ")
}

func portal(v string) string {
	if p, ok := incident.PortalNames[v]; ok {
		return p
	}
	return text(v)
}

// text makes attacker-controlled text inert in Markdown and in a table cell.
func text(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;",
		"#", `\#`, "|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
