package store

import (
	"context"
	"fmt"
	"time"

	"github.com/guided-response/guided/card"
)

// Feedback is an analyst's verdict on one card: helpful or not, and why.
type Feedback struct {
	// FeedbackID is the caller's idempotency key (made in the workflow): recording it again records
	// nothing.
	FeedbackID string
	TenantID   string
	IncidentID string
	CardID     string
	Principal  string
	Helpful    bool
	Reason     string
	Comment    string
	// What the card was: its action, category and the playbook rule that made it.
	Action   card.Action
	Category card.Category
	RuleID   string
	// CreatedAt is when the feedback was given; zero means now. Stored in UTC at microsecond precision.
	CreatedAt time.Time
}

const (
	insertFeedback = `
INSERT INTO feedback (
	feedback_id, tenant_id, incident_id, card_id, principal, helpful, reason, comment, card_action,
	card_category, rule_id, created_at)
VALUES (
	:feedback_id, :tenant_id, :incident_id, :card_id, :principal, :helpful, :reason, :comment, :card_action,
	:card_category, :rule_id, COALESCE(CAST(:created_at AS timestamptz), now()))
ON CONFLICT (tenant_id, feedback_id) DO NOTHING`

	selectFeedbackColumns = `
SELECT
	feedback_id, tenant_id, incident_id, card_id, principal, helpful, reason, comment, card_action,
	card_category, rule_id, created_at
FROM feedback`

	selectFeedbackByID = selectFeedbackColumns + `
WHERE tenant_id = :tenant_id AND feedback_id = :feedback_id`

	listFeedback = selectFeedbackColumns + `
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY created_at, feedback_id`
)

type feedbackRow struct {
	FeedbackID   string     `db:"feedback_id"`
	TenantID     string     `db:"tenant_id"`
	IncidentID   string     `db:"incident_id"`
	CardID       string     `db:"card_id"`
	Principal    string     `db:"principal"`
	Helpful      bool       `db:"helpful"`
	Reason       string     `db:"reason"`
	Comment      string     `db:"comment"`
	CardAction   string     `db:"card_action"`
	CardCategory string     `db:"card_category"`
	RuleID       string     `db:"rule_id"`
	CreatedAt    *time.Time `db:"created_at"`
}

// RecordFeedback stores feedback once per ID within its tenant (IDs are the callers' idempotency keys:
// another tenant's equal ID is another feedback): created is false when that ID was recorded before with
// the same content (a retry), and the error is ErrDuplicate when it was recorded with other content.
// CreatedAt is not part of the comparison.
func (s *Store) RecordFeedback(ctx context.Context, f Feedback) (created bool, err error) {
	if err := required("feedback", "FeedbackID", f.FeedbackID, "TenantID", f.TenantID, "IncidentID", f.IncidentID,
		"CardID", f.CardID, "Principal", f.Principal); err != nil {
		return false, fmt.Errorf("record feedback: %w", err)
	}
	row := feedbackRow{
		FeedbackID: f.FeedbackID, TenantID: f.TenantID, IncidentID: f.IncidentID, CardID: f.CardID,
		Principal: f.Principal, Helpful: f.Helpful, Reason: f.Reason, Comment: f.Comment,
		CardAction: string(f.Action), CardCategory: string(f.Category), RuleID: f.RuleID,
		CreatedAt: nullTime(f.CreatedAt),
	}
	n, err := namedExec(ctx, s.db, insertFeedback, row)
	if err != nil {
		return false, fmt.Errorf("record feedback %s: %w", f.FeedbackID, err)
	}
	if n == 1 {
		s.logger.Debug("recorded feedback", "tenant", f.TenantID, "incident", f.IncidentID, "card", f.CardID,
			"helpful", f.Helpful)
		return true, nil
	}
	var stored feedbackRow
	if err := namedGet(ctx, s.db, selectFeedbackByID, row, &stored); err != nil {
		return false, fmt.Errorf("record feedback %s: read the recorded one: %w", f.FeedbackID, err)
	}
	stored.CreatedAt = row.CreatedAt
	if stored != row {
		return false, fmt.Errorf("record feedback %s: %w: this ID already records other feedback "+
			"(card %s, helpful %v, by %s); give new feedback a new ID", f.FeedbackID, ErrDuplicate, stored.CardID,
			stored.Helpful, stored.Principal)
	}
	return false, nil
}

// ListFeedback returns the feedback on an incident's cards, oldest first; none is not an error.
func (s *Store) ListFeedback(ctx context.Context, tenantID, incidentID string) ([]Feedback, error) {
	var rows []feedbackRow
	if err := namedSelect(ctx, s.db, listFeedback, incidentKey{tenantID, incidentID}, &rows); err != nil {
		return nil, fmt.Errorf("list feedback of %s/%s: %w", tenantID, incidentID, err)
	}
	out := make([]Feedback, len(rows))
	for i, r := range rows {
		out[i] = Feedback{
			FeedbackID: r.FeedbackID, TenantID: r.TenantID, IncidentID: r.IncidentID, CardID: r.CardID,
			Principal: r.Principal, Helpful: r.Helpful, Reason: r.Reason, Comment: r.Comment,
			Action: card.Action(r.CardAction), Category: card.Category(r.CardCategory), RuleID: r.RuleID,
			CreatedAt: timeOf(r.CreatedAt),
		}
	}
	return out, nil
}

// required returns ErrInvalid naming the first empty field; pairs are field name, value, name, value...
func required(what string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("%w: %s %s is empty", ErrInvalid, what, pairs[i])
		}
	}
	return nil
}
