-- The service-desk model (BRIEF §2). Timestamps are written by the daemon (its clock), never by
-- column defaults.

CREATE TABLE clients (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE sites (
    id          BIGSERIAL PRIMARY KEY,
    client_id   BIGINT NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL,
    -- 'config' ([halo].sites) or 'mapping' (created by an organisation_by_field mapping)
    origin      TEXT NOT NULL CHECK (origin IN ('config', 'mapping')),
    UNIQUE (client_id, name)
);

CREATE TABLE custom_fields (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE roles (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'agent')),
    name        TEXT NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE teams (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE cabs (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE cab_roles (
    id          BIGSERIAL PRIMARY KEY,
    cab_id      BIGINT NOT NULL REFERENCES cabs (id),
    name        TEXT NOT NULL,
    UNIQUE (cab_id, name)
);

CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    site_id          BIGINT REFERENCES sites (id),
    name             TEXT NOT NULL,
    firstname        TEXT,
    surname          TEXT,
    emailaddress     TEXT,
    login            TEXT,
    phonenumber      TEXT,
    mobilenumber     TEXT,
    jobtitle         TEXT,
    department       TEXT,
    employee_number  TEXT,
    manager          TEXT,
    creationtype     TEXT,
    last_sign_in     TEXT,
    custom_fields    JSONB NOT NULL DEFAULT '{}',
    inactive         BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'entra' when the sync made the record inactive; anything else was done by hand
    inactive_reason  TEXT,
    keep_active      BOOLEAN NOT NULL DEFAULT FALSE,
    connection_id    TEXT REFERENCES connections (id),
    entra_id         TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, entra_id)
);
-- Fallback matching (§4.4) looks up unlinked records by these, case-insensitively.
CREATE INDEX users_email_idx ON users (lower(emailaddress));
CREATE INDEX users_login_idx ON users (lower(login));
CREATE INDEX users_employee_number_idx ON users (employee_number);
CREATE INDEX users_site_idx ON users (site_id);

CREATE TABLE agents (
    id                   BIGSERIAL PRIMARY KEY,
    user_id              BIGINT NOT NULL UNIQUE REFERENCES users (id),
    name                 TEXT NOT NULL,
    emailaddress         TEXT,
    phonenumber          TEXT,
    jobtitle             TEXT,
    linemanager_id       BIGINT REFERENCES agents (id),
    default_team_id      BIGINT REFERENCES teams (id),
    licence_type         TEXT NOT NULL DEFAULT 'concurrent' CHECK (licence_type IN ('named', 'concurrent')),
    creationtype         TEXT,
    inactive             BOOLEAN NOT NULL DEFAULT FALSE,
    inactive_reason      TEXT,
    keep_active          BOOLEAN NOT NULL DEFAULT FALSE,
    can_configure_entra  BOOLEAN NOT NULL DEFAULT FALSE,
    connection_id        TEXT REFERENCES connections (id),
    entra_id             TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, entra_id)
);
CREATE INDEX agents_email_idx ON agents (lower(emailaddress));

CREATE TABLE user_roles (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    role_id     BIGINT NOT NULL REFERENCES roles (id),
    source      TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE agent_roles (
    agent_id    BIGINT NOT NULL REFERENCES agents (id),
    role_id     BIGINT NOT NULL REFERENCES roles (id),
    source      TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (agent_id, role_id)
);

CREATE TABLE agent_teams (
    agent_id           BIGINT NOT NULL REFERENCES agents (id),
    team_id            BIGINT NOT NULL REFERENCES teams (id),
    can_be_assigned    BOOLEAN NOT NULL,
    sees_unassigned    BOOLEAN NOT NULL,
    sees_other_agents  BOOLEAN NOT NULL,
    source             TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (agent_id, team_id)
);

CREATE TABLE cab_members (
    id           BIGSERIAL PRIMARY KEY,
    cab_id       BIGINT NOT NULL REFERENCES cabs (id),
    user_id      BIGINT REFERENCES users (id),
    agent_id     BIGINT REFERENCES agents (id),
    cab_role_id  BIGINT REFERENCES cab_roles (id),
    source       TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    CHECK ((user_id IS NULL) <> (agent_id IS NULL)),
    UNIQUE (cab_id, user_id),
    UNIQUE (cab_id, agent_id)
);

CREATE TABLE licences (
    id              BIGSERIAL PRIMARY KEY,
    client_id       BIGINT NOT NULL REFERENCES clients (id),
    connection_id   TEXT REFERENCES connections (id),
    sku_id          TEXT NOT NULL,
    part_number     TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    enabled_units   BIGINT NOT NULL,
    consumed_units  BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (client_id, sku_id)
);

CREATE TABLE user_licences (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    licence_id  BIGINT NOT NULL REFERENCES licences (id),
    PRIMARY KEY (user_id, licence_id)
);

CREATE TABLE tickets (
    id          BIGSERIAL PRIMARY KEY,
    summary     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    agent_id    BIGINT REFERENCES agents (id),
    team_id     BIGINT REFERENCES teams (id),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX tickets_agent_idx ON tickets (agent_id) WHERE status = 'open';

CREATE TABLE ticket_followers (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    user_id     BIGINT REFERENCES users (id),
    agent_id    BIGINT REFERENCES agents (id),
    email       TEXT,
    copy        TEXT NOT NULL CHECK (copy IN ('cc', 'bcc')),
    -- set when the follower came from expanding a distribution group (a snapshot)
    from_group  TEXT,
    CHECK ((CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN agent_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN email IS NULL THEN 0 ELSE 1 END) = 1)
);
CREATE INDEX ticket_followers_ticket_idx ON ticket_followers (ticket_id);
