-- The status page's sign-in sessions. A session is opened with an API key and acts as that key
-- (`key_id`), so revoking or expiring the key ends it too. The session id the browser holds in
-- its cookie is stored only as its SHA-256 digest, as API keys are: a reader of this table cannot
-- sign in with what it reads.
CREATE TABLE page_sessions (
    digest     TEXT PRIMARY KEY,
    key_id     BIGINT NOT NULL REFERENCES api_keys (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX page_sessions_expires_at ON page_sessions (expires_at);
