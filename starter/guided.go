package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

// guidedFlags are the flags of the decision commands.
type guidedFlags struct {
	principal      string
	comment        string
	classification string
	determination  string
	helpful        bool
	notHelpful     bool
	reason         string
	feedbackID     string
	by             string
}

func (g *guidedFlags) register(command string, fs *flag.FlagSet) {
	fs.StringVar(&g.principal, "principal", envOr("GUIDED_PRINCIPAL", ""), "who decides or asks, e.g. alice@contoso.com (env GUIDED_PRINCIPAL)")
	switch command {
	case "classify":
		fs.StringVar(&g.classification, "classification", "", "truePositive, informationalExpectedActivity or falsePositive")
		fs.StringVar(&g.determination, "determination", "", "a determination of the classification, e.g. phishing, malware, securityTesting, notMalicious")
		fs.StringVar(&g.comment, "comment", "", "comment for the audit trail")
	case "approve", "reject", "undo", "extend":
		fs.StringVar(&g.comment, "comment", "", "comment for the audit trail")
		if command == "extend" {
			fs.StringVar(&g.by, "by", "", "how much longer the time-boxed action stays in force, e.g. 4h")
		}
	case "feedback":
		fs.BoolVar(&g.helpful, "helpful", false, "the card was helpful")
		fs.BoolVar(&g.notHelpful, "not-helpful", false, "the card was not helpful")
		fs.StringVar(&g.reason, "reason", "", "short reason, e.g. wrong-entity, already-done, noisy")
		fs.StringVar(&g.comment, "comment", "", "free text")
		fs.StringVar(&g.feedbackID, "id", "", "feedback ID, to make a retried command idempotent (made up when empty)")
	}
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

// runGuided runs the decision and reading commands; args are the positional arguments.
func runGuided(ctx context.Context, c client.Client, opts *options, g *guidedFlags, command string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: name the incident (tenant/id, id or workflow ID)", command)
	}
	id, err := resolveWorkflowID(ctx, c, args[0])
	if err != nil {
		return err
	}
	cardIDs := args[1:]
	needCards := map[string]bool{"approve": true, "reject": true, "feedback": true, "undo": true, "extend": true}
	if needCards[command] && len(cardIDs) == 0 {
		return fmt.Errorf("%s: name at least one card ID after the incident (see `starter cards`)", command)
	}
	if (command == "feedback" || command == "undo" || command == "extend") && len(cardIDs) != 1 {
		return fmt.Errorf("%s: name exactly one card", command)
	}
	if command != "report" && g.principal == "" {
		return fmt.Errorf("%s: --principal is required (or GUIDED_PRINCIPAL): decisions and views are per principal", command)
	}

	switch command {
	case "cards":
		return printCards(ctx, c, id, g.principal, opts.json, out)
	case "report":
		return printReport(ctx, c, id, opts.json, out)
	case "classify":
		var res workflows.ClassifyOutput
		err := update(ctx, c, id, workflows.MessageClassify, workflows.ClassifyInput{
			Principal: g.principal, Classification: incident.Classification(g.classification),
			Determination: incident.Determination(g.determination), Comment: g.comment,
		}, &res)
		return printUpdate(out, opts.json, err, res, func() string {
			return fmt.Sprintf("accepted: classified %s / %s by %s", res.Classification.Classification, res.Classification.Determination, res.Classification.Principal)
		})
	case "approve", "reject":
		var res workflows.DecideOutput
		err := update(ctx, c, id, workflows.MessageDecide, workflows.DecideInput{
			Principal: g.principal, CardIDs: cardIDs, Decision: card.DecisionKind(command), Comment: g.comment,
		}, &res)
		return printUpdate(out, opts.json, err, res, func() string { return decidedText(res) })
	case "undo":
		var res workflows.DecideOutput
		err := update(ctx, c, id, workflows.MessageUndo, workflows.UndoInput{Principal: g.principal, CardID: cardIDs[0], Comment: g.comment}, &res)
		return printUpdate(out, opts.json, err, res, func() string { return "accepted: undoing\n" + decidedText(res) })
	case "extend":
		var res workflows.DecideOutput
		err := update(ctx, c, id, workflows.MessageExtend, workflows.ExtendInput{Principal: g.principal, CardID: cardIDs[0], By: g.by, Comment: g.comment}, &res)
		return printUpdate(out, opts.json, err, res, func() string { return decidedText(res) })
	case "feedback":
		if g.helpful == g.notHelpful {
			return errors.New("feedback: give exactly one of --helpful and --not-helpful")
		}
		return giveFeedback(ctx, c, opts, id, g, cardIDs[0], out)
	}
	return fmt.Errorf("unknown command %q", command)
}

// update sends an Update and waits for its result: accepted (out filled) or rejected with the reason.
func update(ctx context.Context, c client.Client, workflowID, name string, in, out any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, out)
}

// rejection is the JSON form of a refused update.
type rejection struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason"`
}

func printUpdate(out io.Writer, asJSON bool, err error, res any, text func() string) error {
	if err != nil {
		reason := rejectionReason(err)
		if asJSON {
			_ = json.NewEncoder(out).Encode(rejection{Accepted: false, Reason: reason})
		} else {
			fmt.Fprintf(out, "rejected: %s\n", reason)
		}
		return errRejected
	}
	if asJSON {
		return json.NewEncoder(out).Encode(struct {
			Accepted bool `json:"accepted"`
			Result   any  `json:"result"`
		}{true, res})
	}
	fmt.Fprintln(out, text())
	return nil
}

// errRejected makes the command exit non-zero after it printed the rejection.
var errRejected = errors.New("the workflow refused the request")

// rejectionReason strips the SDK's wrapping from a validator's message.
func rejectionReason(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	msg := err.Error()
	if i := strings.Index(msg, " (type: "); i > 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

func decidedText(res workflows.DecideOutput) string {
	var b strings.Builder
	b.WriteString("accepted:\n")
	for _, c := range res.Cards {
		fmt.Fprintf(&b, "  %s  %s  %s", c.ID, c.Status, c.Title)
		if c.Status == card.StatusProposed && c.ApprovalsRequired > len(c.Approvers) {
			fmt.Fprintf(&b, "  (four-eyes: %d of %d approvals)", len(c.Approvers), c.ApprovalsRequired)
		}
		if !c.UndoAt.IsZero() {
			fmt.Fprintf(&b, "  (undone automatically at %s)", c.UndoAt.UTC().Format("2006-01-02 15:04 MST"))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func printCards(ctx context.Context, c client.Client, id, principal string, asJSON bool, out io.Writer) error {
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryCards, workflows.CardsInput{Principal: principal})
	if err != nil {
		return fmt.Errorf("query cards of %s: %w", id, err)
	}
	var cards workflows.CardsOutput
	if err := resp.Get(&cards); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(out).Encode(cards)
	}
	if !cards.Ready {
		fmt.Fprintln(out, "the guided response is being prepared; try again in a moment")
		return nil
	}
	fmt.Fprintf(out, "cards for %s (playbooks %s, triage model %s)\n\n", principal, cards.PlaybookVersion, cards.ModelVersion)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCATEGORY\tACTION\tENTITY\tRISK\tSTATUS\tAVAILABLE")
	for _, v := range cards.Cards {
		entity := "-"
		if v.Entity != nil {
			entity = v.Entity.Name
		}
		avail := "yes"
		switch {
		case !v.Available:
			avail = "no: " + v.UnavailableReason
		case v.CannotApply != "":
			avail = "reject only: " + v.CannotApply
		}
		title := v.Title
		if v.Triage != nil {
			title = fmt.Sprintf("suggest %s/%s %.0f%%", v.Triage.Classification, v.Triage.Determination, 100*v.Triage.Confidence)
			if v.Triage.Unsure {
				title = fmt.Sprintf("unsure (%.0f%%)", 100*v.Triage.Confidence)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Category, title, oneLine(entity), v.Risk, v.Status, avail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range cards.Cards {
		if v.Query != "" {
			fmt.Fprintf(out, "\n%s (%s):\n%s\n", v.Title, v.ID, v.Query)
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printReport(ctx context.Context, c client.Client, id string, asJSON bool, out io.Writer) error {
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryReport, workflows.ReportInput{})
	if err != nil {
		return fmt.Errorf("query report of %s: %w", id, err)
	}
	var rep workflows.ReportOutput
	if err := resp.Get(&rep); err != nil {
		return err
	}
	if !rep.Closed {
		return fmt.Errorf("incident %s is not closed yet: the report is written when it is classified and every card is settled", id)
	}
	if asJSON {
		_, err := out.Write(append(rep.JSON, '\n'))
		return err
	}
	_, err = fmt.Fprintln(out, rep.Markdown)
	return err
}

// giveFeedback sends feedback to the running workflow, or, once it has closed, starts a FeedbackWorkflow
// that stores it: feedback can be given after close too.
func giveFeedback(ctx context.Context, c client.Client, opts *options, id string, g *guidedFlags, cardID string, out io.Writer) error {
	fid := g.feedbackID
	if fid == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		fid = "fb-" + hex.EncodeToString(b)
	}
	in := workflows.FeedbackInput{FeedbackID: fid, Principal: g.principal, CardID: cardID, Helpful: g.helpful, Reason: g.reason, Comment: g.comment}
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return fmt.Errorf("describe %s: %w", id, err)
	}
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		var res workflows.FeedbackOutput
		err := update(ctx, c, id, workflows.MessageFeedback, in, &res)
		return printUpdate(out, opts.json, err, res, func() string { return "accepted: feedback " + res.FeedbackID + " stored" })
	}
	// Closed: find the card in the final state, then store the feedback through its own workflow.
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryCards, workflows.CardsInput{Principal: g.principal})
	if err != nil {
		return fmt.Errorf("query cards of %s: %w", id, err)
	}
	var cards workflows.CardsOutput
	if err := resp.Get(&cards); err != nil {
		return err
	}
	var found *workflows.CardView
	for i := range cards.Cards {
		if cards.Cards[i].ID == cardID {
			found = &cards.Cards[i]
		}
	}
	if found == nil {
		return printUpdate(out, opts.json, fmt.Errorf("no card %s in this incident", cardID), nil, nil)
	}
	st, err := statusOf(ctx, c, id)
	if err != nil {
		return err
	}
	rec := activities.FeedbackRecord{
		FeedbackID: fid, TenantID: st.TenantID, IncidentID: st.IncidentID, CardID: cardID, Action: found.Action,
		Category: found.Category, RuleID: found.RuleID, Principal: g.principal, Helpful: g.helpful, Reason: g.reason, Comment: g.comment,
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.FeedbackWorkflowID(st.TenantID, fid), TaskQueue: opts.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, workflows.FeedbackWorkflow, workflows.FeedbackWorkflowInput{Feedback: rec, Permission: rbac.PermSecurityDataRead})
	if err != nil {
		return fmt.Errorf("start feedback workflow: %w", err)
	}
	var res workflows.FeedbackOutput
	err = run.Get(ctx, &res)
	return printUpdate(out, opts.json, err, res, func() string { return "accepted: feedback " + res.FeedbackID + " stored (incident closed)" })
}

func statusOf(ctx context.Context, c client.Client, id string) (workflows.StatusOutput, error) {
	resp, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus, workflows.StatusInput{})
	if err != nil {
		return workflows.StatusOutput{}, fmt.Errorf("query %s: %w", id, err)
	}
	var st workflows.StatusOutput
	return st, resp.Get(&st)
}
