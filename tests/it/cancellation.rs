//! Cancellable runs: a full run whose token is cancelled while it reads, or while it evaluates,
//! returns within moments, is recorded `cancelled`, deactivates nobody, leaves no task of its own
//! behind, keeps what it committed, and the next run converges to the state of an uninterrupted
//! one. The moment of cancellation is a store call ending, never a sleep.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_sync::clock::SystemClock;
use entra_sync::store::{MirrorScope, RunKind, RunStatus};
use entra_sync::sync::{Mode, RunRequest, Syncer};
use graph_emulator::EmulatorConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::crash::{scalar, semantic};
use crate::emulator::start;
use crate::support::backends;
use crate::sync_runs::{Fixture, fixture, log_for, request, tenant};
use crate::watched_store::WatchedStore;

/// People in the tenant: several evaluated batches, several pages per chain.
const PEOPLE: usize = 2_500;

/// People disabled in Entra after the first import: the next full run deactivates them.
const DISABLED: usize = 5;

/// Why the test cancels its runs.
const REASON: &str = "the test stopped it";

/// When a run is cancelled.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// As the read's first commit (a users or a groups page) ends.
    Reading,
    /// As the first evaluated batch's transaction ends.
    Evaluating,
}

impl Moment {
    fn is(self, method: &str) -> bool {
        match self {
            Moment::Reading => matches!(method, "commit_users_page" | "commit_groups_page"),
            Moment::Evaluating => method == "apply",
        }
    }
}

/// The Entra ids of the connection's inactive user and agent records.
async fn inactive(f: &Fixture) -> BTreeSet<String> {
    let people = f.store.people("contoso").await.expect("people");
    let users = people.users.iter().filter(|(_, u)| u.inactive);
    let agents = people.agents.iter().filter(|(_, a)| a.inactive);
    users
        .map(|(id, _)| id.clone())
        .chain(agents.map(|(id, _)| id.clone()))
        .collect()
}

/// The people awaiting evaluation.
async fn pending(f: &Fixture) -> BTreeSet<String> {
    let page = f
        .store
        .mirror_page("contoso", "", 100_000, MirrorScope::Pending)
        .await
        .expect("the pending people");
    page.into_iter().map(|(u, _)| u.entra_id).collect()
}

/// Per backend: a reference database and one whose full run is cancelled at `moment`, both first
/// imported from the same tenant; then a few people are disabled in Entra. The reference has one
/// uninterrupted full run; the other a cancelled one, then an ordinary run.
async fn a_cancelled_full_run_resumes(moment: Moment) {
    let running = start(EmulatorConfig {
        users: PEOPLE,
        latency: Duration::from_millis(40),
        ..EmulatorConfig::default()
    })
    .await;
    let mut pairs = Vec::new();
    for (reference, cancelled) in backends().await.into_iter().zip(backends().await) {
        let r = fixture(&running, &reference, "").await;
        r.run(RunKind::Full).await;
        let c = fixture(&running, &cancelled, "").await;
        c.run(RunKind::Full).await;
        pairs.push((reference, r, cancelled, c));
    }
    let before = inactive(&pairs[0].3).await;
    let people = pairs[0].3.store.people("contoso").await.expect("people");
    let mut active: Vec<&String> = people
        .users
        .keys()
        .filter(|id| !before.contains(*id))
        .collect();
    active.sort();
    let disabled: BTreeSet<String> = active.into_iter().take(DISABLED).cloned().collect();
    assert_eq!(disabled.len(), DISABLED);
    for id in &disabled {
        let id = Uuid::parse_str(id).expect("an Entra id");
        running
            .control
            .update_user(tenant(&running), id, json!({"accountEnabled": false}))
            .expect("disable");
    }

    for (reference_db, reference, db, f) in pairs {
        reference.run(RunKind::Full).await;
        assert!(
            inactive(&reference).await.is_superset(&disabled),
            "an uninterrupted run deactivates the disabled people"
        );
        let expected = semantic(&reference_db.url).await;

        let before = inactive(&f).await;
        let token = CancellationToken::new();
        let cancelled_at: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (store, watch) = WatchedStore::new(f.store.clone(), {
            let (token, cancelled_at) = (token.clone(), cancelled_at.clone());
            move |method| {
                let mut at = cancelled_at.lock().unwrap();
                if at.is_none() && moment.is(method) {
                    *at = Some(Instant::now());
                    token.cancel();
                }
            }
        });
        let syncer = Syncer {
            store,
            graph: f.syncer.graph.clone(),
            clock: Arc::new(SystemClock),
        };
        let request = RunRequest {
            cancel: token,
            cancel_reason: REASON.to_owned(),
            ..request(RunKind::Full, Mode::Apply)
        };
        let report = syncer
            .run(&f.settings.connections[0], &request)
            .await
            .expect("a cancelled run is no error");
        let returned_at = Instant::now();
        let under_way = watch.in_flight();
        let cancelled_at = cancelled_at
            .lock()
            .unwrap()
            .unwrap_or_else(|| panic!("{moment:?}: the run never got there: {report:?}"));
        let stopping = returned_at - cancelled_at;
        assert!(
            stopping < Duration::from_secs(2),
            "{moment:?}: the run took {stopping:?} to stop"
        );
        assert_eq!(under_way, 0, "{moment:?}: a store call is still under way");
        assert_eq!(report.status, RunStatus::Cancelled, "{report:?}");
        let error = format!("cancelled: {REASON}");
        assert_eq!(report.error.as_deref(), Some(error.as_str()));
        let run_id = report.run_id.expect("a run row");
        let row = f.store.run(run_id).await.expect("the run row");
        assert_eq!(row.status, "cancelled");
        assert_eq!(row.error.as_deref(), Some(error.as_str()));
        assert!(row.ended_at.is_some());
        assert_eq!(inactive(&f).await, before, "{moment:?}: nobody deactivated");

        let evaluated = log_for(&f.store, Some(run_id))
            .await
            .iter()
            .filter(|row| row.entra_id.is_some())
            .count();
        let state = |chain: &'static str| {
            let store = f.store.clone();
            async move {
                store
                    .delta_state("contoso", chain)
                    .await
                    .expect("a chain's state")
                    .expect("the chain exists")
            }
        };
        let (users, groups) = (state("users").await, state("groups:0").await);
        match moment {
            Moment::Reading => {
                assert_eq!(evaluated, 0, "the run stopped before evaluating anyone");
                // What the run committed stays: a round of its own, unfinished, that the next
                // run picks up.
                assert!(
                    [&users, &groups]
                        .iter()
                        .any(|s| s.round_id == Some(run_id) && s.delta_link.is_none()),
                    "{users:?} {groups:?}"
                );
            }
            Moment::Evaluating => {
                let people = f.mirror().await.len();
                assert!(
                    evaluated > 0 && evaluated < people,
                    "{evaluated} of {people} people evaluated before the run stopped"
                );
                // The read was complete: both chains' links are in.
                for s in [&users, &groups] {
                    assert_eq!(s.round_id, Some(run_id), "{s:?}");
                    assert!(s.delta_link.is_some(), "{s:?}");
                }
                // The held deactivations were never applied; their marks stay.
                assert!(pending(&f).await.is_superset(&disabled));
            }
        }

        // The next run takes the lease (the cancelled run released it) and converges.
        f.run(RunKind::Delta).await;
        let got = semantic(&db.url).await;
        for (table, rows) in &expected {
            assert_eq!(&got[table], rows, "{moment:?}: {table} differs");
        }
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM entra_pending").await,
            0
        );
        let late: Vec<_> = watch
            .calls()
            .into_iter()
            .filter(|c| c.started >= returned_at)
            .map(|c| c.method)
            .collect();
        assert!(
            late.is_empty(),
            "{moment:?}: store calls after the run returned: {late:?}"
        );
        drop((reference, f));
        reference_db.cleanup().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_reading_stops_at_once_and_the_next_run_converges() {
    a_cancelled_full_run_resumes(Moment::Reading).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_evaluating_stops_between_batches_and_the_next_run_converges() {
    a_cancelled_full_run_resumes(Moment::Evaluating).await;
}
