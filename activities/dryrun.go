package activities

import (
	"context"

	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/store"
)

// DryRunRecorder stores what the dry-run connector would have applied, once per idempotency key.
type DryRunRecorder struct {
	Store *store.Store
}

// RecordDryRun implements connector.DryRunRecorder.
func (r DryRunRecorder) RecordDryRun(ctx context.Context, d connector.DryRunRecord) (bool, error) {
	return r.Store.RecordDryRun(ctx, store.DryRun{
		IdempotencyKey: d.IdempotencyKey, TenantID: d.TenantID, IncidentID: d.IncidentID, CardID: d.CardID,
		Action: d.Action, EntityKey: d.EntityKey, Parameters: d.Parameters, Principal: d.Principal,
		RecordedAt: d.RecordedAt,
	})
}
