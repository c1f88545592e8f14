package workflows

import (
	"go.temporal.io/sdk/worker"

	"github.com/guided-response/guided/activities"
)

// Register registers this package's workflows and the activities they call on w.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflow(IncidentWorkflow)
	w.RegisterWorkflow(FeedbackWorkflow)
	w.RegisterWorkflow(BareWorkflow)
	w.RegisterWorkflow(TrainWorkflow)
	w.RegisterActivity(acts)
}
