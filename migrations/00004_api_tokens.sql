-- Credentials of the HTTP API (package auth) and replay protection of its webhooks.
--
-- An API token belongs to one principal of one tenant (a real foreign key: deleting the principal
-- deletes its tokens). The token's secret is never stored: secret_hash is the SHA-256 of its 32 random
-- bytes, enough for a secret that cannot be guessed (no password hashing needed). A token is refused
-- once revoked_at or expires_at has passed, or while its principal is disabled; revoking keeps the row,
-- for the audit. NULL means "never" in expires_at, revoked_at and last_used_at.
--
-- webhook_deliveries holds the delivery IDs each webhook source has used, so that a replayed delivery
-- is refused; rows older than the signature's validity window may be deleted.

-- +goose Up
CREATE TABLE api_tokens (
    -- 12 random bytes, hex: the part of the token that is looked up.
    token_id     text        PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{24}$'),
    tenant_id    text        NOT NULL,
    principal_id text        NOT NULL,
    -- What the token is for, as its creator described it ('' when not given).
    name         text        NOT NULL DEFAULT '',
    secret_hash  bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz CHECK (expires_at > created_at),
    revoked_at   timestamptz,
    -- Updated at most once a minute.
    last_used_at timestamptz,
    FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, principal_id) ON DELETE CASCADE
);

-- A tenant's tokens (listing) and a principal's (the foreign key's cascade).
CREATE INDEX api_tokens_principal_idx ON api_tokens (tenant_id, principal_id);

CREATE TABLE webhook_deliveries (
    -- The webhook source as configured (an approval system).
    source      text        NOT NULL CHECK (source <> ''),
    -- The delivery ID the source sent: the same one again is a replay.
    delivery_id text        NOT NULL CHECK (delivery_id <> ''),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_id)
);

-- Pruning deliveries older than the validity window.
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);
