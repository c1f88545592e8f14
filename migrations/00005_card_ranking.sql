-- The action ranking learns from what analysts did with earlier cards of the same playbook rule and
-- action: their approvals and rejections (audit events of kind 'decision', which name the rule since
-- this version) and their feedback. These indexes keep its per-tenant aggregate fast.

-- +goose Up
CREATE INDEX audit_decisions_idx ON audit (tenant_id, at) WHERE kind = 'decision';
CREATE INDEX feedback_rule_idx ON feedback (tenant_id, rule_id, card_action, created_at);

-- +goose Down
DROP INDEX feedback_rule_idx;
DROP INDEX audit_decisions_idx;
