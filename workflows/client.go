package workflows

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/incident"
)

// ErrIncidentClosed says the incident's workflow already completed; start it again with Reopen.
var ErrIncidentClosed = errors.New("the incident's guided response already closed")

// TriggerOptions say where and how to start an incident's workflow.
type TriggerOptions struct {
	TaskQueue string
	// Reopen starts a new run when the incident's workflow already completed.
	Reopen bool
}

// TriggerResult names the workflow that took the incident.
type TriggerResult struct {
	WorkflowID string
	RunID      string
}

// TriggerIncident starts the incident's workflow, or, when it runs already, hands it the incident as a
// re-ingest: the one atomic signal-with-start, so concurrent triggers of one incident start one workflow.
func TriggerIncident(ctx context.Context, c client.Client, opts TriggerOptions, inc *incident.Incident) (TriggerResult, error) {
	if err := inc.Validate(); err != nil {
		return TriggerResult{}, err
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = DefaultTaskQueue
	}
	id := IncidentWorkflowID(inc.TenantID, inc.ID)
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	if opts.Reopen {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	run, err := c.SignalWithStartWorkflow(ctx, id, SignalIncidentUpdated, IncidentUpdatedSignal{Incident: *inc},
		client.StartWorkflowOptions{
			ID:                    id,
			TaskQueue:             opts.TaskQueue,
			WorkflowIDReusePolicy: reuse,
			StaticSummary:         StaticSummary(inc),
			StaticDetails:         StaticDetails(inc),
			TypedSearchAttributes: initialSearchAttributes(inc),
		},
		IncidentWorkflow, IncidentInput{Incident: *inc})
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return TriggerResult{WorkflowID: id}, fmt.Errorf("%w: workflow %s (use --reopen to start a new guided response)", ErrIncidentClosed, id)
		}
		return TriggerResult{}, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return TriggerResult{WorkflowID: id, RunID: run.GetRunID()}, nil
}

func initialSearchAttributes(inc *incident.Incident) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SearchAttributeTenant.ValueSet(inc.TenantID),
		SearchAttributeID.ValueSet(inc.ID),
		SearchAttributeSeverity.ValueSet(string(inc.Severity)),
		SearchAttributeStatus.ValueSet(string(inc.Status)),
	)
}

// StaticSummary is the one line the Temporal UI shows for an incident's workflow.
func StaticSummary(inc *incident.Incident) string {
	title := strings.Join(strings.Fields(inc.Title), " ")
	if r := []rune(title); len(r) > 120 {
		title = string(r[:119]) + "…"
	}
	return fmt.Sprintf("[%s] %s (%s/%s, %d alerts)", inc.Severity, title, inc.TenantID, inc.ID, len(inc.Alerts))
}

// StaticDetails is the Markdown the Temporal UI shows as the workflow's details.
func StaticDetails(inc *incident.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Incident** %s · **Tenant** %s · **Severity** %s · **Created** %s\n\n",
		markdownText(inc.ID), markdownText(inc.TenantID), inc.Severity, inc.CreatedAt.UTC().Format("2006-01-02 15:04 MST"))
	if inc.WebURL != "" {
		if u, err := url.Parse(inc.WebURL); err == nil && u.Scheme == "https" {
			fmt.Fprintf(&b, "[Open in Microsoft Defender](%s)\n\n", u.String())
		}
	}
	for _, t := range inc.Techniques() {
		fmt.Fprintf(&b, "`%s` ", t)
	}
	return strings.TrimSpace(b.String())
}

// UIWorkflowURL is the Temporal UI page of a workflow.
func UIWorkflowURL(uiBase, namespace, workflowID string) string {
	return strings.TrimRight(uiBase, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
}
