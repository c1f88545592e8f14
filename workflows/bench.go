package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
)

// The bare comparison workflow of the load benchmark (`starter bench --bare`): as many sequential
// activities as the incident workflow runs before its cards are ready (PersistIncident, LoadAccess,
// Summarize, GenerateCards), with the same activity options, each doing nothing. On the same server and
// worker, the time it takes is Temporal's own share of the time to cards.

// BareActivities is how many activities the incident workflow runs before its cards are ready.
const BareActivities = 4

// BareInput starts a BareWorkflow.
type BareInput struct {
	// Activities is how many Noop activities run in sequence; 0 means BareActivities.
	Activities int `json:"activities"`
}

// BareStatus answers the bare workflow's QueryStatus: Ready once every activity has run, as the incident
// workflow's StatusOutput.Ready says its cards are.
type BareStatus struct {
	Ready bool `json:"ready"`
	Done  int  `json:"done"`
}

// BareWorkflowID is the workflow ID of one bare run of a benchmark.
func BareWorkflowID(runID string, n int) string {
	return fmt.Sprintf("bench-bare/%s/%06d", idPart(runID), n)
}

// BareWorkflow runs in.Activities Noop activities one after the other, then completes.
func BareWorkflow(ctx workflow.Context, in BareInput) error {
	if in.Activities <= 0 {
		in.Activities = BareActivities
	}
	var st BareStatus
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func(StatusInput) (BareStatus, error) { return st, nil }); err != nil {
		return fmt.Errorf("register %s query: %w", QueryStatus, err)
	}
	actx := workflow.WithActivityOptions(ctx, durableOptions(time.Minute))
	for i := range in.Activities {
		var out activities.NoopOutput
		if err := workflow.ExecuteActivity(actx, a.Noop, activities.NoopInput{Step: i + 1}).Get(ctx, &out); err != nil {
			return err
		}
		st.Done = out.Step
	}
	st.Ready = true
	return nil
}
