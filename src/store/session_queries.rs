// The status page's sessions (the `sessions` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::StoreError;
use crate::store::sessions::{NewPageSession, PageSessionRow, PageSessions};

#[derive(sqlx::FromRow)]
struct SessionColumns {
    key_id: i64,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[async_trait]
impl PageSessions for Backend {
    async fn create_page_session(
        &self,
        session: &NewPageSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM page_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO page_sessions (digest, key_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.digest)
        .bind(session.key_id)
        .bind(now)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn page_session(&self, digest: &str) -> Result<Option<PageSessionRow>, StoreError> {
        let row: Option<SessionColumns> = sqlx::query_as(
            "SELECT key_id, created_at, expires_at FROM page_sessions WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| PageSessionRow {
            key_id: r.key_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }

    async fn end_page_session(&self, digest: &str) -> Result<bool, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let ended = sqlx::query("DELETE FROM page_sessions WHERE digest = $1")
            .bind(digest)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(ended > 0)
    }
}
