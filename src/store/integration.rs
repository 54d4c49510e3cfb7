//! The integration half of the store: delegated tokens, the people snapshot a run plans
//! against, the `apply` transaction that writes a batch (what it writes is in
//! [`writes`](super::writes)), keep-active overrides and leases. The Entra mirror is in
//! [`entra_mirror`](super::entra_mirror), runs and the inbound log in [`run_log`](super::run_log).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use super::keep_active::{KeepActiveChange, KeepActiveOutcome};
use super::lease::{Claim, Lease, LeaseHolder};
use super::records::{LicenceType, SealedToken, Source, TeamFlags, UserFields};
use super::writes::{Applied, ApplyBatch};
use crate::ids::{ConnectionId, EntraId, RunId};

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
}
