// Command starter talks to a running stack on behalf of playbook authors and operators.
//
//	starter incident FILE...   validate incidents (Graph or native JSON) and start one workflow each
//	starter status INCIDENT    the status of an incident's workflow (INCIDENT: tenant/id, id, or workflow ID)
//
// With no configuration it reaches a `worker --dev` on this machine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/envflag"
	"github.com/guided-response/guided/internal/interrupt"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/workflows"
)

const usage = `usage: starter COMMAND [flags] ARGS

Commands:
  incident FILE...   validate each incident file (Microsoft Graph security API JSON, a {"value": [...]}
                     list, or native JSON) and start one workflow per incident; a second trigger of the
                     same incident updates its running workflow
  status INCIDENT    show an incident's workflow status; INCIDENT is tenant/id, an incident id, or a
                     workflow ID
  cards INCIDENT     the guided response cards as --principal sees them (available, or why not),
                     with the hunting and similar-emails queries
  classify INCIDENT  classify: --classification truePositive|informationalExpectedActivity|falsePositive
                     --determination (e.g. phishing, malware, securityTesting, notMalicious)
  approve INCIDENT CARD...   approve cards (high-risk actions need a second principal: four-eyes)
  reject INCIDENT CARD...    reject cards
  undo INCIDENT CARD         undo an applied reversible action now
  extend INCIDENT CARD       keep a time-boxed containment longer: --by 4h
  feedback INCIDENT CARD     --helpful or --not-helpful, --reason, --comment (also after close)
  report INCIDENT            the closing report (Markdown; JSON with --json)
  token create|list|revoke   API tokens: --tenant, --principal, --name, --ttl; the token is shown once
  bench                      drive generated incidents at --rate/s into a running stack: time to cards
                             p50/p95/p99, incidents and decisions per second; --bare compares a bare workflow
  train                      train a new triage model now on the historical incidents (the workers retrain
                             on a Temporal Schedule too: worker --retrain-every)
  import-guide FILE.csv...   import the GUIDE dataset (or files of its format) as historical incidents the
                             models learn from; idempotent, malformed rows listed in FILE.malformed.txt
  gen-guide                  write a synthetic GUIDE-format CSV: --rows N --out FILE (--orgs, --seed, --test, --malformed-every, --label-noise)
  eval --data FILE.csv       offline triage evaluation on GUIDE-format data: train, test, report (no stack needed)
  playbook check [DIR]       validate playbook files as the workers would load them (no stack needed)
  playbook preview FILE...   the cards and triage the playbooks give an incident file (no stack needed)

Decisions print the workflow's answer: accepted with the new card state, or rejected and why (exit 1).

Run "starter COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := interrupt.Context()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errRejected) {
			fmt.Fprintln(os.Stderr, "starter:", err)
		}
		os.Exit(1)
	}
}

// options are the flags every command shares.
type options struct {
	temporal  temporalclient.Config
	taskQueue string
	uiURL     string
	json      bool
	timeout   time.Duration
	logLevel  string
}

func (o *options) register(fs *flag.FlagSet) {
	o.temporal.RegisterFlags(fs)
	fs.StringVar(&o.taskQueue, "task-queue", temporalclient.Env("GUIDED_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue of the workers (env GUIDED_TASK_QUEUE)")
	fs.StringVar(&o.uiURL, "ui-url", temporalclient.Env("TEMPORAL_UI_URL", "http://127.0.0.1:8233"), "Temporal Web UI base URL for links (env TEMPORAL_UI_URL)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for Temporal")
	fs.StringVar(&o.logLevel, "log-level", temporalclient.Env("LOG_LEVEL", "warn"), "log level of the client's own logs")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	command, args := args[0], args[1:]
	if command == "token" {
		return runToken(ctx, args, stdout, stderr)
	}
	if command == "bench" {
		return runBench(ctx, args, stdout, stderr)
	}
	if command == "train" {
		return runTrain(ctx, args, stdout, stderr)
	}
	if command == "import-guide" {
		return runImportGuide(ctx, args, stdout, stderr)
	}
	if command == "gen-guide" {
		return runGenGuide(ctx, args, stdout, stderr)
	}
	if command == "eval" {
		return runEval(ctx, args, stdout, stderr)
	}
	if command == "playbook" {
		return runPlaybook(ctx, args, stdout, stderr)
	}
	var opts options
	fs := flag.NewFlagSet("starter "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.register(fs)
	var reopen bool
	var g guidedFlags
	switch command {
	case "incident":
		fs.BoolVar(&reopen, "reopen", false, "start a new guided response for an incident whose workflow already closed")
	case "status":
	case "cards", "classify", "approve", "reject", "undo", "extend", "feedback", "report":
		g.register(command, fs)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", command)
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "starter", Level: hclog.LevelFromString(opts.logLevel), Output: stderr})

	switch command {
	case "incident":
		if len(positional) == 0 {
			return errors.New("incident: name at least one incident file")
		}
		// Every file is validated before anything starts: bad input is refused as a whole.
		incidents, err := parseFiles(positional, stderr)
		if err != nil {
			return err
		}
		c, err := dial(ctx, &opts, logger)
		if err != nil {
			return err
		}
		defer c.Close()
		return startIncidents(ctx, c, &opts, reopen, incidents, stdout)
	case "status":
		if len(positional) != 1 {
			return errors.New("status: name one incident (tenant/id, id or workflow ID)")
		}
		c, err := dial(ctx, &opts, logger)
		if err != nil {
			return err
		}
		defer c.Close()
		return status(ctx, c, &opts, positional[0], stdout)
	}
	c, err := dial(ctx, &opts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	gctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	return runGuided(gctx, c, &opts, &g, command, positional, stdout)
}

var getenv = os.Getenv

// parseInterspersed parses flags wherever they stand among the arguments: `approve INCIDENT CARD
// --principal alice` reads like `approve --principal alice INCIDENT CARD`. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, envflag.Apply(fs)
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), envflag.Apply(fs)
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func dial(ctx context.Context, opts *options, logger hclog.Logger) (client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	return temporalclient.Dial(dctx, opts.temporal, logger, 0)
}

func parseFiles(paths []string, notes io.Writer) ([]incident.Incident, error) {
	var all []incident.Incident
	var errs []error
	for _, p := range paths {
		data, err := incident.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		incs, err := incident.Parse(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if next := incident.NextLink(data); next != "" {
			fmt.Fprintf(notes, "note: %s is one page of a longer Graph list; the next page is at its @odata.nextLink %q: fetch it and trigger it too\n", p, next)
		}
		all = append(all, incs...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("no incident was started; fix these and run again:\n%w", errors.Join(errs...))
	}
	return all, nil
}

// started is one line of the incident command's output.
type started struct {
	TenantID   string `json:"tenantId"`
	IncidentID string `json:"incidentId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
	URL        string `json:"url"`
	Error      string `json:"error,omitempty"`
}

func startIncidents(ctx context.Context, c client.Client, opts *options, reopen bool, incidents []incident.Incident, out io.Writer) error {
	failed := 0
	for i := range incidents {
		inc := &incidents[i]
		tctx, cancel := context.WithTimeout(ctx, opts.timeout)
		res, err := workflows.TriggerIncident(tctx, c, workflows.TriggerOptions{TaskQueue: opts.taskQueue, Reopen: reopen}, inc)
		cancel()
		line := started{TenantID: inc.TenantID, IncidentID: inc.ID, WorkflowID: res.WorkflowID, RunID: res.RunID}
		if res.WorkflowID != "" {
			line.URL = workflows.UIWorkflowURL(opts.uiURL, opts.temporal.Namespace, res.WorkflowID)
		}
		if err != nil {
			failed++
			line.Error = err.Error()
		}
		if opts.json {
			if err := json.NewEncoder(out).Encode(line); err != nil {
				return err
			}
			continue
		}
		if line.Error != "" {
			fmt.Fprintf(out, "failed   %s/%s: %s\n", line.TenantID, line.IncidentID, line.Error)
			continue
		}
		fmt.Fprintf(out, "started  %s/%s  workflow %s  run %s\n         %s\n", line.TenantID, line.IncidentID, line.WorkflowID, line.RunID, line.URL)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d incidents were not started", failed, len(incidents))
	}
	return nil
}

var plainID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// resolveWorkflowID accepts a workflow ID, tenant/id, or a bare incident id looked up by search attribute.
func resolveWorkflowID(ctx context.Context, c client.Client, ref string) (string, error) {
	if strings.HasPrefix(ref, "incident/") {
		return ref, nil
	}
	if tenant, id, ok := strings.Cut(ref, "/"); ok {
		return workflows.IncidentWorkflowID(tenant, id), nil
	}
	if !plainID.MatchString(ref) {
		return "", fmt.Errorf("%q is not an incident: give tenant/id, an incident id, or a workflow ID", ref)
	}
	query := fmt.Sprintf("%s = '%s'", workflows.SearchAttributeID.GetName(), ref)
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 10})
	if err != nil {
		return "", fmt.Errorf("look up incident %s: %w", ref, err)
	}
	ids := map[string]bool{}
	for _, e := range resp.Executions {
		ids[e.Execution.WorkflowId] = true
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no workflow for incident %s: start it with `starter incident FILE`", ref)
	case 1:
		for id := range ids {
			return id, nil
		}
	}
	return "", fmt.Errorf("incident id %s exists in several tenants: give tenant/id", ref)
}

func status(ctx context.Context, c client.Client, opts *options, ref string, out io.Writer) error {
	qctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	id, err := resolveWorkflowID(qctx, c, ref)
	if err != nil {
		return err
	}
	resp, err := c.QueryWorkflow(qctx, id, "", workflows.QueryStatus, workflows.StatusInput{})
	if err != nil {
		return fmt.Errorf("query %s: %w", id, err)
	}
	var st workflows.StatusOutput
	if err := resp.Get(&st); err != nil {
		return fmt.Errorf("decode status of %s: %w", id, err)
	}
	if opts.json {
		return json.NewEncoder(out).Encode(st)
	}
	fmt.Fprintf(out, "%s/%s  %s\n  phase %s · severity %s · status %s · %d alerts · %d entities · ingested %d times\n",
		st.TenantID, st.IncidentID, st.Title, st.Phase, st.Severity, st.Status, st.Alerts, st.Entities, st.IngestCount)
	if st.Classification != nil {
		fmt.Fprintf(out, "  classified %s / %s by %s\n", st.Classification.Classification, st.Classification.Determination, st.Classification.Principal)
	} else if st.Escalated {
		fmt.Fprintln(out, "  not classified: escalated past its SLA")
	}
	if st.Ready {
		var parts []string
		for _, k := range []card.Status{card.StatusProposed, card.StatusApproved, card.StatusApplying, card.StatusApplied,
			card.StatusFailed, card.StatusRejected, card.StatusExpired, card.StatusUndone} {
			if n := st.CardsByStatus[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, k))
			}
		}
		fmt.Fprintf(out, "  cards: %s · %d awaiting approval\n", strings.Join(parts, ", "), st.PendingApprovals)
	}
	for _, r := range st.Rejected {
		fmt.Fprintf(out, "  refused %s from %s at %s: %s\n", r.Message, r.Principal, r.At.UTC().Format("15:04:05"), r.Reason)
	}
	fmt.Fprintf(out, "  %s\n", workflows.UIWorkflowURL(opts.uiURL, opts.temporal.Namespace, id))
	return nil
}
