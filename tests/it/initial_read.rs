//! The group-by-group initial read (BRIEF §4.1): the chain's `$deltatoken=latest` link is taken
//! first, so a membership change made while the groups are being read reaches the mirror with the
//! next delta round, even in a group whose read was already over.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entra_sync::clock::{Clock, SystemClock};
use entra_sync::mirror::{GroupDelta, MirrorUser, Notification};
use entra_sync::store::{DeltaState, MemberMarks, RunKind, StoreError};
use entra_sync::sync::read::{read_groups, resolve_groups};
use entra_sync::sync::sink::{Sink, StoreSink};
use graph_emulator::{Control, EmulatorConfig};
use uuid::Uuid;

use crate::emulator::start;
use crate::support::backends;
use crate::sync_runs::fixture;

/// A sink that, at the first commit of a group read group by group, changes that group in the
/// emulator: one member added, one removed. Its pages have been read by then.
struct ChangeDuringRead<'a> {
    inner: StoreSink,
    control: &'a Control,
    tenant: Uuid,
    /// `(group, added, removed)` once the change is made.
    changed: Mutex<Option<(String, String, String)>>,
    /// Everyone in the mirror (candidates to add).
    people: Vec<String>,
}

#[async_trait]
impl Sink for ChangeDuringRead<'_> {
    async fn state(&self, chain: &str) -> Result<Option<DeltaState>, StoreError> {
        self.inner.state(chain).await
    }
    async fn stored(&self, ids: &[String]) -> Result<Vec<MirrorUser>, StoreError> {
        self.inner.stored(ids).await
    }
    async fn users_page(
        &self,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.inner.users_page(round, people, checkpoint).await
    }
    async fn mark_missing(&self, round: i64) -> Result<u64, StoreError> {
        self.inner.mark_missing(round).await
    }
    async fn groups_page(
        &self,
        reset: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.inner
            .groups_page(reset, groups, marks, checkpoint)
            .await?;
        let mut changed = self.changed.lock().unwrap();
        if changed.is_none()
            && marks == MemberMarks::Later
            && let Some(group) = groups.iter().find(|g| g.added.len() >= 2)
        {
            let members: BTreeSet<&String> = group.added.iter().map(|(m, _)| m).collect();
            let added = self
                .people
                .iter()
                .find(|p| !members.contains(p))
                .expect("somebody outside the group")
                .clone();
            let removed = group.added[0].0.clone();
            let id = |s: &str| Uuid::parse_str(s).unwrap();
            self.control
                .add_member(self.tenant, id(&group.id), id(&added))
                .expect("add a member");
            self.control
                .remove_member(self.tenant, id(&group.id), id(&removed))
                .expect("remove a member");
            *changed = Some((group.id.clone(), added, removed));
        }
        Ok(())
    }
    async fn group_members_marked(
        &self,
        groups: &[String],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.inner.group_members_marked(groups, checkpoint).await
    }
    async fn group_links(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.inner.group_links().await
    }
    async fn memberships_for(
        &self,
        members: &[String],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.inner.memberships_for(members).await
    }
    async fn group_names(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.inner.group_names().await
    }
    async fn pending(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        self.inner.pending(after, limit).await
    }
}

#[tokio::test]
async fn a_membership_change_during_the_initial_read_arrives_with_the_next_delta() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).expect("a demo app").tenant_id;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        // The users are mirrored; the groups chain is then read afresh below, by hand.
        f.run(RunKind::Full).await;
        let connection = &f.settings.connections[0];
        let graph = f.syncer.graph.as_ref().expect("a Graph client");
        let names = connection.mapping.groups();
        let (resolved, warnings) = resolve_groups(graph, &names).await.expect("names");
        assert!(warnings.is_empty(), "{warnings:?}");
        let ids: BTreeSet<String> = resolved.into_values().collect();
        assert!(ids.len() > 1, "the chain is read group by group");
        let sink = |everyone| StoreSink {
            store: f.store.clone(),
            connection: "contoso".to_owned(),
            now: SystemClock.now(),
            everyone,
        };
        let meddler = ChangeDuringRead {
            inner: sink(false),
            control: &running.control,
            tenant,
            changed: Mutex::new(None),
            people: f.mirror().await.into_iter().map(|u| u.entra_id).collect(),
        };

        let initial = read_groups(graph, &meddler, connection, 1_000, true, ids.clone())
            .await
            .expect("the initial read");
        assert!(initial.initial);
        let (group, added, removed) = meddler
            .changed
            .lock()
            .unwrap()
            .clone()
            .expect("a group was changed during the read");
        let membership = |store: Arc<dyn entra_sync::store::Store>| async move {
            let rows = store.memberships("contoso").await.expect("memberships");
            rows.into_iter()
                .map(|(g, m, _)| (g, m))
                .collect::<BTreeSet<_>>()
        };
        // The group's read was over before the change: the mirror does not have it yet.
        let after_initial = membership(f.store.clone()).await;
        assert!(!after_initial.contains(&(group.clone(), added.clone())));
        assert!(after_initial.contains(&(group.clone(), removed.clone())));

        let delta = read_groups(graph, &sink(false), connection, 1_001, false, ids)
            .await
            .expect("the delta read");
        assert!(!delta.initial, "{delta:?}");
        let after_delta = membership(f.store.clone()).await;
        assert!(after_delta.contains(&(group.clone(), added.clone())));
        assert!(!after_delta.contains(&(group.clone(), removed.clone())));
        // Nothing else moved.
        let mut expected = after_initial.clone();
        expected.insert((group.clone(), added));
        expected.remove(&(group, removed));
        assert_eq!(after_delta, expected);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn batched_group_reads_mirror_groups_larger_than_a_commit_whole_in_few_round_trips() {
    let running = start(EmulatorConfig {
        users: 14_000,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).expect("a demo app").tenant_id;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let connection = &f.settings.connections[0];
        let graph = f
            .syncer
            .graph
            .as_ref()
            .expect("a Graph client")
            .with_page_batching();
        let names = connection.mapping.groups();
        let (resolved, warnings) = resolve_groups(&graph, &names).await.expect("names");
        assert!(warnings.is_empty(), "{warnings:?}");
        let ids: BTreeSet<String> = resolved.into_values().collect();
        let members: BTreeMap<String, BTreeSet<String>> = running
            .control
            .with_directory(tenant, |d| {
                d.groups
                    .iter()
                    .filter(|g| ids.contains(&g.id.to_string()))
                    .map(|g| {
                        let members = g.members.iter().map(|m| m.id.to_string()).collect();
                        (g.id.to_string(), members)
                    })
                    .collect()
            })
            .expect("the tenant");
        let largest = members.values().map(BTreeSet::len).max().unwrap_or(0);
        assert!(
            largest > 2 * 5_000,
            "a group spans several commits ({largest} members)"
        );
        let sink = StoreSink {
            store: f.store.clone(),
            connection: "contoso".to_owned(),
            now: SystemClock.now(),
            everyone: false,
        };
        running.control.reset_counters();
        let report = read_groups(&graph, &sink, connection, 1, true, ids.clone())
            .await
            .expect("the initial read");
        assert!(report.initial);
        let mut mirrored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (group, member, _) in f.store.memberships("contoso").await.expect("rows") {
            if ids.contains(&group) {
                mirrored.entry(group).or_default().insert(member);
            }
        }
        mirrored.retain(|_, m| !m.is_empty());
        let mut expected = members.clone();
        expected.retain(|_, m| !m.is_empty());
        assert_eq!(mirrored, expected, "every membership, no more");
        // A page holds 998 members beside its group. The groups' pages shared round trips: about
        // as many batches as the largest group has pages (plus the chain's `latest` link).
        let counters = running.control.counters();
        let rounds = largest.div_ceil(998) as u64;
        let batches = counters.count("POST /v1.0/$batch");
        assert!(
            (rounds..=rounds + 3).contains(&batches),
            "{batches} batches for a largest group of {rounds} pages; {} pages in all",
            counters.count("GET /v1.0/groups/delta")
        );
        drop(f);
        db.cleanup().await;
    }
}
