// The lease queries: claiming, renewing and releasing leases, and the write fence.
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::store::StoreError;
use crate::store::lease::{Claim, Lease, LeaseHolder, LeaseInfo};

#[derive(sqlx::FromRow)]
struct LeaseRow {
    name: String,
    holder: String,
    host: String,
    pid: i64,
    token: i64,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

fn later(seconds_param: &str) -> String {
    D::LATER_SQL.replace("{seconds}", seconds_param)
}

impl Backend {
    pub(super) async fn claim_lease(
        &self,
        name: &str,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        // A free name is inserted; an expired lease is taken over with the next token; a live
        // one is left alone (no row comes back).
        let sql = format!(
            "INSERT INTO leases (name, holder, host, pid, token, acquired_at, renewed_at, expires_at) \
             VALUES ($1, $2, $3, $4, 1, {now_sql}, {now_sql}, {later}) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host, \
             pid = excluded.pid, token = leases.token + 1, acquired_at = excluded.acquired_at, \
             renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= {now_sql} RETURNING token",
            now_sql = D::NOW_SQL,
            later = later("$5")
        );
        let token: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(name)
            .bind(&holder.id)
            .bind(&holder.host)
            .bind(i64::from(holder.pid))
            .bind(ttl.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(token) = token {
            return Ok(Claim::Acquired(Lease {
                name: name.to_owned(),
                holder: holder.id.clone(),
                token,
            }));
        }
        let row: Option<LeaseRow> = sqlx::query_as(
            "SELECT name, holder, host, pid, token, acquired_at, expires_at FROM leases WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Claim::Held(LeaseInfo {
                name: r.name,
                holder: r.holder,
                host: r.host,
                pid: r.pid,
                token: r.token,
                acquired_at: r.acquired_at,
                expires_at: r.expires_at,
            })),
            // Released and taken again between the two statements: the caller claims again.
            None => Err(StoreError::Conflict(format!(
                "the lease {name:?} changed hands while it was claimed"
            ))),
        }
    }

    pub(super) async fn renew_held_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE leases SET renewed_at = {now_sql}, expires_at = {later} \
             WHERE name = $1 AND holder = $2 AND token = $3",
            now_sql = D::NOW_SQL,
            later = later("$4")
        );
        let updated = sqlx::query(AssertSqlSafe(sql))
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.token)
            .bind(ttl.as_secs_f64())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    pub(super) async fn release_held_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        // The row stays, so the next acquisition's token is still larger than this one's.
        let sql = format!(
            "UPDATE leases SET expires_at = {now_sql} WHERE name = $1 AND holder = $2 AND token = $3",
            now_sql = D::NOW_SQL
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Inside a write transaction: fails with [`StoreError::LeaseLost`] unless the store's fence
    /// (if any) still holds. On PostgreSQL the check locks the lease row until the transaction
    /// ends, so nobody can take the lease over between the check and the commit.
    pub(super) async fn check_fence(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
    ) -> Result<(), StoreError> {
        let Some(lease) = &self.fence else {
            return Ok(());
        };
        let held: Option<i64> = sqlx::query_scalar(D::FENCE_SQL)
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.token)
            .fetch_optional(&mut **tx)
            .await?;
        match held {
            Some(_) => Ok(()),
            None => Err(StoreError::LeaseLost(lease.name.clone())),
        }
    }
}
