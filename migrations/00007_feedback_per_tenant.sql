-- A feedback ID is the caller's idempotency key, and callers choose it: it is unique within its tenant
-- only. With a global key, one tenant's ID could swallow another tenant's feedback (recorded as a
-- duplicate) and the duplicate's error named the other tenant's card and principal.

-- +goose Up
ALTER TABLE feedback DROP CONSTRAINT feedback_pkey;
ALTER TABLE feedback ADD PRIMARY KEY (tenant_id, feedback_id);

-- +goose Down
-- Fails when two tenants have used the same feedback ID since: the global key cannot hold both.
ALTER TABLE feedback DROP CONSTRAINT feedback_pkey;
ALTER TABLE feedback ADD PRIMARY KEY (feedback_id);
