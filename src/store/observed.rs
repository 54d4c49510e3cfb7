//! A store whose every call is told to an observer as it starts and as it ends: how tests watch a
//! run's database calls and the benchmark times them, with one delegation of the whole [`Store`]
//! trait. A store [fenced](Integration::fenced) from it is observed too, so the writes of a run
//! that holds a lease are seen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::keep_active::{KeepActiveChange, KeepActiveOutcome};
use super::lease::{Claim, Lease, LeaseHolder};
use super::*;
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::mirror::{GroupDelta, MirrorUser, Notification};
use crate::vocab::RunKind;

/// Told of each store call as it starts and as it ends.
pub trait StoreObserver: Send + Sync {
    /// A call of `method` starts; the value returned comes back to [`StoreObserver::ended`].
    fn started(&self, method: &'static str) -> usize;
    /// The call `started` returned `call` for has ended: returned, or dropped midway.
    fn ended(&self, method: &'static str, call: usize);
}

/// Delegates every call to the store it wraps, telling its observer.
pub struct ObservedStore {
    inner: Arc<dyn Store>,
    observer: Arc<dyn StoreObserver>,
}

impl std::fmt::Debug for ObservedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A call under way; dropping it ends the call.
struct Underway<'a> {
    observer: &'a dyn StoreObserver,
    method: &'static str,
    call: usize,
}

impl Drop for Underway<'_> {
    fn drop(&mut self) {
        self.observer.ended(self.method, self.call);
    }
}

impl ObservedStore {
    /// `inner`, each call told to `observer`.
    pub fn new(inner: Arc<dyn Store>, observer: Arc<dyn StoreObserver>) -> Self {
        Self { inner, observer }
    }

    async fn observed<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        let _underway = Underway {
            observer: self.observer.as_ref(),
            method,
            call: self.observer.started(method),
        };
        call.await
    }
}

#[async_trait]
impl ServiceDesk for ObservedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.observed("migrate", self.inner.migrate()).await
    }
    async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        self.observed("table_names", self.inner.table_names()).await
    }
    async fn ensure_reference(
        &self,
        reference: &mapping::ReferenceSpec,
    ) -> Result<ReferenceReport, StoreError> {
        self.observed("ensure_reference", self.inner.ensure_reference(reference))
            .await
    }
    async fn reference(&self) -> Result<Reference, StoreError> {
        self.observed("reference", self.inner.reference()).await
    }
    async fn ensure_connections(
        &self,
        connections: &[ConnectionRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "ensure_connections",
            self.inner.ensure_connections(connections, now),
        )
        .await
    }
    async fn ensure_site(&self, client: &str, site: &str) -> Result<i64, StoreError> {
        self.observed("ensure_site", self.inner.ensure_site(client, site))
            .await
    }
    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.observed("insert_user", self.inner.insert_user(user, now))
            .await
    }
    async fn user(&self, id: i64) -> Result<UserRecord, StoreError> {
        self.observed("user", self.inner.user(id)).await
    }
    async fn insert_agent(&self, agent: &NewAgent, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.observed("insert_agent", self.inner.insert_agent(agent, now))
            .await
    }
    async fn agent(&self, id: i64) -> Result<AgentRecord, StoreError> {
        self.observed("agent", self.inner.agent(id)).await
    }
    async fn grant_role(
        &self,
        person: Person,
        role: &str,
        source: Source,
    ) -> Result<(), StoreError> {
        self.observed("grant_role", self.inner.grant_role(person, role, source))
            .await
    }
    async fn roles_of(&self, person: Person) -> Result<Vec<RoleGrant>, StoreError> {
        self.observed("roles_of", self.inner.roles_of(person)).await
    }
    async fn add_agent_team(
        &self,
        agent_id: i64,
        team: &str,
        flags: TeamFlags,
        source: Source,
    ) -> Result<(), StoreError> {
        self.observed(
            "add_agent_team",
            self.inner.add_agent_team(agent_id, team, flags, source),
        )
        .await
    }
    async fn agent_teams(&self, agent_id: i64) -> Result<Vec<TeamMembership>, StoreError> {
        self.observed("agent_teams", self.inner.agent_teams(agent_id))
            .await
    }
    async fn add_cab_member(&self, cab: &str, member: &CabMember) -> Result<(), StoreError> {
        self.observed("add_cab_member", self.inner.add_cab_member(cab, member))
            .await
    }
    async fn cab_members(&self, cab: &str) -> Result<Vec<CabMember>, StoreError> {
        self.observed("cab_members", self.inner.cab_members(cab))
            .await
    }
}

#[async_trait]
impl Integration for ObservedStore {
    async fn delegated_token(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<SealedToken>, StoreError> {
        self.observed("delegated_token", self.inner.delegated_token(connection_id))
            .await
    }

    async fn save_delegated_token(
        &self,
        connection_id: &ConnectionId,
        token: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "save_delegated_token",
            self.inner.save_delegated_token(connection_id, token, now),
        )
        .await
    }

    async fn people(&self, connection_id: &ConnectionId) -> Result<People, StoreError> {
        self.observed("people", self.inner.people(connection_id))
            .await
    }

    async fn people_of(
        &self,
        connection_id: &ConnectionId,
        entra_ids: &[EntraId],
    ) -> Result<People, StoreError> {
        self.observed("people_of", self.inner.people_of(connection_id, entra_ids))
            .await
    }

    async fn unlinked(&self) -> Result<(Vec<Unlinked>, Vec<(Unlinked, i64)>), StoreError> {
        self.observed("unlinked", self.inner.unlinked()).await
    }

    async fn linked_count(&self, connection_id: &ConnectionId) -> Result<u64, StoreError> {
        self.observed("linked_count", self.inner.linked_count(connection_id))
            .await
    }

    async fn agent_ids(&self, connection_id: &ConnectionId) -> Result<Vec<EntraId>, StoreError> {
        self.observed("agent_ids", self.inner.agent_ids(connection_id))
            .await
    }

    fn parallel_writes(&self) -> usize {
        self.inner.parallel_writes()
    }

    async fn apply(
        &self,
        batch: &ApplyBatch,
        run_id: RunId,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        self.observed("apply", self.inner.apply(batch, run_id, now))
            .await
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        self.observed("refresh_statistics", self.inner.refresh_statistics())
            .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        self.observed("acquire_lease", self.inner.acquire_lease(name, holder, ttl))
            .await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.observed("renew_lease", self.inner.renew_lease(lease, ttl))
            .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.observed("release_lease", self.inner.release_lease(lease))
            .await
    }

    fn fenced(&self, lease: &Lease) -> Arc<dyn Store> {
        // The run writes through the fenced store: its calls are observed too.
        Arc::new(ObservedStore {
            inner: self.inner.fenced(lease),
            observer: self.observer.clone(),
        })
    }

    async fn set_keep_active(
        &self,
        change: &KeepActiveChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<KeepActiveOutcome, StoreError> {
        self.observed("set_keep_active", self.inner.set_keep_active(change, now))
            .await
    }
}

#[async_trait]
impl EntraMirror for ObservedStore {
    async fn delta_state(
        &self,
        connection_id: &ConnectionId,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError> {
        self.observed("delta_state", self.inner.delta_state(connection_id, chain))
            .await
    }

    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed("save_delta_state", self.inner.save_delta_state(state, now))
            .await
    }

    async fn clear_delta_states(&self, connection_id: &ConnectionId) -> Result<u64, StoreError> {
        self.observed(
            "clear_delta_states",
            self.inner.clear_delta_states(connection_id),
        )
        .await
    }

    async fn mirror_users(
        &self,
        connection_id: &ConnectionId,
        ids: &[EntraId],
    ) -> Result<Vec<MirrorUser>, StoreError> {
        self.observed("mirror_users", self.inner.mirror_users(connection_id, ids))
            .await
    }

    async fn commit_users_page(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "commit_users_page",
            self.inner
                .commit_users_page(connection_id, round, people, checkpoint, now),
        )
        .await
    }

    async fn mark_missing(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.observed(
            "mark_missing",
            self.inner.mark_missing(connection_id, round, now),
        )
        .await
    }

    async fn commit_groups_page(
        &self,
        connection_id: &ConnectionId,
        reset_groups: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "commit_groups_page",
            self.inner.commit_groups_page(
                connection_id,
                reset_groups,
                groups,
                marks,
                checkpoint,
                now,
            ),
        )
        .await
    }

    async fn mark_group_members(
        &self,
        connection_id: &ConnectionId,
        groups: &[String],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "mark_group_members",
            self.inner
                .mark_group_members(connection_id, groups, checkpoint, now),
        )
        .await
    }

    async fn memberships(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.observed("memberships", self.inner.memberships(connection_id))
            .await
    }

    async fn mirror_groups(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        self.observed("mirror_groups", self.inner.mirror_groups(connection_id))
            .await
    }

    async fn mirror_page(
        &self,
        connection_id: &ConnectionId,
        after: &str,
        limit: u32,
        scope: MirrorScope,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        self.observed(
            "mirror_page",
            self.inner.mirror_page(connection_id, after, limit, scope),
        )
        .await
    }

    async fn group_links(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.observed("group_links", self.inner.group_links(connection_id))
            .await
    }

    async fn memberships_for(
        &self,
        connection_id: &ConnectionId,
        member_ids: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.observed(
            "memberships_for",
            self.inner.memberships_for(connection_id, member_ids),
        )
        .await
    }
}

#[async_trait]
impl RunLog for ObservedStore {
    async fn start_run(
        &self,
        connection_id: &ConnectionId,
        kind: RunKind,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        self.observed(
            "start_run",
            self.inner.start_run(connection_id, kind, trigger, now),
        )
        .await
    }

    async fn finish_run(
        &self,
        run_id: RunId,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed("finish_run", self.inner.finish_run(run_id, end, now))
            .await
    }

    async fn runs(
        &self,
        connection_id: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.observed("runs", self.inner.runs(connection_id, limit))
            .await
    }

    async fn run(&self, run_id: RunId) -> Result<RunRow, StoreError> {
        self.observed("run", self.inner.run(run_id)).await
    }

    async fn approve_run(
        &self,
        run_id: RunId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed("approve_run", self.inner.approve_run(run_id, by, now))
            .await
    }

    async fn inbound_log(&self, query: &LogQuery) -> Result<Vec<InboundRow>, StoreError> {
        self.observed("inbound_log", self.inner.inbound_log(query))
            .await
    }

    async fn log(&self, rows: &[InboundRow]) -> Result<(), StoreError> {
        self.observed("log", self.inner.log(rows)).await
    }

    async fn prune_inbound_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.observed("prune_inbound_log", self.inner.prune_inbound_log(before))
            .await
    }

    async fn interrupt_runs(
        &self,
        connection_id: &ConnectionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunId>, StoreError> {
        self.observed(
            "interrupt_runs",
            self.inner.interrupt_runs(connection_id, reason, now),
        )
        .await
    }
}

mod access;
mod followers;
mod licences;
mod schedule;
mod sessions;
