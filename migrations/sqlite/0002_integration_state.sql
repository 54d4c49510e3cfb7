-- SQLite dialect of migrations/postgres/0002. Integration state (BRIEF §2, §4): delta state, the Entra mirror, runs, the inbound log, access
-- control, delegated tokens and leases.

CREATE TABLE delta_states (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    -- 'users', or 'groups:<n>' (at most 50 group ids per chain)
    chain          TEXT NOT NULL,
    -- hash of the $select/$filter the chain was created with; a change restarts the round
    fingerprint    TEXT NOT NULL,
    -- the link of the next round, stored with the last page of the round it follows
    delta_link     TEXT,
    -- checkpoint of an unfinished round: the next page to read
    next_link      TEXT,
    -- the run that started the round in progress (or last completed)
    round_id       INTEGER,
    -- whether that round is an initial (full) round
    round_initial  BOOLEAN NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (connection_id, chain)
);

CREATE TABLE entra_users (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    entra_id       TEXT NOT NULL,
    upn            TEXT,
    -- the selected attributes as Graph last reported them (merged across delta pages)
    attributes     TEXT NOT NULL,
    manager_id     TEXT,
    -- 'changed' (soft-deleted), 'deleted', or 'missing' (not seen by a complete full round)
    removed        TEXT CHECK (removed IN ('changed', 'deleted', 'missing')),
    -- the users round that last reported this person
    seen_round     INTEGER,
    -- the notification awaiting evaluation (created, updated, removed-changed, removed-deleted,
    -- full-pass); NULL once evaluated. A crashed run resumes from these.
    pending        TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (connection_id, entra_id)
);
-- The people awaiting evaluation, in Entra-id order (a run pages through them).
CREATE INDEX entra_users_pending_idx ON entra_users (connection_id, entra_id) WHERE pending IS NOT NULL;

CREATE TABLE entra_groups (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    entra_id       TEXT NOT NULL,
    display_name   TEXT,
    mail           TEXT,
    removed        TEXT CHECK (removed IN ('changed', 'deleted')),
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (connection_id, entra_id)
);

CREATE TABLE entra_memberships (
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    group_id       TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    member_type    TEXT NOT NULL CHECK (member_type IN ('user', 'group', 'contact', 'other')),
    PRIMARY KEY (connection_id, group_id, member_id)
);
CREATE INDEX entra_memberships_member_idx ON entra_memberships (connection_id, member_id);
-- Group-in-group links, read once per run for nested membership.
CREATE INDEX entra_memberships_nested_idx ON entra_memberships (connection_id, group_id) WHERE member_type = 'group';

CREATE TABLE sync_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    kind             TEXT NOT NULL CHECK (kind IN ('full', 'delta', 'preview', 'import', 'remap')),
    trigger          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'quarantined', 'cancelled')),
    started_at       TEXT NOT NULL,
    ended_at         TEXT,
    counts           TEXT NOT NULL DEFAULT '{}',
    graph_requests   INTEGER NOT NULL DEFAULT 0,
    graph_throttles  INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    approved_at      TEXT,
    approved_by      TEXT
);
CREATE INDEX sync_runs_connection_idx ON sync_runs (connection_id, started_at);

CREATE TABLE inbound_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER REFERENCES sync_runs (id),
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    source         TEXT NOT NULL CHECK (source IN ('integrator', 'import', 'manual')),
    logged_at      TEXT NOT NULL,
    entra_id       TEXT,
    upn            TEXT,
    target         TEXT CHECK (target IN ('user', 'agent')),
    -- 'warning' rows concern the run, not a person (e.g. a configured group that did not resolve)
    notification   TEXT NOT NULL CHECK (notification IN ('created', 'updated', 'removed-changed', 'removed-deleted', 'full-pass', 'warning')),
    matched        TEXT NOT NULL DEFAULT '{}',
    action         TEXT NOT NULL CHECK (action IN ('created', 'updated', 'unchanged', 'deactivated', 'reactivated', 'out-of-scope', 'conflict', 'quarantined', 'error')),
    changes        TEXT NOT NULL DEFAULT '[]',
    message        TEXT
);
CREATE INDEX inbound_log_connection_idx ON inbound_log (connection_id, logged_at);
CREATE INDEX inbound_log_run_idx ON inbound_log (run_id);
CREATE INDEX inbound_log_entra_idx ON inbound_log (connection_id, entra_id);
CREATE INDEX inbound_log_upn_idx ON inbound_log (lower(upn));

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id      INTEGER REFERENCES agents (id),
    is_admin      BOOLEAN NOT NULL DEFAULT 0,
    -- the first characters of the key, shown in listings; the key itself is never stored
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT,
    CHECK (is_admin OR agent_id IS NOT NULL)
);

CREATE TABLE connection_access (
    agent_id       INTEGER NOT NULL REFERENCES agents (id),
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    level          TEXT NOT NULL CHECK (level IN ('read', 'read_modify')),
    PRIMARY KEY (agent_id, connection_id)
);

CREATE TABLE delegated_tokens (
    connection_id  TEXT PRIMARY KEY REFERENCES connections (id),
    -- the refresh token, encrypted (AEAD); never stored in plain text
    ciphertext     BLOB NOT NULL,
    nonce          BLOB NOT NULL,
    key_id         TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    acquired_at  TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
