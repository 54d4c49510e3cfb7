// The scheduler's queries: triggers, run history and housekeeping.
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::ids::ConnectionId;
use crate::store::StoreError;
use crate::store::lease::LeaseInfo;
use crate::store::schedule::{ConnectionHealth, Housekept, RunHistory, Schedule, TakenTriggers};

/// The start of the connection's newest run matching `filter` (SQL over `kind` and `status`).
async fn last_start(
    pool: &sqlx::Pool<Db>,
    connection: &ConnectionId,
    filter: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let sql = format!(
        "SELECT started_at FROM sync_runs WHERE connection_id = $1 AND {filter} \
         ORDER BY started_at DESC LIMIT 1"
    );
    Ok(sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(connection.as_str())
        .fetch_optional(pool)
        .await?)
}

fn connection_id(raw: String) -> Result<ConnectionId, StoreError> {
    ConnectionId::parse(&raw).map_err(|e| {
        StoreError::Conflict(format!("sync_triggers.connection_id holds {raw:?}: {e}"))
    })
}

#[async_trait]
impl Schedule for Backend {
    async fn run_history(&self, connection: &ConnectionId) -> Result<RunHistory, StoreError> {
        let last_cycle = last_start(
            &self.pool,
            connection,
            "kind IN ('full', 'delta') AND status IN ('succeeded', 'quarantined', 'failed')",
        )
        .await?;
        let last_full = last_start(
            &self.pool,
            connection,
            "kind = 'full' AND status IN ('succeeded', 'quarantined')",
        )
        .await?;
        Ok(RunHistory {
            last_cycle,
            last_full,
        })
    }

    async fn request_sync(
        &self,
        connection: &ConnectionId,
        full: bool,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sync_triggers (connection_id, full_sync, requested_by, requested_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(connection.as_str())
        .bind(full)
        .bind(requested_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(
                format!("connection {connection:?} is not in the database (run `entra-sync check` or start the daemon once)"),
            ),
            e => e.into(),
        })?;
        tx.commit().await?;
        Ok(id)
    }

    async fn take_triggers(
        &self,
        connection: &ConnectionId,
    ) -> Result<Option<TakenTriggers>, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let mut taken: Vec<(i64, bool, String)> = sqlx::query_as(
            "DELETE FROM sync_triggers WHERE connection_id = $1 \
             RETURNING id, full_sync, requested_by",
        )
        .bind(connection.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if taken.is_empty() {
            return Ok(None);
        }
        taken.sort_unstable_by_key(|(id, ..)| *id);
        Ok(Some(TakenTriggers {
            full: taken.iter().any(|(_, full, _)| *full),
            requested_by: taken.into_iter().map(|(.., by)| by).collect(),
        }))
    }

    async fn triggered(&self) -> Result<Vec<ConnectionId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT connection_id FROM sync_triggers ORDER BY connection_id",
        )
        .fetch_all(&self.pool)
        .await?;
        ids.into_iter().map(connection_id).collect()
    }

    async fn housekeep(
        &self,
        log_before: DateTime<Utc>,
        batch: u32,
        reason: &str,
        lease_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Housekept, StoreError> {
        let mut done = Housekept::default();
        // Bounded deletes: a long backlog never holds the write lock (or bloats one
        // transaction) for long, and the syncs' writes get their turns in between.
        loop {
            let (_turn, mut tx) = self.begin_write().await?;
            let pruned = sqlx::query(
                "DELETE FROM inbound_log WHERE id IN \
                 (SELECT id FROM inbound_log WHERE logged_at < $1 ORDER BY logged_at LIMIT $2)",
            )
            .bind(log_before)
            .bind(i64::from(batch))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            done.pruned_log_rows += pruned;
            if pruned < u64::from(batch) {
                break;
            }
        }
        let (_turn, mut tx) = self.begin_write().await?;
        let finalise = format!(
            "UPDATE sync_runs SET status = 'failed', ended_at = $1, error = $2 \
             WHERE status = 'running' AND NOT EXISTS (SELECT 1 FROM leases \
             WHERE leases.name = 'connection:' || sync_runs.connection_id \
             AND leases.expires_at > {now_sql})",
            now_sql = D::NOW_SQL
        );
        done.finalised_runs = sqlx::query(AssertSqlSafe(finalise))
            .bind(now)
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let clear = format!(
            "DELETE FROM leases WHERE expires_at <= {}",
            D::EARLIER_SQL.replace("{seconds}", "$1")
        );
        done.cleared_leases = sqlx::query(AssertSqlSafe(clear))
            .bind(lease_grace.as_secs_f64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(done)
    }

    async fn connection_health(
        &self,
        connection: &ConnectionId,
        lease: &str,
    ) -> Result<ConnectionHealth, StoreError> {
        let row: Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
            "SELECT credential_expires_at, credential_checked_at, needs_authorisation \
             FROM connections WHERE id = $1",
        )
        .bind(connection.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((credential_expires_at, credential_checked_at, needs_authorisation)) = row else {
            return Err(StoreError::NotFound(format!("connection {connection}")));
        };
        #[allow(clippy::type_complexity, reason = "one row of the leases table")]
        let held: Option<(String, String, String, i64, i64, DateTime<Utc>, DateTime<Utc>)> =
            // Expiry by the database's clock, as leases are claimed.
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT name, holder, host, pid, token, acquired_at, expires_at FROM leases \
                 WHERE name = $1 AND expires_at > {}",
                D::NOW_SQL
            )))
            .bind(lease)
            .fetch_optional(&self.pool)
            .await?;
        Ok(ConnectionHealth {
            credential_expires_at,
            credential_checked_at,
            needs_authorisation,
            lease: held.map(
                |(name, holder, host, pid, token, acquired_at, expires_at)| LeaseInfo {
                    name,
                    holder,
                    host,
                    pid,
                    token,
                    acquired_at,
                    expires_at,
                },
            ),
        })
    }

    async fn set_credential_expiry(
        &self,
        connection: &ConnectionId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE connections SET credential_expires_at = $2, credential_checked_at = $3 \
             WHERE id = $1",
        )
        .bind(connection.as_str())
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_needs_authorisation(
        &self,
        connection: &ConnectionId,
        needed: bool,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE connections SET needs_authorisation = $2 WHERE id = $1")
            .bind(connection.as_str())
            .bind(needed)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
