package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditKind is what an audit event records.
type AuditKind string

// Audit kinds.
const (
	AuditClassification AuditKind = "classification"
	AuditDecision       AuditKind = "decision"
	AuditAction         AuditKind = "action"
	AuditEscalation     AuditKind = "escalation"
	AuditExpiry         AuditKind = "expiry"
	AuditFeedback       AuditKind = "feedback"
	AuditSystem         AuditKind = "system"
)

// Valid reports whether k is a known kind.
func (k AuditKind) Valid() bool {
	switch k {
	case AuditClassification, AuditDecision, AuditAction, AuditEscalation, AuditExpiry, AuditFeedback,
		AuditSystem:
		return true
	}
	return false
}

// AuditEvent is one entry of an incident's audit trail.
type AuditEvent struct {
	// ID is the store's sequence number, set by ListAudit; RecordAudit ignores it.
	ID         int64
	TenantID   string
	IncidentID string
	// At is when it happened; zero means now. Stored in UTC at microsecond precision.
	At time.Time
	// Principal is who did it; empty for the system.
	Principal string
	Kind      AuditKind
	CardID    string
	// Detail is any JSON object or value; nil means {}. It comes back as PostgreSQL normalizes jsonb
	// (keys sorted, no insignificant space).
	Detail json.RawMessage
	// EventKey is the caller's idempotency key: recording the same key again records nothing.
	EventKey string
}

const (
	insertAudit = `
INSERT INTO audit (tenant_id, incident_id, at, principal, kind, card_id, detail, event_key)
VALUES (
	:tenant_id, :incident_id, COALESCE(CAST(:at AS timestamptz), now()), :principal, :kind, :card_id,
	CAST(:detail AS jsonb), :event_key)
ON CONFLICT (event_key) DO NOTHING`

	listAudit = `
SELECT id, tenant_id, incident_id, at, principal, kind, card_id, detail, event_key
FROM audit
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY at, id`
)

type auditRow struct {
	ID         int64      `db:"id"`
	TenantID   string     `db:"tenant_id"`
	IncidentID string     `db:"incident_id"`
	At         *time.Time `db:"at"`
	Principal  string     `db:"principal"`
	Kind       string     `db:"kind"`
	CardID     string     `db:"card_id"`
	Detail     string     `db:"detail"`
	EventKey   string     `db:"event_key"`
}

// RecordAudit appends an event to the audit trail once: an event key already recorded is left as it
// is, whatever the new event says.
func (s *Store) RecordAudit(ctx context.Context, e AuditEvent) error {
	if err := required("audit event", "TenantID", e.TenantID, "IncidentID", e.IncidentID,
		"EventKey", e.EventKey); err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("record audit %s: %w: kind %q is not one of classification, decision, action, "+
			"escalation, expiry, feedback, system", e.EventKey, ErrInvalid, e.Kind)
	}
	detail, err := jsonText(e.Detail, "{}")
	if err != nil {
		return fmt.Errorf("record audit %s: detail: %w", e.EventKey, err)
	}
	row := auditRow{
		TenantID: e.TenantID, IncidentID: e.IncidentID, At: nullTime(e.At), Principal: e.Principal,
		Kind: string(e.Kind), CardID: e.CardID, Detail: detail, EventKey: e.EventKey,
	}
	n, err := namedExec(ctx, s.db, insertAudit, row)
	if err != nil {
		return fmt.Errorf("record audit %s: %w", e.EventKey, err)
	}
	s.logger.Debug("audit", "tenant", e.TenantID, "incident", e.IncidentID, "kind", e.Kind, "card", e.CardID,
		"principal", e.Principal, "new", n == 1)
	return nil
}

// ListAudit returns an incident's audit trail in time order (events of the same time in the order they
// were recorded); none is not an error.
func (s *Store) ListAudit(ctx context.Context, tenantID, incidentID string) ([]AuditEvent, error) {
	var rows []auditRow
	if err := namedSelect(ctx, s.db, listAudit, incidentKey{tenantID, incidentID}, &rows); err != nil {
		return nil, fmt.Errorf("list audit of %s/%s: %w", tenantID, incidentID, err)
	}
	out := make([]AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = AuditEvent{
			ID: r.ID, TenantID: r.TenantID, IncidentID: r.IncidentID, At: timeOf(r.At), Principal: r.Principal,
			Kind: AuditKind(r.Kind), CardID: r.CardID, Detail: json.RawMessage(r.Detail), EventKey: r.EventKey,
		}
	}
	return out, nil
}

// jsonText is raw JSON as a text parameter for a jsonb column: empty means def; invalid JSON is
// ErrInvalid.
func jsonText(raw json.RawMessage, def string) (string, error) {
	if len(raw) == 0 {
		return def, nil
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%w: not valid JSON", ErrInvalid)
	}
	return string(raw), nil
}
