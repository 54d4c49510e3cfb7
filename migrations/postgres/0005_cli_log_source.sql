-- The inbound log records changes made from the command line (`entra-sync keep-active`) with
-- source 'cli'.
ALTER TABLE inbound_log DROP CONSTRAINT inbound_log_source_check;
ALTER TABLE inbound_log ADD CONSTRAINT inbound_log_source_check
    CHECK (source IN ('integrator', 'import', 'manual', 'cli'));
