//! What the API sends and receives, as types: the handlers build these, serde writes them, and
//! the OpenAPI description (`/api/openapi.json`) is derived from the same types, so the two
//! cannot drift. They are the API's contract, kept apart from the store's rows on purpose: a
//! column added to a table does not change the API by accident.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::service::{
    AccessGrant, ConnectionStatus, InboundRow, Licence, LicenceImport, RunRow, Verdict,
};
use crate::vocab::AccessLevel;

/// What a caller may do with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Status, runs, the inbound log, the preview and the online check.
    Read,
    /// Also sync, delta reset, approval, authorisation and keep-active.
    ReadModify,
}

impl From<AccessLevel> for Level {
    fn from(level: AccessLevel) -> Self {
        match level {
            AccessLevel::Read => Level::Read,
            AccessLevel::ReadModify => Level::ReadModify,
        }
    }
}

impl From<Level> for AccessLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Read => AccessLevel::Read,
            Level::ReadModify => AccessLevel::ReadModify,
        }
    }
}

/// The error shape of every failed call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthenticated`, `forbidden`, `not_found`, `conflict`, `bad_request`, `too_large`,
    /// `unsupported_media_type`, `not_enabled`, `busy`, `graph`, `sign_in` or `internal`.
    pub code: String,
    /// What to do about it.
    pub message: String,
}

/// One connection the caller can see.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionEntry {
    /// Its id.
    pub id: String,
    /// What the caller may do with it.
    pub access: Level,
    /// The scheduler runs it on this instance.
    pub enabled_here: bool,
}

/// `GET /api/connections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// The connections the caller can see.
    pub connections: Vec<ConnectionEntry>,
}

/// One run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    /// Its id.
    pub id: i64,
    /// The connection.
    pub connection_id: String,
    /// `full`, `delta`, `import`, `remap` or `approval`.
    pub kind: String,
    /// What started it.
    pub trigger: String,
    /// `running`, `succeeded`, `failed`, `quarantined` or `cancelled`.
    pub status: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// People per inbound-log action.
    pub counts: BTreeMap<String, u64>,
    /// Graph requests made.
    pub graph_requests: i64,
    /// Throttled Graph answers.
    pub graph_throttles: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When its held-back deactivations were approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// Who approved them.
    pub approved_by: Option<String>,
}

impl From<RunRow> for Run {
    fn from(r: RunRow) -> Self {
        Run {
            id: r.id.0,
            connection_id: r.connection_id.to_string(),
            kind: r.kind.to_string(),
            trigger: r.trigger,
            status: r.status.to_string(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            counts: r.counts,
            graph_requests: r.graph_requests,
            graph_throttles: r.graph_throttles,
            error: r.error,
            approved_at: r.approved_at,
            approved_by: r.approved_by,
        }
    }
}

/// `GET /api/connections/{id}/runs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<Run>,
}

/// `GET /api/connections/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// The connection.
    pub id: String,
    /// The scheduler runs it on this instance.
    pub enabled_here: bool,
    /// When its last finished delta or full run started.
    pub last_cycle: Option<DateTime<Utc>>,
    /// When its last successful full run started.
    pub last_full: Option<DateTime<Utc>>,
    /// Its newest run.
    pub last_run: Option<Run>,
    /// When its next cycle is due.
    pub next_run: DateTime<Utc>,
    /// `none`, `ready` or `round_under_way`.
    pub delta: String,
    /// Who holds its lease now.
    pub lease_holder: Option<String>,
    /// It waits for an admin to authorise it again.
    pub needs_authorisation: bool,
    /// When its secret or certificate stops working.
    pub credential_expires_at: Option<DateTime<Utc>>,
}

impl From<ConnectionStatus> for Status {
    fn from(s: ConnectionStatus) -> Self {
        Status {
            id: s.id,
            enabled_here: s.enabled_here,
            last_cycle: s.last_cycle,
            last_full: s.last_full,
            last_run: s.last_run.map(Run::from),
            next_run: s.next_run,
            delta: s.delta.to_owned(),
            lease_holder: s.lease_holder,
            needs_authorisation: s.needs_authorisation,
            credential_expires_at: s.credential_expires_at,
        }
    }
}

/// One inbound-log row: what happened (or would happen) to one person.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogRow {
    /// Row id (0 in a preview).
    pub id: i64,
    /// The run.
    pub run_id: Option<i64>,
    /// The connection.
    pub connection_id: String,
    /// `integrator`, `import`, `manual`, `cli` or `api`.
    pub source: String,
    /// When.
    pub logged_at: DateTime<Utc>,
    /// The person's Entra object id.
    pub entra_id: Option<String>,
    /// Their UPN.
    pub upn: Option<String>,
    /// `user` or `agent`; none on a run's warning rows.
    pub target: Option<String>,
    /// What the person was evaluated for.
    pub notification: String,
    /// The mappings that matched (site mapping, roles, teams, CABs).
    pub matched: Value,
    /// The action.
    pub action: String,
    /// Field changes, before and after.
    pub changes: Value,
    /// A sentence.
    pub message: Option<String>,
}

impl From<InboundRow> for LogRow {
    fn from(r: InboundRow) -> Self {
        LogRow {
            id: r.id,
            run_id: r.run_id.map(|id| id.0),
            connection_id: r.connection_id.to_string(),
            source: r.source,
            logged_at: r.logged_at,
            entra_id: r.entra_id.map(|id| id.to_string()),
            upn: r.upn,
            target: r.target.map(|t| t.to_string()),
            notification: r.notification.to_string(),
            matched: r.matched,
            action: r.action.to_string(),
            changes: r.changes,
            message: r.message,
        }
    }
}

/// `GET /api/connections/{id}/log`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    /// Newest first.
    pub rows: Vec<LogRow>,
    /// The `before` of the next page, when there may be one.
    pub next: Option<i64>,
}

/// `GET /api/connections/{id}/preview`: a page of a computed preview (`state` `ready`, status
/// 200), or word that it is still being computed (`state` `computing`, status 202, no rows) or
/// waits for a run of the connection to end (`waiting_for_run`, status 202, no rows).
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewPage {
    /// `ready` or `computing`.
    pub state: PreviewState,
    /// When the tenant was read for this preview (`ready`). Pages of one preview come from the
    /// same reading; it is read again after five minutes, or once a run of the connection has
    /// started or ended.
    pub read_at: Option<DateTime<Utc>>,
    /// Since when it has been computed (`computing`): ask again in a few seconds.
    pub computing_since: Option<DateTime<Utc>>,
    /// The run of the connection under way (`waiting_for_run`): the preview is computed once it
    /// has ended.
    pub waiting_for_run: Option<i64>,
    /// How many people match the filters.
    pub total: u64,
    /// This page.
    pub rows: Vec<LogRow>,
    /// The `offset` of the next page, when there is one.
    pub next: Option<u64>,
}

/// A permission and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Permission {
    /// Its name.
    pub permission: String,
    /// What needs it, or what it would add.
    pub why: String,
}

/// An attribute delta queries cannot track.
#[derive(Debug, Serialize, ToSchema)]
pub struct Untracked {
    /// The attribute.
    pub attribute: String,
    /// Where the configuration uses it.
    pub used_in: String,
}

/// `GET /api/connections/{id}/check`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// The connection.
    pub connection: String,
    /// It can sync as configured.
    pub can_sync: bool,
    /// Why it cannot sync at all.
    pub failure: Option<String>,
    /// Permissions granted.
    pub granted: Vec<String>,
    /// Needed permissions not granted.
    pub missing: Vec<Permission>,
    /// Attributes fetched outside delta queries.
    pub untracked: Vec<Untracked>,
    /// Optional permissions not granted, and what each would add.
    pub optional: Vec<Permission>,
}

impl From<Verdict> for Check {
    fn from(v: Verdict) -> Self {
        let can_sync = v.can_sync();
        let permissions = |list: Vec<(String, String)>| {
            list.into_iter()
                .map(|(permission, why)| Permission { permission, why })
                .collect()
        };
        Check {
            connection: v.connection,
            can_sync,
            failure: v.failure,
            granted: v.granted,
            missing: permissions(v.missing),
            untracked: v
                .untracked
                .into_iter()
                .map(|(attribute, used_in)| Untracked { attribute, used_in })
                .collect(),
            optional: permissions(v.optional),
        }
    }
}

/// `POST /api/connections/{id}/sync`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// `delta` or `full`.
    pub kind: SyncKind,
}

/// Which run to ask for.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// A delta cycle.
    Delta,
    /// A full reconciliation.
    Full,
}

/// The answer to `sync`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Triggered {
    /// The request's id.
    pub trigger: i64,
}

/// The answer to `approve`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    /// The approval run.
    pub run: Option<i64>,
    /// How it ended.
    pub status: String,
    /// People per action.
    pub counts: BTreeMap<String, u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// `POST /api/connections/{id}/delta-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeltaResetBody {
    /// `clear` (the next run reads everyone) or `latest` (from now on, skipping what changed).
    pub mode: DeltaMode,
}

/// How to reset.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeltaMode {
    /// Forget the delta links.
    Clear,
    /// Fetch fresh links from now.
    Latest,
}

/// The answer to `delta-reset`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeltaResetDone {
    /// What was done.
    pub mode: DeltaMode,
    /// How many links were forgotten (`clear`).
    pub links_forgotten: Option<u64>,
}

/// `POST /api/connections/{id}/keep-active`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepActiveBody {
    /// The person's UPN or login.
    pub upn: String,
    /// Keep them active whatever Entra says.
    pub keep_active: bool,
}

/// The answer to `keep-active`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeepActiveDone {
    /// Their user record.
    pub user_id: i64,
    /// Their agent record.
    pub agent_id: Option<i64>,
    /// A flag changed (an inbound-log row says so).
    pub changed: bool,
}

/// One agent's grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    /// The agent.
    pub agent_id: i64,
    /// Its email.
    pub agent_email: Option<String>,
    /// What it may do.
    pub level: Level,
}

impl From<AccessGrant> for Grant {
    fn from(g: AccessGrant) -> Self {
        Grant {
            agent_id: g.agent_id,
            agent_email: g.agent_email,
            level: g.level.into(),
        }
    }
}

/// `GET /api/connections/{id}/access`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessList {
    /// By agent email.
    pub access: Vec<Grant>,
}

/// `PUT /api/connections/{id}/access/{email}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// What the agent may do.
    pub level: Level,
}

/// The answer to a grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Granted {
    /// The agent's email.
    pub agent: String,
    /// What it may do now.
    pub level: Level,
}

/// The answer to `authorize`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInUrl {
    /// Entra's sign-in URL, for a browser; it works once.
    pub url: String,
    /// It stops working then.
    pub expires_at: DateTime<Utc>,
    /// Where Entra sends the browser back (register it on the app as a Web redirect URI).
    pub redirect_uri: String,
}

/// `GET /api/connections/{id}/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// How many runs (1–1000, default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /api/connections/{id}/log`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// The person's UPN.
    pub user: Option<String>,
    /// One inbound-log action.
    pub action: Option<String>,
    /// One run.
    pub run: Option<i64>,
    /// An RFC 3339 time or a duration back from now (`2h`, `7d`).
    pub since: Option<String>,
    /// Rows older than this row id (the previous page's `next`).
    pub before: Option<i64>,
    /// Rows per page (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `GET /api/connections/{id}/preview`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// Which records: `users`, `agents` or `all` (default).
    pub records: Option<Records>,
    /// Part of the UPN, any case.
    pub person: Option<String>,
    /// One planned action.
    pub action: Option<String>,
    /// Skip this many rows.
    pub offset: Option<u32>,
    /// Rows per page (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl PreviewPage {
    /// No rows, in no state yet: the base the answers fill in.
    pub(super) fn empty() -> Self {
        Self {
            state: PreviewState::Computing,
            read_at: None,
            computing_since: None,
            waiting_for_run: None,
            total: 0,
            rows: Vec::new(),
            next: None,
        }
    }
}

/// Whether a preview is ready.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewState {
    /// Computed: the page has its rows.
    Ready,
    /// Still being computed.
    Computing,
    /// Not computed while a run of the connection is under way.
    WaitingForRun,
}

/// Which records a preview covers.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Records {
    /// User records.
    Users,
    /// Agent records.
    Agents,
    /// Both.
    All,
}

/// One licence (a subscribed SKU of the tenant).
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenceEntry {
    /// Graph's `skuId`.
    pub sku_id: String,
    /// `skuPartNumber` (`SPE_E3`).
    pub part_number: String,
    /// Microsoft's product name ("Microsoft 365 E3"), or the part number when unknown.
    pub display_name: String,
    /// Units that can be assigned.
    pub enabled_units: i64,
    /// Units in their grace period.
    pub warning_units: i64,
    /// Suspended units.
    pub suspended_units: i64,
    /// Units assigned.
    pub consumed_units: i64,
    /// `Enabled`, `Warning`, `Suspended`, `Deleted` or `LockedOut`.
    pub capability_status: String,
    /// When the tenant stopped listing it.
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

impl From<Licence> for LicenceEntry {
    fn from(l: Licence) -> Self {
        LicenceEntry {
            sku_id: l.sku_id,
            part_number: l.part_number,
            display_name: l.display_name,
            enabled_units: l.enabled_units,
            warning_units: l.warning_units,
            suspended_units: l.suspended_units,
            consumed_units: l.consumed_units,
            capability_status: l.capability_status,
            unsubscribed_at: l.unsubscribed_at,
        }
    }
}

/// `GET /api/connections/{id}/licences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenceList {
    /// By SKU id.
    pub licences: Vec<LicenceEntry>,
}

/// The answer to `licences/import`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicencesImported {
    /// SKUs imported.
    pub skus: u64,
    /// Licences newly marked as no longer subscribed.
    pub unsubscribed: u64,
}

impl From<LicenceImport> for LicencesImported {
    fn from(i: LicenceImport) -> Self {
        LicencesImported {
            skus: i.skus as u64,
            unsubscribed: i.unsubscribed,
        }
    }
}
