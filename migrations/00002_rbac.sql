-- Role-based access control modelled on Defender XDR's unified RBAC (package rbac): principals (people
-- and services) of a tenant hold roles; a role grants permissions; an action needs one permission.
--
-- Built-in roles are tenant-independent: they are the rows of roles whose tenant_id is '*', meaning
-- "every tenant", and only a migration writes them. A tenant's own (custom) roles have its tenant_id. A
-- grant names the role's owner in role_tenant_id (the principal's tenant or '*'), so that both kinds
-- are real foreign keys. The package refuses a custom role named like a built-in one.
--
-- The permissions column is checked against the permission names of rbac/permission.go (constraint
-- roles_permissions_known): a new permission there needs a migration that replaces the constraint.

-- +goose Up
CREATE TABLE principals (
    tenant_id    text        NOT NULL CHECK (tenant_id <> '' AND tenant_id <> '*'),
    -- An email (user@contoso.com) or a service name.
    principal_id text        NOT NULL CHECK (principal_id <> ''),
    display_name text        NOT NULL DEFAULT '',
    kind         text        NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'service')),
    -- A disabled principal keeps its roles but has no permission.
    disabled     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, principal_id)
);

CREATE TABLE roles (
    -- '*' for a built-in role (every tenant), else the tenant that defined it.
    tenant_id   text        NOT NULL CHECK (tenant_id <> ''),
    role_name   text        NOT NULL CHECK (role_name <> '' AND role_name = btrim(role_name)),
    description text        NOT NULL DEFAULT '',
    permissions text[]      NOT NULL,
    built_in    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, role_name),
    CONSTRAINT roles_built_in_everywhere CHECK (built_in = (tenant_id = '*')),
    -- At least one permission, each a known one (an array with a NULL is not contained in any array).
    CONSTRAINT roles_permissions_known CHECK (
        cardinality(permissions) > 0 AND
        permissions <@ ARRAY[
            'secops.security-data.read', 'secops.alerts.manage', 'secops.response.manage',
            'secops.live-response.basic', 'secops.live-response.advanced', 'email.advanced-actions.manage',
            'authorization.manage']::text[])
);

CREATE TABLE principal_roles (
    tenant_id      text        NOT NULL,
    principal_id   text        NOT NULL,
    -- The owner of the role: the principal's tenant for a custom role, '*' for a built-in one.
    role_tenant_id text        NOT NULL,
    role_name      text        NOT NULL,
    granted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, principal_id, role_name),
    CONSTRAINT principal_roles_own_or_built_in CHECK (role_tenant_id = tenant_id OR role_tenant_id = '*'),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, principal_id) ON DELETE CASCADE,
    FOREIGN KEY (role_tenant_id, role_name) REFERENCES roles (tenant_id, role_name) ON DELETE CASCADE
);

CREATE INDEX principal_roles_role_idx ON principal_roles (role_tenant_id, role_name);

-- The built-in roles, as rbac.BuiltInRoles lists them (a test compares the two).
INSERT INTO roles (tenant_id, role_name, description, permissions, built_in) VALUES
    ('*', 'Security reader',
        'Reads incidents, alerts, evidence and the guided response; decides nothing.',
        ARRAY['secops.security-data.read'], true),
    ('*', 'Security operator',
        'Triages and classifies incidents and applies response actions, with basic live response.',
        ARRAY['secops.security-data.read', 'secops.alerts.manage', 'secops.response.manage',
            'secops.live-response.basic'], true),
    ('*', 'Security administrator',
        'Every permission, including advanced live response, email actions and managing roles.',
        ARRAY['secops.security-data.read', 'secops.alerts.manage', 'secops.response.manage',
            'secops.live-response.basic', 'secops.live-response.advanced', 'email.advanced-actions.manage',
            'authorization.manage'], true),
    ('*', 'Email operator',
        'Reads security data and takes advanced email actions (delete, move, block sender).',
        ARRAY['secops.security-data.read', 'email.advanced-actions.manage'], true);
