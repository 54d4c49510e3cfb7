-- Delegated sign-ins under way ("Sign in with Microsoft"). A row is created when an operator asks
-- for the /authorize URL and used once, by the callback that brings the code back. The `state`
-- sent to Entra is stored only as its SHA-256 digest, and the PKCE verifier only sealed (AEAD,
-- bound to the connection), so a reader of this table can neither forge a callback nor redeem a
-- code. `key_id` is the API key that asked (NULL: the command line); the callback checks that it
-- may still change the connection.
CREATE TABLE sign_ins (
    digest              TEXT PRIMARY KEY,
    connection_id       TEXT NOT NULL REFERENCES connections (id),
    key_id              BIGINT REFERENCES api_keys (id),
    caller              TEXT NOT NULL,
    tenant_id           TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    redirect_uri        TEXT NOT NULL,
    verifier_ciphertext BYTEA NOT NULL,
    verifier_nonce      BYTEA NOT NULL,
    verifier_key_id     TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL,
    used_at             TIMESTAMPTZ,
    -- NULL while pending; `signed_in`, or why it failed, once the callback has run
    outcome             TEXT
);

-- What the daemon knows of a connection beside its runs, for its status: when its secret or
-- certificate expires (read from Graph, or `auth.expires`), when that was last looked up, and
-- whether it waits for an admin to authorise it again.
ALTER TABLE connections ADD COLUMN credential_expires_at TIMESTAMPTZ;
ALTER TABLE connections ADD COLUMN credential_checked_at TIMESTAMPTZ;
ALTER TABLE connections ADD COLUMN needs_authorisation BOOLEAN NOT NULL DEFAULT FALSE;
