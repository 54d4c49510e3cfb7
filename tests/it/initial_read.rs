//! Initial reads. The group-by-group read takes the chain's `$deltatoken=latest` link
//! first, so a membership change made while the groups are being read reaches the mirror with the
//! next delta round, even in a group whose read was already over. An import into an empty mirror
//! looks up only the people it has itself committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entra_sync::clock::{Clock, SystemClock};
use entra_sync::graph::GraphClient;
use entra_sync::ids::EntraId;
use entra_sync::mirror::{GroupDelta, MirrorUser, Notification};
use entra_sync::store::{DeltaState, MemberMarks, StoreError};
use entra_sync::sync::read::{read_groups, read_users, resolve_groups};
use entra_sync::sync::sink::{Sink, StoreSink};
use entra_sync::vocab::RunKind;
use graph_emulator::{EmulatorConfig, FaultKind, FaultRule};
use uuid::Uuid;

use crate::emulator::start;
use crate::support::{backends, cid};
use crate::sync_runs::{Fixture, fixture};

/// What a read did through a [`Watched`] sink, in order.
#[derive(Debug, Clone)]
enum Event {
    /// Stored versions of these people were looked up.
    Lookup(Vec<String>),
    /// A users commit of these people.
    UsersPage(Vec<String>),
    /// A groups commit.
    GroupsPage(Vec<GroupDelta>, MemberMarks),
}

/// A store sink that records what a read does, and calls `hook` after each event (once the
/// commit it describes is in).
struct Watched<'a> {
    inner: StoreSink,
    events: Mutex<Vec<Event>>,
    hook: Box<dyn Fn(&Event) + Send + Sync + 'a>,
}

impl<'a> Watched<'a> {
    fn new(inner: StoreSink, hook: impl Fn(&Event) + Send + Sync + 'a) -> Self {
        Self {
            inner,
            events: Mutex::default(),
            hook: Box::new(hook),
        }
    }

    fn happened(&self, event: Event) {
        (self.hook)(&event);
        self.events.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

#[async_trait]
impl Sink for Watched<'_> {
    async fn state(&self, chain: &str) -> Result<Option<DeltaState>, StoreError> {
        self.inner.state(chain).await
    }
    async fn stored(&self, ids: &[EntraId]) -> Result<Vec<MirrorUser>, StoreError> {
        self.happened(Event::Lookup(ids.iter().map(EntraId::to_string).collect()));
        self.inner.stored(ids).await
    }
    async fn holds_nobody(&self) -> Result<bool, StoreError> {
        self.inner.holds_nobody().await
    }
    async fn users_page(
        &self,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.inner.users_page(round, people, checkpoint).await?;
        let ids = people.iter().map(|(u, _)| u.entra_id.clone()).collect();
        self.happened(Event::UsersPage(ids));
        Ok(())
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
        self.happened(Event::GroupsPage(groups.to_vec(), marks));
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
        members: &[EntraId],
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

/// The fixture's Graph client, its pages batched as in a run.
fn batching_client(f: &Fixture) -> GraphClient {
    f.syncer
        .graph
        .as_ref()
        .expect("a Graph client")
        .with_page_batching()
}

fn store_sink(store: Arc<dyn entra_sync::store::Store>) -> StoreSink {
    StoreSink {
        store,
        connection: cid("contoso"),
        now: SystemClock.now(),
        everyone: false,
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
        // At the first commit of a group read group by group (its pages have been read by then),
        // that group changes in the emulator: one member added, one removed.
        let people: Vec<String> = f.mirror().await.into_iter().map(|u| u.entra_id).collect();
        let changed: Mutex<Option<(String, String, String)>> = Mutex::new(None);
        let meddler = Watched::new(store_sink(f.store.clone()), |event| {
            let Event::GroupsPage(groups, MemberMarks::Later) = event else {
                return;
            };
            let mut changed = changed.lock().unwrap();
            if changed.is_some() {
                return;
            }
            let Some(group) = groups.iter().find(|g| g.added.len() >= 2) else {
                return;
            };
            let members: BTreeSet<&String> = group.added.iter().map(|(m, _)| m).collect();
            let added = people
                .iter()
                .find(|p| !members.contains(p))
                .expect("somebody outside the group")
                .clone();
            let removed = group.added[0].0.clone();
            let id = |s: &str| Uuid::parse_str(s).unwrap();
            running
                .control
                .add_member(tenant, id(&group.id), id(&added))
                .expect("add a member");
            running
                .control
                .remove_member(tenant, id(&group.id), id(&removed))
                .expect("remove a member");
            *changed = Some((group.id.clone(), added, removed));
        });

        let initial = read_groups(graph, &meddler, connection, 1_000, true, ids.clone())
            .await
            .expect("the initial read");
        assert!(initial.initial);
        let (group, added, removed) = changed
            .lock()
            .unwrap()
            .clone()
            .expect("a group was changed during the read");
        let membership = |store: Arc<dyn entra_sync::store::Store>| async move {
            let rows = store
                .memberships(&cid("contoso"))
                .await
                .expect("memberships");
            rows.into_iter()
                .map(|(g, m, _)| (g, m))
                .collect::<BTreeSet<_>>()
        };
        // The group's read was over before the change: the mirror does not have it yet.
        let after_initial = membership(f.store.clone()).await;
        assert!(!after_initial.contains(&(group.clone(), added.clone())));
        assert!(after_initial.contains(&(group.clone(), removed.clone())));

        let delta = read_groups(
            graph,
            &store_sink(f.store.clone()),
            connection,
            1_001,
            false,
            ids,
        )
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
        let graph = batching_client(&f);
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
        running.control.reset_counters();
        let sink = store_sink(f.store.clone());
        let report = read_groups(&graph, &sink, connection, 1, true, ids.clone())
            .await
            .expect("the initial read");
        assert!(report.initial);
        let mut mirrored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (group, member, _) in f.store.memberships(&cid("contoso")).await.expect("rows") {
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

#[tokio::test]
async fn an_import_into_an_empty_mirror_looks_up_only_the_people_it_has_committed() {
    let running = start(EmulatorConfig {
        users: 20_000,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).expect("a demo app").tenant_id;
    let everyone: BTreeSet<String> = running
        .control
        .with_directory(tenant, |d| {
            d.live_users().map(|u| u.id.to_string()).collect()
        })
        .expect("the tenant");
    let looked_up = |events: &[Event]| -> BTreeSet<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Lookup(ids) => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let connection = &f.settings.connections[0];
        let graph = batching_client(&f);
        // After the first commit, a later users page answers 410 resyncRequired: the round starts
        // over and reads everyone again, the people it has already committed among them.
        let faulted = AtomicBool::new(false);
        let sink = Watched::new(store_sink(f.store.clone()), |event| {
            if matches!(event, Event::UsersPage(_)) && !faulted.swap(true, Ordering::SeqCst) {
                running.control.add_fault(FaultRule::once(
                    FaultKind::ResyncRequired,
                    "GET /v1.0/users/delta",
                ));
            }
        });
        let report = read_users(&graph, &sink, connection, 1, true, None)
            .await
            .expect("the initial read");
        assert_eq!(report.restarted.len(), 1, "{:?}", report.restarted);
        let events = sink.events();
        let first_lookup = events
            .iter()
            .position(|e| matches!(e, Event::Lookup(_)))
            .expect("the round read again looks up the people committed before");
        let committed_before: BTreeSet<String> = events[..first_lookup]
            .iter()
            .filter_map(|e| match e {
                Event::UsersPage(ids) => Some(ids.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(
            committed_before.len() >= 5_000 && committed_before.len() < everyone.len(),
            "{} people committed before the restart",
            committed_before.len()
        );
        assert_eq!(
            looked_up(&events),
            committed_before,
            "only people this read had committed were looked up"
        );
        let mirrored: BTreeSet<String> = f.mirror().await.into_iter().map(|u| u.entra_id).collect();
        assert_eq!(mirrored, everyone, "everyone mirrored once");

        // A mirror that holds people: everybody read is looked up.
        let sink = Watched::new(store_sink(f.store.clone()), |_| {});
        let report = read_users(&graph, &sink, connection, 2, true, None)
            .await
            .expect("a second initial read");
        assert!(report.restarted.is_empty(), "{:?}", report.restarted);
        assert_eq!(looked_up(&sink.events()), everyone);
        drop(f);
        db.cleanup().await;
    }
}
