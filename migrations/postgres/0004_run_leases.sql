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
