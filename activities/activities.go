// Package activities holds the side effects of the incident workflows: the store, and later the
// summarizer, the card generator and the connectors. Activities are methods on Activities, which holds
// their dependencies; workflows refer to them through a typed nil pointer.
package activities

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/playbook"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/summary"
)

// Activities holds what the activities need.
type Activities struct {
	Store  *store.Store
	Logger hclog.Logger
	// Access is the principals, roles and permissions.
	Access *rbac.Store
	// Playbooks is the playbook library, reloaded from its directory when it changes.
	Playbooks *playbook.Library
	// Connectors apply approved actions.
	Connectors *connector.Registry
	// LLM, when set, writes the narrative of the attack story.
	LLM *summary.LLM
	// Policy is handed to new workflows; TriageThreshold is the confidence below which triage is unsure.
	Policy          Policy
	TriageThreshold float64
	// Models are the trained triage models (nil: the playbooks' rules only); ModelThreshold overrides
	// a model's own confidence threshold when above 0.
	Models         *TriageModels
	ModelThreshold float64
	// ObserveAction, when set, counts actions that settled: applied or failed for good.
	ObserveAction func(action string, applied bool)
}

// PersistIncident writes the incident, its alerts and entities to Postgres. Re-ingesting the same incident
// updates it; an older version than the stored one changes nothing. It is idempotent, so retries are safe.
func (a *Activities) PersistIncident(ctx context.Context, in PersistIncidentInput) (PersistIncidentOutput, error) {
	inc := in.Incident
	if err := inc.Validate(); err != nil {
		return PersistIncidentOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("incident %s/%s is invalid: %v", inc.TenantID, inc.ID, err), ErrTypeInvalidIncident, err)
	}
	res, err := a.Store.UpsertIncident(ctx, &inc)
	if err != nil {
		return PersistIncidentOutput{}, fmt.Errorf("persist incident %s/%s: %w", inc.TenantID, inc.ID, err)
	}
	a.Logger.Debug("incident persisted", "tenant", inc.TenantID, "incident", inc.ID, "created", res.Created, "changed", res.Changed)
	return PersistIncidentOutput{Created: res.Created, Changed: res.Changed}, nil
}
