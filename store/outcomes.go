package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// Outcome is how an incident ended, one per incident: the training data of the classifier.
type Outcome struct {
	TenantID       string
	IncidentID     string
	Classification incident.Classification
	Determination  incident.Determination
	// ClassifiedBy is the principal who classified, or the model.
	ClassifiedBy string
	// ClassifiedAt and ClosedAt are zero when not known. UTC, microsecond precision.
	ClassifiedAt    time.Time
	AppliedActions  []card.Action
	RejectedActions []card.Action
	// Features are what the model saw, as the caller gives them (any JSON; nil means {}). They come back
	// as PostgreSQL normalizes jsonb.
	Features     json.RawMessage
	ModelVersion string
	ClosedAt     time.Time
}

const (
	upsertOutcome = `
INSERT INTO outcomes (
	tenant_id, incident_id, classification, determination, classified_by, classified_at, applied_actions,
	rejected_actions, features, model_version, closed_at)
VALUES (
	:tenant_id, :incident_id, :classification, :determination, :classified_by, :classified_at,
	:applied_actions, :rejected_actions, CAST(:features AS jsonb), :model_version, :closed_at)
ON CONFLICT (tenant_id, incident_id) DO UPDATE SET
	classification = EXCLUDED.classification, determination = EXCLUDED.determination,
	classified_by = EXCLUDED.classified_by, classified_at = EXCLUDED.classified_at,
	applied_actions = EXCLUDED.applied_actions, rejected_actions = EXCLUDED.rejected_actions,
	features = EXCLUDED.features, model_version = EXCLUDED.model_version, closed_at = EXCLUDED.closed_at,
	updated_at = now()`

	selectOutcome = `
SELECT
	tenant_id, incident_id, classification, determination, classified_by, classified_at, applied_actions,
	rejected_actions, features, model_version, closed_at
FROM outcomes
WHERE tenant_id = :tenant_id AND incident_id = :incident_id`
)

type outcomeRow struct {
	TenantID        string         `db:"tenant_id"`
	IncidentID      string         `db:"incident_id"`
	Classification  string         `db:"classification"`
	Determination   string         `db:"determination"`
	ClassifiedBy    string         `db:"classified_by"`
	ClassifiedAt    *time.Time     `db:"classified_at"`
	AppliedActions  pq.StringArray `db:"applied_actions"`
	RejectedActions pq.StringArray `db:"rejected_actions"`
	Features        string         `db:"features"`
	ModelVersion    string         `db:"model_version"`
	ClosedAt        *time.Time     `db:"closed_at"`
}

// RecordOutcome stores an incident's outcome, replacing the one recorded before.
func (s *Store) RecordOutcome(ctx context.Context, o Outcome) error {
	if err := required("outcome", "TenantID", o.TenantID, "IncidentID", o.IncidentID); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	features, err := jsonText(o.Features, "{}")
	if err != nil {
		return fmt.Errorf("record outcome %s/%s: features: %w", o.TenantID, o.IncidentID, err)
	}
	row := outcomeRow{
		TenantID: o.TenantID, IncidentID: o.IncidentID, Classification: string(o.Classification),
		Determination: string(o.Determination), ClassifiedBy: o.ClassifiedBy, ClassifiedAt: nullTime(o.ClassifiedAt),
		AppliedActions: textArray(o.AppliedActions), RejectedActions: textArray(o.RejectedActions),
		Features: features, ModelVersion: o.ModelVersion, ClosedAt: nullTime(o.ClosedAt),
	}
	if _, err := namedExec(ctx, s.db, upsertOutcome, row); err != nil {
		return fmt.Errorf("record outcome %s/%s: %w", o.TenantID, o.IncidentID, err)
	}
	s.logger.Debug("recorded outcome", "tenant", o.TenantID, "incident", o.IncidentID,
		"classification", o.Classification, "determination", o.Determination)
	return nil
}

// GetOutcome returns an incident's outcome, with empty lists as nil; ErrNotFound when none is recorded.
func (s *Store) GetOutcome(ctx context.Context, tenantID, incidentID string) (Outcome, error) {
	var row outcomeRow
	if err := namedGet(ctx, s.db, selectOutcome, incidentKey{tenantID, incidentID}, &row); err != nil {
		return Outcome{}, fmt.Errorf("get outcome of %s/%s: %w", tenantID, incidentID, err)
	}
	return Outcome{
		TenantID: row.TenantID, IncidentID: row.IncidentID,
		Classification: incident.Classification(row.Classification),
		Determination:  incident.Determination(row.Determination),
		ClassifiedBy:   row.ClassifiedBy, ClassifiedAt: timeOf(row.ClassifiedAt),
		AppliedActions: listOf[card.Action](row.AppliedActions), RejectedActions: listOf[card.Action](row.RejectedActions),
		Features: json.RawMessage(row.Features), ModelVersion: row.ModelVersion, ClosedAt: timeOf(row.ClosedAt),
	}, nil
}
