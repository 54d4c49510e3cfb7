// The admin API's keys and per-connection access (the `access` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::ConnectionId;
use crate::store::Access;
use crate::store::SealedToken;
use crate::store::StoreError;
use crate::store::access::{AccessGrant, AgentAccess, ApiKeyRow, NewApiKey, NewSignIn, SignInRow};
use crate::store::error::column;
use crate::vocab::AccessLevel;

/// A key's last use is recorded to this grain.
const LAST_USE_GRAIN: chrono::Duration = chrono::Duration::minutes(1);

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    agent_id: Option<i64>,
    agent_email: Option<String>,
    is_admin: bool,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for ApiKeyRow {
    fn from(r: KeyRow) -> Self {
        ApiKeyRow {
            id: r.id,
            agent_id: r.agent_id,
            agent_email: r.agent_email,
            is_admin: r.is_admin,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SignInColumns {
    digest: String,
    connection_id: String,
    key_id: Option<i64>,
    caller: String,
    tenant_id: String,
    client_id: String,
    redirect_uri: String,
    verifier_ciphertext: Vec<u8>,
    verifier_nonce: Vec<u8>,
    verifier_key_id: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
}

impl SignInColumns {
    fn into_row(self) -> Result<SignInRow, StoreError> {
        Ok(SignInRow {
            sign_in: NewSignIn {
                digest: self.digest,
                connection: column("sign_ins", "connection_id", &self.connection_id)?,
                key_id: self.key_id,
                caller: self.caller,
                tenant_id: self.tenant_id,
                client_id: self.client_id,
                redirect_uri: self.redirect_uri,
                verifier: SealedToken {
                    ciphertext: self.verifier_ciphertext,
                    nonce: self.verifier_nonce,
                    key_id: self.verifier_key_id,
                },
                expires_at: self.expires_at,
            },
            created_at: self.created_at,
            used_at: self.used_at,
            outcome: self.outcome,
        })
    }
}

const SIGN_IN_COLUMNS: &str = "digest, connection_id, key_id, caller, tenant_id, client_id, \
     redirect_uri, verifier_ciphertext, verifier_nonce, verifier_key_id, created_at, expires_at, \
     used_at, outcome";

const KEY_COLUMNS: &str = "k.id, k.agent_id, a.emailaddress AS agent_email, k.is_admin, k.prefix, \
     k.created_at, k.expires_at, k.revoked_at, k.last_used_at";

#[async_trait]
impl Access for Backend {
    async fn create_api_key(&self, key: &NewApiKey, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO api_keys (agent_id, is_admin, prefix, hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(key.agent_id)
        .bind(key.is_admin)
        .bind(&key.prefix)
        .bind(&key.digest)
        .bind(now)
        .bind(key.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id \
             ORDER BY k.id DESC"
        );
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(ApiKeyRow::from).collect())
    }

    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(revoked == 1)
    }

    async fn use_api_key(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id \
             WHERE k.hash = $1"
        );
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        let Some(mut row) = row.map(ApiKeyRow::from) else {
            return Ok(None);
        };
        let stale_before = now - LAST_USE_GRAIN;
        if row.last_used_at.is_none_or(|at| at <= stale_before) {
            // A write once a minute per key, not one per call: calls at the same moment would
            // otherwise queue behind each other's commits on the key's row.
            let (_turn, mut tx) = self.begin_write().await?;
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(row.id)
            .bind(now)
            .bind(stale_before)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            row.last_used_at = Some(now);
        }
        Ok(Some(row))
    }

    async fn agent_by_email(&self, email: &str) -> Result<Option<(i64, bool)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, can_configure_entra FROM agents WHERE lower(emailaddress) = lower($1) \
             ORDER BY id LIMIT 1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_can_configure(&self, agent_id: i64, on: bool) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let updated = sqlx::query("UPDATE agents SET can_configure_entra = $2 WHERE id = $1")
            .bind(agent_id)
            .bind(on)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("agent {agent_id}")))
        }
    }

    async fn agent_access(&self, agent_id: i64) -> Result<AgentAccess, StoreError> {
        let can_configure: Option<bool> =
            sqlx::query_scalar("SELECT can_configure_entra FROM agents WHERE id = $1")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await?;
        let can_configure =
            can_configure.ok_or_else(|| StoreError::NotFound(format!("agent {agent_id}")))?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT connection_id, level FROM connection_access WHERE agent_id = $1 \
             ORDER BY connection_id",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        let grants = rows
            .into_iter()
            .map(|(connection, level)| {
                Ok((
                    column("connection_access", "connection_id", &connection)?,
                    column("connection_access", "level", &level)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(AgentAccess {
            can_configure,
            grants,
        })
    }

    async fn grant_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
        level: AccessLevel,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO connection_access (agent_id, connection_id, level) VALUES ($1, $2, $3) \
             ON CONFLICT (agent_id, connection_id) DO UPDATE SET level = excluded.level",
        )
        .bind(agent_id)
        .bind(connection.as_str())
        .bind(level.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
    ) -> Result<bool, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let removed =
            sqlx::query("DELETE FROM connection_access WHERE agent_id = $1 AND connection_id = $2")
                .bind(agent_id)
                .bind(connection.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(removed == 1)
    }

    async fn access_list(&self, connection: &ConnectionId) -> Result<Vec<AccessGrant>, StoreError> {
        let rows: Vec<(i64, Option<String>, String)> = sqlx::query_as(
            "SELECT g.agent_id, a.emailaddress, g.level FROM connection_access g \
             JOIN agents a ON a.id = g.agent_id WHERE g.connection_id = $1 ORDER BY a.emailaddress",
        )
        .bind(connection.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(agent_id, agent_email, level)| {
                Ok(AccessGrant {
                    agent_id,
                    agent_email,
                    level: column("connection_access", "level", &level)?,
                })
            })
            .collect()
    }

    async fn create_sign_in(
        &self,
        sign_in: &NewSignIn,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_ins WHERE expires_at < $1")
            .bind(now - chrono::Duration::days(1))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_ins (digest, connection_id, key_id, caller, tenant_id, client_id, \
             redirect_uri, verifier_ciphertext, verifier_nonce, verifier_key_id, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&sign_in.digest)
        .bind(sign_in.connection.as_str())
        .bind(sign_in.key_id)
        .bind(&sign_in.caller)
        .bind(&sign_in.tenant_id)
        .bind(&sign_in.client_id)
        .bind(&sign_in.redirect_uri)
        .bind(&sign_in.verifier.ciphertext)
        .bind(&sign_in.verifier.nonce)
        .bind(&sign_in.verifier.key_id)
        .bind(now)
        .bind(sign_in.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_sign_in(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SignInRow, bool)>, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        // The update decides who uses it first, on both backends, whatever runs beside it.
        let first =
            sqlx::query("UPDATE sign_ins SET used_at = $2 WHERE digest = $1 AND used_at IS NULL")
                .bind(digest)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        let sql = format!("SELECT {SIGN_IN_COLUMNS} FROM sign_ins WHERE digest = $1");
        let row: Option<SignInColumns> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| {
            let mut row = r.into_row()?;
            if first {
                row.used_at = None;
            }
            Ok((row, first))
        })
        .transpose()
    }

    async fn finish_sign_in(&self, digest: &str, outcome: &str) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE sign_ins SET outcome = $2 WHERE digest = $1")
            .bind(digest)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in(&self, digest: &str) -> Result<Option<SignInRow>, StoreError> {
        let sql = format!("SELECT {SIGN_IN_COLUMNS} FROM sign_ins WHERE digest = $1");
        let row: Option<SignInColumns> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(SignInColumns::into_row).transpose()
    }
}
