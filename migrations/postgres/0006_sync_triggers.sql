-- Operators' requests to sync a connection now (`entra-sync trigger`, the admin API). Any process
-- may add one; the run that next takes the connection's lease removes every request it serves,
-- so requests made while a run is under way become one follow-up run.
CREATE TABLE sync_triggers (
    id             BIGSERIAL PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES connections (id),
    full_sync      BOOLEAN NOT NULL,
    requested_by   TEXT NOT NULL,
    requested_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sync_triggers_connection_idx ON sync_triggers (connection_id);
-- The scheduler's lookups of a connection's last cycle and last full run.
CREATE INDEX sync_runs_schedule_idx ON sync_runs (connection_id, kind, status, started_at);
-- Housekeeping prunes the inbound log by age.
CREATE INDEX inbound_log_logged_idx ON inbound_log (logged_at);
