//! The integration half of the store: delta state, the Entra mirror, the people snapshot a run
//! plans against, runs and the inbound log. What a batch writes is in [`writes`](super::writes).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::StoreError;
use super::keep_active::{KeepActiveChange, KeepActiveOutcome};
use super::lease::{Claim, Lease, LeaseHolder};
use super::records::{LicenceType, SealedToken, Source, TeamFlags, UserFields};
use super::writes::{Applied, ApplyBatch};
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::mirror::{GroupDelta, MirrorUser, Notification};
use crate::vocab::{Action, NotificationKind, RecordKind, RunKind, RunStatus};

/// One delta chain's state: its checkpoint (`next_link`) while a round is under way, and the
/// link of the next round once it completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaState {
    /// Connection id.
    pub connection_id: ConnectionId,
    /// `users` or `groups:<n>`.
    pub chain: String,
    /// Hash of the `$select`/`$filter` the chain was created with.
    pub fingerprint: String,
    /// The next round's link, once a round completed.
    pub delta_link: Option<String>,
    /// The next page of the round under way.
    pub next_link: Option<String>,
    /// The run that started the round under way (or the last one).
    pub round_id: Option<i64>,
    /// Whether that round is an initial (full) one.
    pub round_initial: bool,
}

/// A linked user record as the sync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    /// Row id.
    pub id: i64,
    /// `(client, site)`.
    pub site: Option<(String, String)>,
    /// Mapped fields.
    pub fields: UserFields,
    /// Custom field values.
    pub custom_fields: BTreeMap<String, String>,
    /// Inactive flag.
    pub inactive: bool,
    /// `entra` when the sync made it inactive.
    pub inactive_reason: Option<String>,
    /// Keep-active override.
    pub keep_active: bool,
    /// Role name → source.
    pub roles: BTreeMap<String, Source>,
    /// CAB name → (CAB role, source).
    pub cabs: BTreeMap<String, (Option<String>, Source)>,
    /// SKU ids of the licences linked to the user.
    pub licences: BTreeSet<String>,
}

/// A linked agent record as the sync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// Row id.
    pub id: i64,
    /// The linked user record.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub emailaddress: Option<String>,
    /// Phone.
    pub phonenumber: Option<String>,
    /// Job title.
    pub jobtitle: Option<String>,
    /// How the record was created.
    pub creationtype: Option<String>,
    /// The Entra id of the person whose agent is the line manager (linked once that agent
    /// exists).
    pub linemanager_entra_id: Option<String>,
    /// Default team name.
    pub default_team: Option<String>,
    /// Named or concurrent.
    pub licence_type: LicenceType,
    /// Inactive flag.
    pub inactive: bool,
    /// `entra` when the sync made it inactive.
    pub inactive_reason: Option<String>,
    /// Keep-active override.
    pub keep_active: bool,
    /// Role name → source.
    pub roles: BTreeMap<String, Source>,
    /// Team name → (flags, source).
    pub teams: BTreeMap<String, (TeamFlags, Source)>,
    /// CAB name → (CAB role, source).
    pub cabs: BTreeMap<String, (Option<String>, Source)>,
}

/// A record without an Entra link: a candidate for fallback matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    /// Row id (user or agent).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub emailaddress: Option<String>,
    /// Login (users).
    pub login: Option<String>,
    /// Employee number (users).
    pub employee_number: Option<String>,
    /// Custom fields (users).
    pub custom_fields: BTreeMap<String, String>,
}

/// The connection's people as a run starts planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct People {
    /// Linked users by Entra id.
    pub users: HashMap<EntraId, UserSnapshot>,
    /// Linked agents by Entra id.
    pub agents: HashMap<EntraId, AgentSnapshot>,
    /// Users without an Entra link (any connection).
    pub unlinked_users: Vec<Unlinked>,
    /// Agents without an Entra link, with their user record's id.
    pub unlinked_agents: Vec<(Unlinked, i64)>,
}

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
    /// `integrator`, `import`, `manual` or `cli`.
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
    /// Not before.
    pub since: Option<DateTime<Utc>>,
    /// At most this many rows (newest first).
    pub limit: u32,
}

/// Whom a groups commit marks pending ([`Integration::commit_groups_page`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberMarks {
    /// Everyone whose memberships the commit changes.
    Changed,
    /// Only the people a reset or a removal takes out of a group. The chain's other members
    /// are marked together once every group is in ([`Integration::mark_group_members`]): a
    /// group-by-group initial read would otherwise mark the same people once per group, in
    /// concurrent transactions that wait on each other's marks.
    Later,
}

/// Which mirrored users a [`Integration::mirror_page`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorScope {
    /// Those awaiting evaluation.
    Pending,
    /// Everyone a remap evaluates: present in Entra, or awaiting evaluation.
    Evaluable,
    /// Everyone, removed people included.
    All,
}

/// The integration state. Every method is one transaction.
#[async_trait]
pub trait Integration: Send + Sync + std::fmt::Debug {
    /// A delegated connection's sealed refresh token, if it has been authorised.
    async fn delegated_token(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<SealedToken>, StoreError>;

    /// Replaces a delegated connection's sealed refresh token in one write.
    async fn save_delegated_token(
        &self,
        connection_id: &ConnectionId,
        token: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A chain's delta state.
    async fn delta_state(
        &self,
        connection_id: &ConnectionId,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError>;

    /// Writes a chain's state on its own (round start, reset to latest).
    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets every chain of a connection (the next run is a full one); returns how many.
    async fn clear_delta_states(&self, connection_id: &ConnectionId) -> Result<u64, StoreError>;

    /// The mirrored users among `ids`.
    async fn mirror_users(
        &self,
        connection_id: &ConnectionId,
        ids: &[EntraId],
    ) -> Result<Vec<MirrorUser>, StoreError>;

    /// One users page: merged people (with the notification each awaits, if any), marked seen
    /// by `round`, and the chain's checkpoint — in one transaction.
    async fn commit_users_page(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// After a complete initial round: everyone mirrored and present but not seen by `round` is
    /// marked missing and pending. Returns how many.
    async fn mark_missing(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// One groups page: group names, membership changes (an initial round first clears the
    /// memberships of `reset_groups`), pending marks for the members affected (as `marks`
    /// says), and the chain's checkpoint — in one transaction.
    async fn commit_groups_page(
        &self,
        connection_id: &ConnectionId,
        reset_groups: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks every mirrored, present member of `groups` pending (members of their member
    /// groups too), and saves the chain's checkpoint — in one transaction.
    async fn mark_group_members(
        &self,
        connection_id: &ConnectionId,
        groups: &[String],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every membership row of the connection: (group id, member id, member type).
    async fn memberships(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// Mirrored groups: id → display name.
    async fn mirror_groups(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<BTreeMap<String, String>, StoreError>;

    /// Up to `limit` mirrored users after `after` (by Entra id) in `scope`, with their pending
    /// notification if they have one.
    async fn mirror_page(
        &self,
        connection_id: &ConnectionId,
        after: &str,
        limit: u32,
        scope: MirrorScope,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError>;

    /// The connection's linked people and the unlinked candidates.
    async fn people(&self, connection_id: &ConnectionId) -> Result<People, StoreError>;

    /// Only these people's linked records (no unlinked candidates): what one batch plans against.
    async fn people_of(
        &self,
        connection_id: &ConnectionId,
        entra_ids: &[EntraId],
    ) -> Result<People, StoreError>;

    /// The records without an Entra link (users; agents with their user record id).
    async fn unlinked(&self) -> Result<(Vec<Unlinked>, Vec<(Unlinked, i64)>), StoreError>;

    /// How many user records the connection has linked (the base of `max_deactivations.percent`).
    async fn linked_count(&self, connection_id: &ConnectionId) -> Result<u64, StoreError>;

    /// Entra ids of the connection's agents.
    async fn agent_ids(&self, connection_id: &ConnectionId) -> Result<Vec<EntraId>, StoreError>;

    /// Every group-in-group membership (for nested groups).
    async fn group_links(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// The memberships of these people (user members): `(group, member, "user")`.
    async fn memberships_for(
        &self,
        connection_id: &ConnectionId,
        member_ids: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// How many [`Integration::apply`] transactions make progress side by side: one on SQLite
    /// (one writer at a time), two on PostgreSQL with a pool of four or more connections.
    fn parallel_writes(&self) -> usize;

    /// One batch of writes, their log rows and cleared pending marks, in one transaction.
    async fn apply(
        &self,
        batch: &ApplyBatch,
        run_id: RunId,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError>;

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

    /// Sets or clears the keep-active flag of the connection's person with this login or UPN
    /// (their user record and, for an agent, the agent record too), together with an `updated`
    /// inbound-log row naming each flag that changed, in one transaction. No row when nothing
    /// changed; `NotFound` when nobody has that login or UPN, `Conflict` when several records do.
    async fn set_keep_active(
        &self,
        change: &KeepActiveChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<KeepActiveOutcome, StoreError>;

    /// Refreshes the planner's statistics after bulk changes (PostgreSQL plans with stale row
    /// counts would scan whole tables per batch); a no-op where the planner does not need it.
    async fn refresh_statistics(&self) -> Result<(), StoreError>;

    /// Claims the lease `name` for `holder` for `ttl` (by the database's clock), if it is free or
    /// has expired; otherwise says who holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<Claim, StoreError>;

    /// Extends a held lease to `ttl` from now; `false` when it is no longer held.
    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives a held lease up (it expires now); a lease held by somebody else is left alone.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// The same database, whose every write transaction first checks that `lease` is still
    /// held, and fails with [`StoreError::LeaseLost`] if it is not.
    fn fenced(&self, lease: &Lease) -> std::sync::Arc<dyn super::Store>;

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
