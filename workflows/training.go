package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/learn"
)

// TrainScheduleID is the Temporal Schedule that retrains the triage model (worker --retrain-every).
const TrainScheduleID = "guided-retrain-triage"

// TrainWorkflowID is the ID of an on-demand training run (`starter train`); scheduled runs get the
// schedule's IDs.
func TrainWorkflowID(at time.Time) string {
	return "train/triage/" + at.UTC().Format("20060102T150405Z")
}

// TrainInput configures a training run.
type TrainInput struct {
	Seed         int64 `json:"seed"`
	MinIncidents int   `json:"minIncidents,omitempty"`
}

// TrainOutput is what the run trained.
type TrainOutput struct {
	activities.TrainTriageOutput
}

// TrainWorkflow trains a new version of the triage model from every historical incident. The version is
// made here, from the workflow's time, so that the activity's retries store one model.
func TrainWorkflow(ctx workflow.Context, in TrainInput) (TrainOutput, error) {
	version := learn.ModelVersion + "-" + workflow.Now(ctx).UTC().Format("20060102T150405.000Z")
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	var out activities.TrainTriageOutput
	err := workflow.ExecuteActivity(actx, a.TrainTriage, activities.TrainTriageInput{Version: version, Seed: in.Seed, MinIncidents: in.MinIncidents}).Get(ctx, &out)
	return TrainOutput{TrainTriageOutput: out}, err
}
