-- Licence write-back and distribution groups as ticket followers.
-- - The inbound log records changes made through the admin API with source 'api', the agent whose
--   key made them (none for an admin key), and licence changes as notification 'licence'.
-- - The mirror keeps whether a group is mail-enabled beside its address, for the followers picker.
ALTER TABLE inbound_log DROP CONSTRAINT inbound_log_source_check;
ALTER TABLE inbound_log ADD CONSTRAINT inbound_log_source_check
    CHECK (source IN ('integrator', 'import', 'manual', 'cli', 'api'));
ALTER TABLE inbound_log DROP CONSTRAINT inbound_log_notification_check;
ALTER TABLE inbound_log ADD CONSTRAINT inbound_log_notification_check
    CHECK (notification IN ('created', 'updated', 'removed-changed', 'removed-deleted', 'full-pass', 'warning', 'licence'));
ALTER TABLE inbound_log ADD COLUMN agent_id BIGINT REFERENCES agents (id);
ALTER TABLE entra_groups ADD COLUMN mail_enabled BOOLEAN;
