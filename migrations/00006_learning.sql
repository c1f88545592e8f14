-- What the models learn from and the models themselves.
--
-- historical_incidents holds incidents of the past as the models see them: the aggregate of their
-- evidence (detectors, titles, categories, techniques, entity types, roles, verdicts; package guide's
-- Incident, as JSON), their grade (the label) and the remediation actions applied (labels of the action
-- ranking). Rows come from the GUIDE dataset (`starter import-guide`, source 'guide') or from this
-- system's own closed incidents (source 'guided', org_id = tenant). The key makes an import idempotent.
--
-- guide_imports records finished imports by a fingerprint of the file, so that importing the same file
-- again is a no-op.
--
-- models holds trained models by kind and version; a workflow keeps the version it started with.

-- +goose Up
CREATE TABLE historical_incidents (
    source      text        NOT NULL CHECK (source IN ('guide', 'guided')),
    org_id      text        NOT NULL CHECK (org_id <> ''),
    incident_id text        NOT NULL CHECK (incident_id <> ''),
    grade       text        NOT NULL CHECK (grade IN ('', 'TruePositive', 'BenignPositive', 'FalsePositive')),
    aggregate   jsonb       NOT NULL,
    actions     text[]      NOT NULL DEFAULT '{}',
    first_seen  timestamptz,
    last_seen   timestamptz,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, org_id, incident_id)
);

CREATE TABLE guide_imports (
    fingerprint text        PRIMARY KEY CHECK (fingerprint <> ''),
    path        text        NOT NULL,
    rows        bigint      NOT NULL CHECK (rows >= 0),
    malformed   bigint      NOT NULL CHECK (malformed >= 0),
    incidents   bigint      NOT NULL CHECK (incidents >= 0),
    finished_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    kind       text        NOT NULL CHECK (kind IN ('triage')),
    version    text        NOT NULL CHECK (version <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    metrics    jsonb       NOT NULL DEFAULT '{}',
    body       bytea       NOT NULL,
    PRIMARY KEY (kind, version)
);

CREATE INDEX models_latest_idx ON models (kind, created_at DESC);

-- +goose Down
DROP TABLE models;
DROP TABLE guide_imports;
DROP TABLE historical_incidents;
