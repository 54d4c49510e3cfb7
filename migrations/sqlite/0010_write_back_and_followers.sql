-- SQLite dialect of migrations/postgres/0010. Licence write-back and distribution groups as
-- ticket followers.
-- - The inbound log records changes made through the admin API with source 'api', the agent whose
--   key made them (none for an admin key), and licence changes as notification 'licence'.
--   SQLite cannot alter a CHECK constraint: the table is rebuilt as in 0005 (create the new
--   shape, copy, drop, rename, recreate the indexes).
-- - The mirror keeps whether a group is mail-enabled beside its address, for the followers picker.
CREATE TABLE inbound_log_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER REFERENCES sync_runs (id),
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    source         TEXT NOT NULL CHECK (source IN ('integrator', 'import', 'manual', 'cli', 'api')),
    logged_at      TEXT NOT NULL,
    entra_id       TEXT,
    upn            TEXT,
    target         TEXT CHECK (target IN ('user', 'agent')),
    -- 'warning' rows concern the run, not a person (e.g. a configured group that did not resolve)
    notification   TEXT NOT NULL CHECK (notification IN ('created', 'updated', 'removed-changed', 'removed-deleted', 'full-pass', 'warning', 'licence')),
    matched        TEXT NOT NULL DEFAULT '{}',
    action         TEXT NOT NULL CHECK (action IN ('created', 'updated', 'unchanged', 'deactivated', 'reactivated', 'out-of-scope', 'conflict', 'quarantined', 'error')),
    changes        TEXT NOT NULL DEFAULT '[]',
    message        TEXT,
    -- the agent whose API key made the change (source 'api'; none for an admin key)
    agent_id       INTEGER REFERENCES agents (id)
);
INSERT INTO inbound_log_new (id, run_id, connection_id, source, logged_at, entra_id, upn, target,
                             notification, matched, action, changes, message)
    SELECT id, run_id, connection_id, source, logged_at, entra_id, upn, target,
           notification, matched, action, changes, message
    FROM inbound_log;
-- Ids are never reused: the new table continues from the old one's highest id ever issued, which
-- may exceed the highest id left after pruning.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'inbound_log')
    WHERE name = 'inbound_log_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbound_log');
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'inbound_log_new', seq FROM sqlite_sequence
    WHERE name = 'inbound_log' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbound_log_new');
DROP TABLE inbound_log;
ALTER TABLE inbound_log_new RENAME TO inbound_log;
CREATE INDEX inbound_log_connection_idx ON inbound_log (connection_id, logged_at);
CREATE INDEX inbound_log_run_idx ON inbound_log (run_id);
CREATE INDEX inbound_log_entra_idx ON inbound_log (connection_id, entra_id);
CREATE INDEX inbound_log_upn_idx ON inbound_log (lower(upn));
CREATE INDEX inbound_log_logged_idx ON inbound_log (logged_at);
ALTER TABLE entra_groups ADD COLUMN mail_enabled BOOLEAN;
