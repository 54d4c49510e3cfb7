-- Licences as Graph's subscribedSkus has them: units in their grace period (`warning`) and
-- suspended beside enabled and consumed, the SKU's capability status, and when the tenant stopped
-- listing it. An unsubscribed SKU is marked, not deleted: its links and history stay.
ALTER TABLE licences ADD COLUMN warning_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE licences ADD COLUMN suspended_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE licences ADD COLUMN capability_status TEXT NOT NULL DEFAULT 'Enabled';
ALTER TABLE licences ADD COLUMN unsubscribed_at TIMESTAMPTZ;
