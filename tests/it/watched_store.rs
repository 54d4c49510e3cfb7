//! A store that watches a run's calls: when each started and ended, and a hook told as each one
//! starts and ends. Like the benchmark's `TimedStore` it wraps the whole `Store` trait, and
//! its fenced store is watched too, so the writes of a run that holds a lease go through it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entra_sync::mirror::{GroupDelta, MirrorUser, Notification};
use entra_sync::store::lease::{Claim, Lease, LeaseHolder};
use entra_sync::store::{
    AgentRecord, Applied, ApplyBatch, CabMember, ConnectionRow, DeltaState, InboundRow,
    Integration, KeepActiveChange, KeepActiveOutcome, Licence, LogQuery, MemberMarks, MirrorScope,
    NewAgent, NewUser, People, Person, Reference, ReferenceReport, RoleGrant, RunEnd, RunKind,
    RunRow, SealedToken, ServiceDesk, Source, Store, StoreError, TeamFlags, TeamMembership, Ticket,
    TicketFollower, Unlinked, UserRecord,
};

/// A store call: which method, when it started, and when it ended (a call dropped midway ends
/// then).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: &'static str,
    pub(crate) started: Instant,
    pub(crate) ended: Option<Instant>,
}

/// Where a call is when the hook is told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// About to go to the real store.
    Starts,
    /// Back from it (its transaction committed or rolled back).
    Ended,
}

/// A hook told of every call as it starts and as it ends.
type Hook = Box<dyn Fn(&'static str, Phase) + Send + Sync>;

/// What a [`WatchedStore`] (and every store fenced from it) saw.
pub(crate) struct Watch {
    hook: Hook,
    calls: Mutex<Vec<Call>>,
}

impl Watch {
    /// Every call so far, in the order they started.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls started and not ended.
    pub(crate) fn under_way(&self) -> Vec<&'static str> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.ended.is_none())
            .map(|c| c.method)
            .collect()
    }
}

/// A call under way (the index of its [`Call`]); dropping it ends the call.
struct Underway<'a>(&'a Watch, usize);

impl Drop for Underway<'_> {
    fn drop(&mut self) {
        self.0.calls.lock().unwrap()[self.1].ended = Some(Instant::now());
    }
}

/// Delegates to the real store and tells its [`Watch`] about every call.
pub(crate) struct WatchedStore {
    inner: Arc<dyn Store>,
    watch: Arc<Watch>,
}

impl std::fmt::Debug for WatchedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl WatchedStore {
    /// `inner`, watched, and what watches it; `hook` is told of each call as it starts and as it
    /// ends.
    pub(crate) fn wrap(
        inner: Arc<dyn Store>,
        hook: impl Fn(&'static str, Phase) + Send + Sync + 'static,
    ) -> (Arc<dyn Store>, Arc<Watch>) {
        let watch = Arc::new(Watch {
            hook: Box::new(hook),
            calls: Mutex::default(),
        });
        let store = Arc::new(WatchedStore {
            inner,
            watch: watch.clone(),
        });
        (store, watch)
    }

    async fn watched<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        let underway = {
            let mut calls = self.watch.calls.lock().unwrap();
            calls.push(Call {
                method,
                started: Instant::now(),
                ended: None,
            });
            Underway(&self.watch, calls.len() - 1)
        };
        (self.watch.hook)(method, Phase::Starts);
        let out = call.await;
        drop(underway);
        (self.watch.hook)(method, Phase::Ended);
        out
    }
}

#[async_trait]
impl ServiceDesk for WatchedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.watched("migrate", self.inner.migrate()).await
    }
    async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        self.watched("table_names", self.inner.table_names()).await
    }
    async fn ensure_reference(
        &self,
        reference: &mapping::ReferenceSpec,
    ) -> Result<ReferenceReport, StoreError> {
        self.watched("ensure_reference", self.inner.ensure_reference(reference))
            .await
    }
    async fn reference(&self) -> Result<Reference, StoreError> {
        self.watched("reference", self.inner.reference()).await
    }
    async fn ensure_connections(
        &self,
        connections: &[ConnectionRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched(
            "ensure_connections",
            self.inner.ensure_connections(connections, now),
        )
        .await
    }
    async fn ensure_site(&self, client: &str, site: &str) -> Result<i64, StoreError> {
        self.watched("ensure_site", self.inner.ensure_site(client, site))
            .await
    }
    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.watched("insert_user", self.inner.insert_user(user, now))
            .await
    }
    async fn user(&self, id: i64) -> Result<UserRecord, StoreError> {
        self.watched("user", self.inner.user(id)).await
    }
    async fn insert_agent(&self, agent: &NewAgent, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.watched("insert_agent", self.inner.insert_agent(agent, now))
            .await
    }
    async fn agent(&self, id: i64) -> Result<AgentRecord, StoreError> {
        self.watched("agent", self.inner.agent(id)).await
    }
    async fn grant_role(
        &self,
        person: Person,
        role: &str,
        source: Source,
    ) -> Result<(), StoreError> {
        self.watched("grant_role", self.inner.grant_role(person, role, source))
            .await
    }
    async fn roles_of(&self, person: Person) -> Result<Vec<RoleGrant>, StoreError> {
        self.watched("roles_of", self.inner.roles_of(person)).await
    }
    async fn add_agent_team(
        &self,
        agent_id: i64,
        team: &str,
        flags: TeamFlags,
        source: Source,
    ) -> Result<(), StoreError> {
        self.watched(
            "add_agent_team",
            self.inner.add_agent_team(agent_id, team, flags, source),
        )
        .await
    }
    async fn agent_teams(&self, agent_id: i64) -> Result<Vec<TeamMembership>, StoreError> {
        self.watched("agent_teams", self.inner.agent_teams(agent_id))
            .await
    }
    async fn add_cab_member(&self, cab: &str, member: &CabMember) -> Result<(), StoreError> {
        self.watched("add_cab_member", self.inner.add_cab_member(cab, member))
            .await
    }
    async fn cab_members(&self, cab: &str) -> Result<Vec<CabMember>, StoreError> {
        self.watched("cab_members", self.inner.cab_members(cab))
            .await
    }
    async fn upsert_licence(
        &self,
        licence: &Licence,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.watched("upsert_licence", self.inner.upsert_licence(licence, now))
            .await
    }
    async fn link_user_licence(&self, user_id: i64, licence_id: i64) -> Result<(), StoreError> {
        self.watched(
            "link_user_licence",
            self.inner.link_user_licence(user_id, licence_id),
        )
        .await
    }
    async fn user_licences(&self, user_id: i64) -> Result<Vec<Licence>, StoreError> {
        self.watched("user_licences", self.inner.user_licences(user_id))
            .await
    }
    async fn insert_ticket(&self, ticket: &Ticket, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.watched("insert_ticket", self.inner.insert_ticket(ticket, now))
            .await
    }
    async fn ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        self.watched("ticket", self.inner.ticket(id)).await
    }
    async fn add_follower(
        &self,
        ticket_id: i64,
        follower: &TicketFollower,
    ) -> Result<(), StoreError> {
        self.watched("add_follower", self.inner.add_follower(ticket_id, follower))
            .await
    }
    async fn followers(&self, ticket_id: i64) -> Result<Vec<TicketFollower>, StoreError> {
        self.watched("followers", self.inner.followers(ticket_id))
            .await
    }
}

#[async_trait]
impl Integration for WatchedStore {
    async fn delegated_token(
        &self,
        connection_id: &str,
    ) -> Result<Option<SealedToken>, StoreError> {
        self.watched("delegated_token", self.inner.delegated_token(connection_id))
            .await
    }
    async fn save_delegated_token(
        &self,
        connection_id: &str,
        token: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched(
            "save_delegated_token",
            self.inner.save_delegated_token(connection_id, token, now),
        )
        .await
    }
    async fn delta_state(
        &self,
        connection_id: &str,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError> {
        self.watched("delta_state", self.inner.delta_state(connection_id, chain))
            .await
    }
    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched("save_delta_state", self.inner.save_delta_state(state, now))
            .await
    }
    async fn clear_delta_states(&self, connection_id: &str) -> Result<u64, StoreError> {
        self.watched(
            "clear_delta_states",
            self.inner.clear_delta_states(connection_id),
        )
        .await
    }
    async fn mirror_users(
        &self,
        connection_id: &str,
        ids: &[String],
    ) -> Result<Vec<MirrorUser>, StoreError> {
        self.watched("mirror_users", self.inner.mirror_users(connection_id, ids))
            .await
    }
    async fn commit_users_page(
        &self,
        connection_id: &str,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched(
            "commit_users_page",
            self.inner
                .commit_users_page(connection_id, round, people, checkpoint, now),
        )
        .await
    }
    async fn mark_missing(
        &self,
        connection_id: &str,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.watched(
            "mark_missing",
            self.inner.mark_missing(connection_id, round, now),
        )
        .await
    }
    async fn commit_groups_page(
        &self,
        connection_id: &str,
        reset_groups: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched(
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
        connection_id: &str,
        groups: &[String],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched(
            "mark_group_members",
            self.inner
                .mark_group_members(connection_id, groups, checkpoint, now),
        )
        .await
    }
    async fn memberships(
        &self,
        connection_id: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.watched("memberships", self.inner.memberships(connection_id))
            .await
    }
    async fn mirror_groups(
        &self,
        connection_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        self.watched("mirror_groups", self.inner.mirror_groups(connection_id))
            .await
    }
    async fn mirror_page(
        &self,
        connection_id: &str,
        after: &str,
        limit: u32,
        scope: MirrorScope,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        self.watched(
            "mirror_page",
            self.inner.mirror_page(connection_id, after, limit, scope),
        )
        .await
    }
    async fn people(&self, connection_id: &str) -> Result<People, StoreError> {
        self.watched("people", self.inner.people(connection_id))
            .await
    }
    async fn people_of(
        &self,
        connection_id: &str,
        entra_ids: &[String],
    ) -> Result<People, StoreError> {
        self.watched("people_of", self.inner.people_of(connection_id, entra_ids))
            .await
    }
    async fn unlinked(&self) -> Result<(Vec<Unlinked>, Vec<(Unlinked, i64)>), StoreError> {
        self.watched("unlinked", self.inner.unlinked()).await
    }
    async fn linked_count(&self, connection_id: &str) -> Result<u64, StoreError> {
        self.watched("linked_count", self.inner.linked_count(connection_id))
            .await
    }
    async fn agent_ids(&self, connection_id: &str) -> Result<Vec<String>, StoreError> {
        self.watched("agent_ids", self.inner.agent_ids(connection_id))
            .await
    }
    async fn group_links(
        &self,
        connection_id: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.watched("group_links", self.inner.group_links(connection_id))
            .await
    }
    async fn memberships_for(
        &self,
        connection_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.watched(
            "memberships_for",
            self.inner.memberships_for(connection_id, member_ids),
        )
        .await
    }
    fn parallel_writes(&self) -> usize {
        self.inner.parallel_writes()
    }
    async fn apply(
        &self,
        batch: &ApplyBatch,
        run_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        self.watched("apply", self.inner.apply(batch, run_id, now))
            .await
    }
    async fn start_run(
        &self,
        connection_id: &str,
        kind: RunKind,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.watched(
            "start_run",
            self.inner.start_run(connection_id, kind, trigger, now),
        )
        .await
    }
    async fn finish_run(
        &self,
        run_id: i64,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched("finish_run", self.inner.finish_run(run_id, end, now))
            .await
    }
    async fn runs(
        &self,
        connection_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.watched("runs", self.inner.runs(connection_id, limit))
            .await
    }
    async fn run(&self, run_id: i64) -> Result<RunRow, StoreError> {
        self.watched("run", self.inner.run(run_id)).await
    }
    async fn approve_run(
        &self,
        run_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.watched("approve_run", self.inner.approve_run(run_id, by, now))
            .await
    }
    async fn inbound_log(&self, query: &LogQuery) -> Result<Vec<InboundRow>, StoreError> {
        self.watched("inbound_log", self.inner.inbound_log(query))
            .await
    }
    async fn log(&self, rows: &[InboundRow]) -> Result<(), StoreError> {
        self.watched("log", self.inner.log(rows)).await
    }
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        self.watched("refresh_statistics", self.inner.refresh_statistics())
            .await
    }
    async fn prune_inbound_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.watched("prune_inbound_log", self.inner.prune_inbound_log(before))
            .await
    }
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        self.watched("acquire_lease", self.inner.acquire_lease(name, holder, ttl))
            .await
    }
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.watched("renew_lease", self.inner.renew_lease(lease, ttl))
            .await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.watched("release_lease", self.inner.release_lease(lease))
            .await
    }
    fn fenced(&self, lease: &Lease) -> Arc<dyn Store> {
        // The run writes through the fenced store: its calls are watched too.
        Arc::new(WatchedStore {
            inner: self.inner.fenced(lease),
            watch: self.watch.clone(),
        })
    }
    async fn interrupt_runs(
        &self,
        connection_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        self.watched(
            "interrupt_runs",
            self.inner.interrupt_runs(connection_id, reason, now),
        )
        .await
    }
    async fn set_keep_active(
        &self,
        change: &KeepActiveChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<KeepActiveOutcome, StoreError> {
        self.watched("set_keep_active", self.inner.set_keep_active(change, now))
            .await
    }
}
