-- SQLite dialect of migrations/postgres/0001. The service-desk model (BRIEF §2). Timestamps are written by the daemon (its clock), never by
-- column defaults.

CREATE TABLE clients (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL,
    -- 'config' ([halo].sites) or 'mapping' (created by an organisation_by_field mapping)
    origin      TEXT NOT NULL CHECK (origin IN ('config', 'mapping')),
    UNIQUE (client_id, name)
);

CREATE TABLE custom_fields (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'agent')),
    name        TEXT NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE cabs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE
);

CREATE TABLE cab_roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cab_id      INTEGER NOT NULL REFERENCES cabs (id),
    name        TEXT NOT NULL,
    UNIQUE (cab_id, name)
);

CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id          INTEGER REFERENCES sites (id),
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
    custom_fields    TEXT NOT NULL DEFAULT '{}',
    inactive         BOOLEAN NOT NULL DEFAULT 0,
    -- 'entra' when the sync made the record inactive; anything else was done by hand
    inactive_reason  TEXT,
    keep_active      BOOLEAN NOT NULL DEFAULT 0,
    connection_id    TEXT REFERENCES connections (id),
    entra_id         TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (connection_id, entra_id)
);
-- Fallback matching (§4.4) looks up unlinked records by these, case-insensitively.
CREATE INDEX users_email_idx ON users (lower(emailaddress));
CREATE INDEX users_login_idx ON users (lower(login));
CREATE INDEX users_employee_number_idx ON users (employee_number);
CREATE INDEX users_site_idx ON users (site_id);

CREATE TABLE agents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              INTEGER NOT NULL UNIQUE REFERENCES users (id),
    name                 TEXT NOT NULL,
    emailaddress         TEXT,
    phonenumber          TEXT,
    jobtitle             TEXT,
    linemanager_id       INTEGER REFERENCES agents (id),
    default_team_id      INTEGER REFERENCES teams (id),
    licence_type         TEXT NOT NULL DEFAULT 'concurrent' CHECK (licence_type IN ('named', 'concurrent')),
    creationtype         TEXT,
    inactive             BOOLEAN NOT NULL DEFAULT 0,
    inactive_reason      TEXT,
    keep_active          BOOLEAN NOT NULL DEFAULT 0,
    can_configure_entra  BOOLEAN NOT NULL DEFAULT 0,
    connection_id        TEXT REFERENCES connections (id),
    entra_id             TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (connection_id, entra_id)
);
CREATE INDEX agents_email_idx ON agents (lower(emailaddress));

CREATE TABLE user_roles (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    role_id     INTEGER NOT NULL REFERENCES roles (id),
    source      TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE agent_roles (
    agent_id    INTEGER NOT NULL REFERENCES agents (id),
    role_id     INTEGER NOT NULL REFERENCES roles (id),
    source      TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (agent_id, role_id)
);

CREATE TABLE agent_teams (
    agent_id           INTEGER NOT NULL REFERENCES agents (id),
    team_id            INTEGER NOT NULL REFERENCES teams (id),
    can_be_assigned    BOOLEAN NOT NULL,
    sees_unassigned    BOOLEAN NOT NULL,
    sees_other_agents  BOOLEAN NOT NULL,
    source             TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    PRIMARY KEY (agent_id, team_id)
);

CREATE TABLE cab_members (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cab_id       INTEGER NOT NULL REFERENCES cabs (id),
    user_id      INTEGER REFERENCES users (id),
    agent_id     INTEGER REFERENCES agents (id),
    cab_role_id  INTEGER REFERENCES cab_roles (id),
    source       TEXT NOT NULL CHECK (source IN ('entra', 'manual')),
    CHECK ((user_id IS NULL) <> (agent_id IS NULL)),
    UNIQUE (cab_id, user_id),
    UNIQUE (cab_id, agent_id)
);

CREATE TABLE licences (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       INTEGER NOT NULL REFERENCES clients (id),
    connection_id   TEXT REFERENCES connections (id),
    sku_id          TEXT NOT NULL,
    part_number     TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    enabled_units   INTEGER NOT NULL,
    consumed_units  INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (client_id, sku_id)
);

CREATE TABLE user_licences (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    licence_id  INTEGER NOT NULL REFERENCES licences (id),
    PRIMARY KEY (user_id, licence_id)
);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    summary     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    agent_id    INTEGER REFERENCES agents (id),
    team_id     INTEGER REFERENCES teams (id),
    created_at  TEXT NOT NULL
);
CREATE INDEX tickets_agent_idx ON tickets (agent_id) WHERE status = 'open';

CREATE TABLE ticket_followers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
    user_id     INTEGER REFERENCES users (id),
    agent_id    INTEGER REFERENCES agents (id),
    email       TEXT,
    copy        TEXT NOT NULL CHECK (copy IN ('cc', 'bcc')),
    -- set when the follower came from expanding a distribution group (a snapshot)
    from_group  TEXT,
    CHECK ((CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN agent_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN email IS NULL THEN 0 ELSE 1 END) = 1)
);
CREATE INDEX ticket_followers_ticket_idx ON ticket_followers (ticket_id);
