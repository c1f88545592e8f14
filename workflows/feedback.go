package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
)

// FeedbackWorkflow records feedback given after the incident's workflow closed: durably (the activity
// retries while Postgres is down) and once (the feedback ID keys both the workflow and the row).
func FeedbackWorkflow(ctx workflow.Context, in FeedbackWorkflowInput) (FeedbackOutput, error) {
	actx := workflow.WithActivityOptions(ctx, durableOptions(30*time.Second))
	var access activities.LoadAccessOutput
	if err := workflow.ExecuteActivity(actx, a.LoadAccess, activities.LoadAccessInput{TenantID: in.Feedback.TenantID}).Get(ctx, &access); err != nil {
		return FeedbackOutput{}, err
	}
	if err := access.Access.Check(in.Feedback.Principal, in.Permission); err != nil {
		return FeedbackOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeActionForbidden, err)
	}
	var out activities.RecordFeedbackOutput
	if err := workflow.ExecuteActivity(actx, a.RecordFeedback, in.Feedback).Get(ctx, &out); err != nil {
		return FeedbackOutput{}, err
	}
	return FeedbackOutput{FeedbackID: in.Feedback.FeedbackID, Created: out.Created}, nil
}
