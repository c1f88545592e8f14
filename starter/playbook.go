package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/hunting"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/playbook"
)

const playbookUsage = `usage: starter playbook check [DIR]
       starter playbook preview [--playbooks DIR] [--json] INCIDENT.json...

For playbook authors, with no running stack:

  check     load the playbooks of DIR as the workers would (the built-in set without DIR) and list them,
            or every problem as FILE:LINE: FIELD: PROBLEM (FIX); exit 1 on a problem. Run it before
            copying files into the workers' --playbooks directory, or in the playbooks' CI.
  preview   the cards the playbooks propose for each incident file (Graph JSON, a {"value": [...]}
            list, or native JSON), and the rule-based triage suggestion, without starting a workflow.
            Cards no playbook template could render are listed as problems.

Flags:
`

// playbookReport is what check and preview print with --json.
type playbookReport struct {
	Version   string            `json:"version"`
	Playbooks []playbook.Info   `json:"playbooks"`
	Problems  []string          `json:"problems,omitempty"`
	Incidents []incidentPreview `json:"incidents,omitempty"`
}

type incidentPreview struct {
	TenantID string      `json:"tenantId"`
	ID       string      `json:"id"`
	Title    string      `json:"title"`
	Triage   card.Card   `json:"triage"`
	Cards    []card.Card `json:"cards"`
	Problems []string    `json:"problems,omitempty"`
}

// runPlaybook is the playbook command: check and preview.
func runPlaybook(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "preview") {
		fmt.Fprint(stderr, playbookUsage)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return fmt.Errorf("unknown playbook command %q: use check or preview", args[0])
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("starter playbook "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var dir string
	var asJSON bool
	var threshold float64
	if sub == "preview" {
		fs.StringVar(&dir, "playbooks", "", "directory of playbook files; empty uses the built-in set (env GUIDED_PLAYBOOKS)")
		fs.Float64Var(&threshold, "triage-threshold", 0.7, "below this confidence the triage says it is unsure, as the worker's --triage-threshold (env GUIDED_TRIAGE_THRESHOLD)")
	}
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, playbookUsage)
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if sub == "check" {
		if len(rest) > 1 {
			return fmt.Errorf("playbook check takes one directory, got %d arguments", len(rest))
		}
		if len(rest) == 1 {
			dir = rest[0]
		}
	} else if len(rest) == 0 {
		return errors.New("playbook preview: give an incident file (e.g. incident/testdata/graph_incident_multi.json)")
	}

	set, err := loadPlaybooks(dir)
	if err != nil {
		if asJSON {
			_ = json.NewEncoder(stdout).Encode(playbookReport{Problems: strings.Split(err.Error(), "\n")})
		}
		return fmt.Errorf("the playbooks do not load:\n%w", err)
	}
	report := playbookReport{Version: set.Version(), Playbooks: set.Playbooks()}
	failed := false
	for _, file := range rest {
		if sub != "preview" {
			break
		}
		incs, err := incident.ParseFile(file)
		if err != nil {
			return err
		}
		for i := range incs {
			inc := &incs[i]
			cards, err := set.Evaluate(inc)
			// The similar-emails query, as the card-generation activity fills it in.
			for k := range cards {
				if cards[k].Action == card.ActionInvestigateSimilarEmails && cards[k].Query == "" && cards[k].Entity != nil {
					if q, qerr := hunting.SimilarEmailsOfIncident(inc, cards[k].Entity.Key); qerr == nil {
						cards[k].Query = q
					}
				}
			}
			p := incidentPreview{TenantID: inc.TenantID, ID: inc.ID, Title: inc.Title, Triage: playbook.Triage(inc, threshold), Cards: cards}
			if err != nil {
				failed = true
				p.Problems = strings.Split(err.Error(), "\n")
			}
			report.Incidents = append(report.Incidents, p)
		}
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(report); err != nil {
			return err
		}
	} else if err := printPlaybookReport(stdout, report); err != nil {
		return err
	}
	if failed {
		return errors.New("some cards could not be rendered: see the problems above")
	}
	return nil
}

func loadPlaybooks(dir string) (*playbook.Set, error) {
	if dir == "" {
		return playbook.Default()
	}
	return playbook.LoadDir(dir)
}

func printPlaybookReport(out io.Writer, r playbookReport) error {
	fmt.Fprintf(out, "playbooks %s: OK\n", r.Version)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tVERSION\tRULES\tFILE\tTITLE")
	for _, p := range r.Playbooks {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", p.ID, p.Version, p.Rules, p.File, oneLine(p.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, inc := range r.Incidents {
		fmt.Fprintf(out, "\nincident %s/%s: %s\n", inc.TenantID, inc.ID, oneLine(inc.Title))
		fmt.Fprintf(out, "  triage by the playbooks' rules (a trained model may answer instead): %s (%.0f%%)\n",
			oneLine(inc.Triage.Title), 100*inc.Triage.Confidence)
		for _, c := range inc.Cards {
			entity := "-"
			if c.Entity != nil {
				entity = oneLine(c.Entity.Name)
			}
			fmt.Fprintf(out, "  [%s] %s\n      %s on %s, risk %s, needs %s; playbook %s rule %s\n",
				c.Category, oneLine(c.Title), c.Action, entity, c.Risk, c.Permission, c.PlaybookID, c.RuleID)
			for _, why := range c.Why {
				fmt.Fprintf(out, "      - %s\n", oneLine(why))
			}
			if c.Query != "" {
				fmt.Fprintf(out, "      query:\n        %s\n", strings.ReplaceAll(strings.TrimSpace(c.Query), "\n", "\n        "))
			}
		}
		if len(inc.Cards) == 0 {
			fmt.Fprintln(out, "  no cards")
		}
		for _, p := range inc.Problems {
			fmt.Fprintf(out, "  problem: %s\n", p)
		}
	}
	return nil
}
