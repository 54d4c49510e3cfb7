-- SQLite dialect of migrations/postgres/0007.
-- The admin API's keys may expire. A key is stored as the SHA-256 digest of the key (`hash`),
-- never as the key; `prefix` is what listings show of it.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
