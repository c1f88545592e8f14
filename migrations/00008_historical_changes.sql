-- The similar-incident index of a tenant follows its newly closed incidents by asking for the rows
-- changed since it last looked (imported_at is set on every insert and real change): this index answers
-- that without reading the tenant's whole history.

-- +goose Up
CREATE INDEX historical_changed_idx ON historical_incidents (source, org_id, imported_at);

-- +goose Down
DROP INDEX historical_changed_idx;
