-- Incidents as ingested from Defender XDR (Graph security API) or the native JSON format, with their
-- alerts and the evidence entities of each alert: one column per field of the domain model (package
-- incident), so that the model can be rebuilt from the rows, plus the incident as ingested in raw.
--
-- Enumerations are checked against the values the model knows, so a new value there needs a migration
-- here; remediation_status and roles are left unchecked because Graph keeps extending them (evolvable
-- enums). '' stands for "not given" in optional text columns, NULL in optional timestamps.

-- +goose Up
CREATE TABLE incidents (
    tenant_id            text        NOT NULL CHECK (tenant_id <> ''),
    incident_id          text        NOT NULL CHECK (incident_id <> ''),
    title                text        NOT NULL,
    description          text        NOT NULL DEFAULT '',
    severity             text        NOT NULL
        CHECK (severity IN ('unknown', 'informational', 'low', 'medium', 'high')),
    status               text        NOT NULL
        CHECK (status IN ('active', 'resolved', 'inProgress', 'redirected', 'awaitingAction', 'new', 'unknown')),
    classification       text        NOT NULL DEFAULT ''
        CHECK (classification IN ('', 'unknown', 'truePositive', 'informationalExpectedActivity', 'falsePositive')),
    determination        text        NOT NULL DEFAULT ''
        CHECK (determination IN ('', 'unknown', 'apt', 'malware', 'securityPersonnel', 'securityTesting',
            'unwantedSoftware', 'other', 'multiStagedAttack', 'compromisedAccount', 'phishing',
            'maliciousUserActivity', 'notMalicious', 'notEnoughDataToValidate', 'confirmedUserActivity',
            'lineOfBusinessApplication')),
    assigned_to          text        NOT NULL DEFAULT '',
    custom_tags          text[]      NOT NULL DEFAULT '{}',
    system_tags          text[]      NOT NULL DEFAULT '{}',
    web_url              text        NOT NULL DEFAULT '',
    -- The incident this one was merged into (status 'redirected').
    redirect_incident_id text        NOT NULL DEFAULT '',
    -- The format the incident was last ingested from ('' when built by hand).
    source               text        NOT NULL DEFAULT '' CHECK (source IN ('', 'graph', 'native')),
    created_at           timestamptz NOT NULL,
    last_updated_at      timestamptz NOT NULL,
    -- The incident as last ingested, in the native JSON format.
    raw                  jsonb       NOT NULL,
    first_ingested_at    timestamptz NOT NULL DEFAULT now(),
    ingested_at          timestamptz NOT NULL DEFAULT now(),
    ingest_count         integer     NOT NULL DEFAULT 1 CHECK (ingest_count > 0),
    PRIMARY KEY (tenant_id, incident_id)
);

CREATE INDEX incidents_severity_status_idx ON incidents (tenant_id, severity, status);
CREATE INDEX incidents_last_updated_idx ON incidents (last_updated_at);
-- The order of ListIncidents: newest first within a tenant.
CREATE INDEX incidents_tenant_last_updated_idx ON incidents (tenant_id, last_updated_at DESC, incident_id DESC);

CREATE TABLE alerts (
    tenant_id           text        NOT NULL,
    alert_id            text        NOT NULL CHECK (alert_id <> ''),
    incident_id         text        NOT NULL,
    -- Position of the alert in its incident's list.
    ordinal             integer     NOT NULL CHECK (ordinal >= 0),
    title               text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    severity            text        NOT NULL
        CHECK (severity IN ('unknown', 'informational', 'low', 'medium', 'high')),
    status              text        NOT NULL DEFAULT ''
        CHECK (status IN ('', 'active', 'resolved', 'inProgress', 'redirected', 'awaitingAction', 'new', 'unknown')),
    classification      text        NOT NULL DEFAULT ''
        CHECK (classification IN ('', 'unknown', 'truePositive', 'informationalExpectedActivity', 'falsePositive')),
    determination       text        NOT NULL DEFAULT ''
        CHECK (determination IN ('', 'unknown', 'apt', 'malware', 'securityPersonnel', 'securityTesting',
            'unwantedSoftware', 'other', 'multiStagedAttack', 'compromisedAccount', 'phishing',
            'maliciousUserActivity', 'notMalicious', 'notEnoughDataToValidate', 'confirmedUserActivity',
            'lineOfBusinessApplication')),
    category            text        NOT NULL DEFAULT '',
    detection_source    text        NOT NULL DEFAULT '',
    detector_id         text        NOT NULL DEFAULT '',
    service_source      text        NOT NULL DEFAULT '',
    mitre_techniques    text[]      NOT NULL DEFAULT '{}',
    threat_family       text        NOT NULL DEFAULT '',
    recommended_actions text        NOT NULL DEFAULT '',
    web_url             text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    first_activity_at   timestamptz,
    last_activity_at    timestamptz,
    PRIMARY KEY (tenant_id, alert_id),
    -- Also the index of an incident's alerts, and the target of the entities' foreign key.
    UNIQUE (tenant_id, incident_id, alert_id),
    FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, incident_id) ON DELETE CASCADE
);

CREATE TABLE entities (
    tenant_id          text        NOT NULL,
    incident_id        text        NOT NULL,
    alert_id           text        NOT NULL,
    -- Position of the entity in its alert's list.
    ordinal            integer     NOT NULL CHECK (ordinal >= 0),
    -- Stable identity of the thing the evidence is about, the same across alerts and incidents
    -- (say "device:mde:<id>").
    entity_key         text        NOT NULL CHECK (entity_key <> ''),
    kind               text        NOT NULL
        CHECK (kind IN ('device', 'user', 'mailbox', 'analyzedMessage', 'file', 'process', 'ip', 'url',
            'oauthApplication', 'cloudApplication', 'registryKey', 'registryValue', 'securityGroup',
            'mailCluster', 'generic')),
    name               text        NOT NULL DEFAULT '',
    verdict            text        NOT NULL DEFAULT ''
        CHECK (verdict IN ('', 'unknown', 'suspicious', 'malicious', 'noThreatsFound')),
    remediation_status text        NOT NULL DEFAULT '',
    roles              text[]      NOT NULL DEFAULT '{}',
    detailed_roles     text[]      NOT NULL DEFAULT '{}',
    tags               text[]      NOT NULL DEFAULT '{}',
    -- The typed detail of the entity (the model's field named after kind); NULL when it has none.
    details            jsonb,
    created_at         timestamptz,
    PRIMARY KEY (tenant_id, alert_id, ordinal),
    -- An entity follows its alert: deleted with it, moved with it when the alert moves to another incident.
    FOREIGN KEY (tenant_id, incident_id, alert_id) REFERENCES alerts (tenant_id, incident_id, alert_id)
        ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE INDEX entities_key_idx ON entities (tenant_id, entity_key);
CREATE INDEX entities_incident_idx ON entities (tenant_id, incident_id);
