// The run history's queries: `sync_runs` and the inbound log (the `run_log` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::ids::{ConnectionId, EntraId, RunId};
use crate::store::error::column;
use crate::store::rows::Column;
use crate::store::{InboundRow, LogQuery, RunEnd, RunLog, RunRow, StoreError};
use crate::vocab::{Action, NotificationKind, RunKind, RunStatus};

type Tx<'a> = sqlx::Transaction<'a, Db>;

#[derive(sqlx::FromRow)]
struct RunDbRow {
    id: i64,
    connection_id: String,
    kind: String,
    trigger: String,
    status: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    counts: Json<BTreeMap<String, u64>>,
    graph_requests: i64,
    graph_throttles: i64,
    error: Option<String>,
    approved_at: Option<DateTime<Utc>>,
    approved_by: Option<String>,
}

impl TryFrom<RunDbRow> for RunRow {
    type Error = StoreError;
    fn try_from(r: RunDbRow) -> Result<Self, StoreError> {
        Ok(RunRow {
            id: RunId(r.id),
            connection_id: column("sync_runs", "connection_id", &r.connection_id)?,
            kind: column("sync_runs", "kind", &r.kind)?,
            trigger: r.trigger,
            status: column("sync_runs", "status", &r.status)?,
            started_at: r.started_at,
            ended_at: r.ended_at,
            counts: r.counts.0,
            graph_requests: r.graph_requests,
            graph_throttles: r.graph_throttles,
            error: r.error,
            approved_at: r.approved_at,
            approved_by: r.approved_by,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LogDbRow {
    id: i64,
    run_id: Option<i64>,
    connection_id: String,
    source: String,
    logged_at: DateTime<Utc>,
    entra_id: Option<String>,
    upn: Option<String>,
    target: Option<String>,
    notification: String,
    matched: Json<Value>,
    action: String,
    changes: Json<Value>,
    message: Option<String>,
    agent_id: Option<i64>,
}

impl TryFrom<LogDbRow> for InboundRow {
    type Error = StoreError;
    fn try_from(r: LogDbRow) -> Result<Self, StoreError> {
        Ok(InboundRow {
            id: r.id,
            run_id: r.run_id.map(RunId),
            connection_id: column("inbound_log", "connection_id", &r.connection_id)?,
            source: r.source,
            logged_at: r.logged_at,
            entra_id: r.entra_id.map(EntraId),
            upn: r.upn,
            target: match r.target.as_deref() {
                Some(raw) => Some(column("inbound_log", "target", raw)?),
                None => None,
            },
            notification: column("inbound_log", "notification", &r.notification)?,
            matched: r.matched.0,
            action: column("inbound_log", "action", &r.action)?,
            changes: r.changes.0,
            message: r.message,
            agent_id: r.agent_id,
        })
    }
}

const RUN_COLUMNS: &str = "id, connection_id, kind, trigger, status, started_at, ended_at, counts, \
     graph_requests, graph_throttles, error, approved_at, approved_by";

pub(super) async fn insert_log(
    tx: &mut Tx<'_>,
    rows: &[InboundRow],
    run_id: Option<RunId>,
) -> Result<(), StoreError> {
    // A run's rows name no agent (only changes made through the API do): their statement leaves
    // `agent_id` to its default and keeps the shape runs have always written.
    let by_agent = rows.iter().any(|r| r.agent_id.is_some());
    let columns = if by_agent { 13 } else { 12 };
    for chunk in rows.chunks(D::rows_per_insert(columns)) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(if by_agent {
            "INSERT INTO inbound_log (run_id, connection_id, source, logged_at, entra_id, upn, target, notification, \
             matched, action, changes, message, agent_id) "
        } else {
            "INSERT INTO inbound_log (run_id, connection_id, source, logged_at, entra_id, upn, target, notification, \
             matched, action, changes, message) "
        });
        let mut values = vec![
            Column::int_or_null(chunk.iter().map(|r| run_id.or(r.run_id).map(|id| id.0))),
            Column::text(chunk.iter().map(|r| r.connection_id.as_str())),
            Column::text(chunk.iter().map(|r| r.source.as_str())),
            Column::Time(chunk.iter().map(|r| r.logged_at).collect()),
            Column::text_or_null(
                chunk
                    .iter()
                    .map(|r| r.entra_id.as_ref().map(EntraId::as_str)),
            ),
            Column::text_or_null(chunk.iter().map(|r| r.upn.as_deref())),
            Column::text_or_null(chunk.iter().map(|r| r.target.map(|t| t.as_str()))),
            Column::text(chunk.iter().map(|r| r.notification.as_str())),
            Column::json(chunk.iter().map(|r| &r.matched)),
            Column::text(chunk.iter().map(|r| r.action.as_str())),
            Column::json(chunk.iter().map(|r| &r.changes)),
            Column::text_or_null(chunk.iter().map(|r| r.message.as_deref())),
        ];
        if by_agent {
            values.push(Column::int_or_null(chunk.iter().map(|r| r.agent_id)));
        }
        D::push_rows(&mut insert, values);
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[async_trait]
impl RunLog for Backend {
    async fn start_run(
        &self,
        connection_id: &ConnectionId,
        kind: RunKind,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO sync_runs (connection_id, kind, trigger, status, started_at, counts) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(connection_id.as_str())
        .bind(kind.as_str())
        .bind(trigger)
        .bind(RunStatus::Running.as_str())
        .bind(now)
        .bind(Json(BTreeMap::<String, u64>::new()))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RunId(id))
    }

    async fn finish_run(
        &self,
        run_id: RunId,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE sync_runs SET status = $2, ended_at = $3, counts = $4, graph_requests = $5, graph_throttles = $6, \
             error = $7 WHERE id = $1",
        )
        .bind(run_id.0)
        .bind(end.status.as_str())
        .bind(now)
        .bind(Json(&end.counts))
        .bind(i64::try_from(end.graph_requests).unwrap_or(i64::MAX))
        .bind(i64::try_from(end.graph_throttles).unwrap_or(i64::MAX))
        .bind(&end.error)
        .execute(&mut *tx)
        .await?;
        if let Some(approved) = end.settles {
            sqlx::query(
                "UPDATE sync_runs SET status = $2 WHERE id = $1 AND status = $3 AND approved_at IS NOT NULL",
            )
            .bind(approved.0)
            .bind(RunStatus::Succeeded.as_str())
            .bind(RunStatus::Quarantined.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn runs(
        &self,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE ($1 IS NULL OR connection_id = $1) ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<RunDbRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(connection_id.map(ConnectionId::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(RunRow::try_from).collect()
    }

    async fn run(&self, run_id: RunId) -> Result<RunRow, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1");
        let row: Option<RunDbRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(run_id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(RunRow::try_from)
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?
    }

    async fn approve_run(
        &self,
        run_id: RunId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE sync_runs SET approved_at = $2, approved_by = $3 WHERE id = $1 AND status = $4 \
             AND approved_at IS NULL",
        )
        .bind(run_id.0)
        .bind(now)
        .bind(by)
        .bind(RunStatus::Quarantined.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "run {run_id} is not a quarantined run awaiting approval"
            )))
        }
    }

    async fn inbound_log(&self, query: &LogQuery) -> Result<Vec<InboundRow>, StoreError> {
        let rows: Vec<LogDbRow> = sqlx::query_as(
            "SELECT id, run_id, connection_id, source, logged_at, entra_id, upn, target, notification, matched, action, \
             changes, message, agent_id FROM inbound_log WHERE ($1 IS NULL OR connection_id = $1) AND ($2 IS NULL OR run_id = $2) \
             AND ($3 IS NULL OR lower(upn) = lower($3)) AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR logged_at >= $5) AND ($7 IS NULL OR id < $7) \
             AND ($8 IS NULL OR notification = $8) ORDER BY id DESC LIMIT $6",
        )
        .bind(query.connection_id.as_ref().map(ConnectionId::as_str))
        .bind(query.run_id.map(|id| id.0))
        .bind(&query.upn)
        .bind(query.action.map(Action::as_str))
        .bind(query.since)
        .bind(i64::from(query.limit.max(1)))
        .bind(query.before)
        .bind(query.notification.map(NotificationKind::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(InboundRow::try_from).collect()
    }

    async fn log(&self, rows: &[InboundRow]) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        insert_log(&mut tx, rows, None).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_inbound_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let pruned = sqlx::query("DELETE FROM inbound_log WHERE logged_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(pruned)
    }

    async fn interrupt_runs(
        &self,
        connection_id: &ConnectionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunId>, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE sync_runs SET status = $4, ended_at = $2, error = $3 \
             WHERE connection_id = $1 AND status = $5 RETURNING id",
        )
        .bind(connection_id.as_str())
        .bind(now)
        .bind(reason)
        .bind(RunStatus::Failed.as_str())
        .bind(RunStatus::Running.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(RunId).collect())
    }
}
