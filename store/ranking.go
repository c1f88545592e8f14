package store

import (
	"context"
	"fmt"
	"time"

	"github.com/guided-response/guided/card"
)

// RankKey is what the action ranking learns per: a playbook rule and its action (a rule fires in the
// same kind of incident, so it is the card's context).
type RankKey struct {
	RuleID string
	Action card.Action
}

// CardSignals is what analysts did with earlier cards of one rule and action in one tenant.
type CardSignals struct {
	Approved   int `db:"approved"`
	Rejected   int `db:"rejected"`
	Helpful    int `db:"helpful"`
	NotHelpful int `db:"not_helpful"`
}

const cardSignalsSQL = `
WITH fb AS (
    SELECT rule_id, card_action AS action,
           count(*) FILTER (WHERE helpful) AS helpful, count(*) FILTER (WHERE NOT helpful) AS not_helpful
    FROM feedback
    WHERE tenant_id = :tenant_id AND rule_id <> '' AND card_action <> '' AND created_at >= :since
    GROUP BY 1, 2
), dec AS (
    SELECT detail->>'ruleId' AS rule_id, detail->>'action' AS action,
           count(*) FILTER (WHERE detail->>'decision' = 'approve') AS approved,
           count(*) FILTER (WHERE detail->>'decision' = 'reject') AS rejected
    FROM audit
    WHERE tenant_id = :tenant_id AND kind = 'decision' AND at >= :since
      AND coalesce(detail->>'ruleId', '') <> '' AND coalesce(detail->>'action', '') <> ''
    GROUP BY 1, 2
)
SELECT coalesce(fb.rule_id, dec.rule_id) AS rule_id, coalesce(fb.action, dec.action) AS action,
       coalesce(dec.approved, 0) AS approved, coalesce(dec.rejected, 0) AS rejected,
       coalesce(fb.helpful, 0) AS helpful, coalesce(fb.not_helpful, 0) AS not_helpful
FROM fb FULL OUTER JOIN dec ON fb.rule_id = dec.rule_id AND fb.action = dec.action`

// CardSignals answers, per rule and action, the approvals, rejections and feedback the tenant's analysts
// gave since since.
func (s *Store) CardSignals(ctx context.Context, tenantID string, since time.Time) (map[RankKey]CardSignals, error) {
	var rows []struct {
		RuleID string `db:"rule_id"`
		Action string `db:"action"`
		CardSignals
	}
	arg := struct {
		TenantID string    `db:"tenant_id"`
		Since    time.Time `db:"since"`
	}{tenantID, since.UTC()}
	if err := namedSelect(ctx, s.db, cardSignalsSQL, arg, &rows); err != nil {
		return nil, fmt.Errorf("card signals: %w", err)
	}
	out := make(map[RankKey]CardSignals, len(rows))
	for _, r := range rows {
		out[RankKey{RuleID: r.RuleID, Action: card.Action(r.Action)}] = r.CardSignals
	}
	return out, nil
}
