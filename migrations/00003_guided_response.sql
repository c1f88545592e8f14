-- Durable records of the guided response (package store): analysts' feedback on cards, the audit trail,
-- the log of applied actions, the actions a dry run would have applied, the report of each run and the
-- outcome of each incident (training data for the classifier).
--
-- None of these tables has a foreign key to incidents: they are records of what happened and outlive
-- the incident rows (which re-ingestion replaces and retention may delete), and the guided response may
-- run on an incident the store never ingested. Idempotency keys are made by the caller (the workflow),
-- so a retried activity writes nothing twice. '' stands for "not given" in optional text columns, NULL
-- in optional timestamps.

-- +goose Up
CREATE TABLE feedback (
    -- The caller's idempotency key: the same key again records nothing.
    feedback_id   text        PRIMARY KEY CHECK (feedback_id <> ''),
    tenant_id     text        NOT NULL CHECK (tenant_id <> ''),
    incident_id   text        NOT NULL CHECK (incident_id <> ''),
    card_id       text        NOT NULL CHECK (card_id <> ''),
    principal     text        NOT NULL CHECK (principal <> ''),
    helpful       boolean     NOT NULL,
    reason        text        NOT NULL DEFAULT '',
    comment       text        NOT NULL DEFAULT '',
    -- What the card was, for learning without the card itself.
    card_action   text        NOT NULL DEFAULT '',
    card_category text        NOT NULL DEFAULT ''
        CHECK (card_category IN ('', 'triage', 'containment', 'investigation', 'remediation')),
    rule_id       text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX feedback_incident_idx ON feedback (tenant_id, incident_id, created_at);

CREATE TABLE audit (
    id          bigserial   PRIMARY KEY,
    tenant_id   text        NOT NULL CHECK (tenant_id <> ''),
    incident_id text        NOT NULL CHECK (incident_id <> ''),
    at          timestamptz NOT NULL DEFAULT now(),
    -- Who did it; '' for the system.
    principal   text        NOT NULL DEFAULT '',
    kind        text        NOT NULL
        CHECK (kind IN ('classification', 'decision', 'action', 'escalation', 'expiry', 'feedback', 'system')),
    card_id     text        NOT NULL DEFAULT '',
    detail      jsonb       NOT NULL DEFAULT '{}',
    -- The caller's idempotency key: the same event recorded twice is one row.
    event_key   text        NOT NULL UNIQUE CHECK (event_key <> '')
);

CREATE INDEX audit_incident_idx ON audit (tenant_id, incident_id, at, id);

CREATE TABLE action_log (
    idempotency_key text        PRIMARY KEY CHECK (idempotency_key <> ''),
    tenant_id       text        NOT NULL CHECK (tenant_id <> ''),
    incident_id     text        NOT NULL CHECK (incident_id <> ''),
    card_id         text        NOT NULL CHECK (card_id <> ''),
    action          text        NOT NULL CHECK (action <> ''),
    connector       text        NOT NULL DEFAULT '',
    status          text        NOT NULL DEFAULT 'applying' CHECK (status IN ('applying', 'applied', 'failed')),
    external_id     text        NOT NULL DEFAULT '',
    message         text        NOT NULL DEFAULT '',
    error           text        NOT NULL DEFAULT '',
    -- How many times applying began: more than one when an attempt died before it finished.
    attempts        integer     NOT NULL DEFAULT 1 CHECK (attempts > 0),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    principal       text        NOT NULL DEFAULT '',
    CONSTRAINT action_log_finished CHECK ((status = 'applying') = (finished_at IS NULL))
);

CREATE INDEX action_log_incident_idx ON action_log (tenant_id, incident_id);

CREATE TABLE dry_run_actions (
    idempotency_key text        PRIMARY KEY CHECK (idempotency_key <> ''),
    tenant_id       text        NOT NULL CHECK (tenant_id <> ''),
    incident_id     text        NOT NULL CHECK (incident_id <> ''),
    card_id         text        NOT NULL CHECK (card_id <> ''),
    action          text        NOT NULL CHECK (action <> ''),
    entity_key      text        NOT NULL DEFAULT '',
    parameters      jsonb       NOT NULL DEFAULT '{}',
    principal       text        NOT NULL DEFAULT '',
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dry_run_actions_incident_idx ON dry_run_actions (tenant_id, incident_id, recorded_at);

CREATE TABLE reports (
    tenant_id   text        NOT NULL CHECK (tenant_id <> ''),
    incident_id text        NOT NULL CHECK (incident_id <> ''),
    -- The workflow run the report is of.
    run_id      text        NOT NULL CHECK (run_id <> ''),
    markdown    text        NOT NULL,
    json        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, incident_id, run_id)
);

-- The order of GetReport: the latest report of an incident.
CREATE INDEX reports_latest_idx ON reports (tenant_id, incident_id, created_at DESC, run_id DESC);

CREATE TABLE outcomes (
    tenant_id        text        NOT NULL CHECK (tenant_id <> ''),
    incident_id      text        NOT NULL CHECK (incident_id <> ''),
    classification   text        NOT NULL DEFAULT ''
        CHECK (classification IN ('', 'unknown', 'truePositive', 'informationalExpectedActivity', 'falsePositive')),
    determination    text        NOT NULL DEFAULT ''
        CHECK (determination IN ('', 'unknown', 'apt', 'malware', 'securityPersonnel', 'securityTesting',
            'unwantedSoftware', 'other', 'multiStagedAttack', 'compromisedAccount', 'phishing',
            'maliciousUserActivity', 'notMalicious', 'notEnoughDataToValidate', 'confirmedUserActivity',
            'lineOfBusinessApplication')),
    -- Who classified: a principal, or the model (say "model:<version>").
    classified_by    text        NOT NULL DEFAULT '',
    classified_at    timestamptz,
    applied_actions  text[]      NOT NULL DEFAULT '{}',
    rejected_actions text[]      NOT NULL DEFAULT '{}',
    -- The features the model saw, as the caller gives them.
    features         jsonb       NOT NULL DEFAULT '{}',
    model_version    text        NOT NULL DEFAULT '',
    closed_at        timestamptz,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, incident_id)
);
