//! The run history half of the store: `sync_runs`, one row per run with its outcome and counts,
//! and the inbound log, one row per processed notification.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::StoreError;
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::vocab::{Action, NotificationKind, RecordKind, RunKind, RunStatus};

/// A `sync_runs` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Run id.
    pub id: RunId,
    /// Connection.
    pub connection_id: ConnectionId,
    /// Kind.
    pub kind: RunKind,
    /// What started it (`cli`, `schedule`, `api`, …).
    pub trigger: String,
    /// Status.
    pub status: RunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Counts per action.
    pub counts: BTreeMap<String, u64>,
    /// Graph requests made.
    pub graph_requests: i64,
    /// Throttled answers.
    pub graph_throttles: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When an operator approved its quarantined deactivations.
    pub approved_at: Option<DateTime<Utc>>,
    /// Who approved them.
    pub approved_by: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// Final status.
    pub status: RunStatus,
    /// Counts per action.
    pub counts: BTreeMap<String, u64>,
    /// Graph requests.
    pub graph_requests: u64,
    /// Throttled answers.
    pub graph_throttles: u64,
    /// Error text.
    pub error: Option<String>,
    /// An approved quarantined run this run applied: it is recorded as succeeded with it.
    pub settles: Option<RunId>,
}

/// One inbound-log row: one per processed notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundRow {
    /// Row id (0 before insertion).
    pub id: i64,
    /// The run.
    pub run_id: Option<RunId>,
    /// Connection.
    pub connection_id: ConnectionId,
    /// `integrator`, `import`, `manual`, `cli` or `api`.
    pub source: String,
    /// When.
    pub logged_at: DateTime<Utc>,
    /// Entra object id.
    pub entra_id: Option<EntraId>,
    /// UPN.
    pub upn: Option<String>,
    /// The record the row is about (none on a run's warning rows).
    pub target: Option<RecordKind>,
    /// What the person was evaluated for, or a warning of the run.
    pub notification: NotificationKind,
    /// Matched mappings (site mapping, roles, teams, CABs).
    pub matched: Value,
    /// What happened.
    pub action: Action,
    /// Field changes, before → after.
    pub changes: Value,
    /// A sentence.
    pub message: Option<String>,
    /// The agent whose API key made the change (source `api`; none for an admin key).
    pub agent_id: Option<i64>,
}

/// Filters for reading the inbound log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this connection.
    pub connection_id: Option<ConnectionId>,
    /// Only this run.
    pub run_id: Option<RunId>,
    /// UPN (case-insensitive).
    pub upn: Option<String>,
    /// Action.
    pub action: Option<Action>,
    /// Only rows answering this notification.
    pub notification: Option<NotificationKind>,
    /// Not before.
    pub since: Option<DateTime<Utc>>,
    /// Only rows older than this row id (the cursor of the previous page).
    pub before: Option<i64>,
    /// At most this many rows (newest first).
    pub limit: u32,
}

/// Runs and the inbound log. Every method is one transaction.
#[async_trait]
pub trait RunLog: Send + Sync + std::fmt::Debug {
    /// Starts a run row.
    async fn start_run(
        &self,
        connection_id: &ConnectionId,
        kind: RunKind,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<RunId, StoreError>;

    /// Ends a run row.
    async fn finish_run(
        &self,
        run_id: RunId,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Runs, newest first.
    async fn runs(
        &self,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError>;

    /// One run.
    async fn run(&self, run_id: RunId) -> Result<RunRow, StoreError>;

    /// Records an operator's approval of a quarantined run.
    async fn approve_run(
        &self,
        run_id: RunId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Inbound-log rows, newest first.
    async fn inbound_log(&self, query: &LogQuery) -> Result<Vec<InboundRow>, StoreError>;

    /// Writes log rows outside a batch (run warnings).
    async fn log(&self, rows: &[InboundRow]) -> Result<(), StoreError>;

    /// Marks the connection's runs still recorded `running` as failed, with `reason`; returns
    /// their ids. Called by a run that holds the connection's lease: any other run recorded as
    /// running then lost its holder (killed, or its lease taken over).
    async fn interrupt_runs(
        &self,
        connection_id: &ConnectionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunId>, StoreError>;

    /// Deletes inbound-log rows logged before `before` (`[inbound_log] retention`); returns how many.
    async fn prune_inbound_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
