-- A run holds its connection's lease (`connection:<id>`) for its whole duration, so that two runs
-- of one connection never interleave, whatever process or replica starts them.
--
-- `token` grows by one with every acquisition and is never reset (a released lease keeps its row,
-- expired): each write transaction of a run checks that the row still carries its own holder and
-- token (a fencing token), so a run that lost its lease while paused writes nothing more.
-- `holder` is unique per acquisition; `host` and `pid` say where it runs. Times are the
-- database's clock, the one clock every replica shares.
ALTER TABLE leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN pid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN renewed_at TIMESTAMPTZ;

-- An agent's line manager by the manager's Entra object id: the person the mapping names, whether
-- or not their agent exists yet. `linemanager_id` is linked from it as soon as that agent exists
-- (when the agent is written, and in the transaction that creates or adopts the manager's agent),
-- so neither the order people are evaluated in nor a crash leaves a line manager unlinked.
ALTER TABLE agents ADD COLUMN linemanager_entra_id TEXT;
UPDATE agents SET linemanager_entra_id = (SELECT m.entra_id FROM agents m WHERE m.id = agents.linemanager_id)
    WHERE linemanager_id IS NOT NULL AND entra_id IS NOT NULL;
CREATE INDEX agents_linemanager_entra_idx ON agents (connection_id, linemanager_entra_id)
    WHERE linemanager_entra_id IS NOT NULL;
