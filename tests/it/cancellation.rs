//! Cancellable runs: a full run whose token is cancelled while it reads, or while it evaluates,
//! returns within moments, is recorded `cancelled`, deactivates nobody, leaves no task of its own
//! behind, keeps what it committed, and the next run converges to the state of an uninterrupted
//! one. The moment of cancellation is a store call starting or ending, never a sleep.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use entra_sync::clock::ManualClock;
use entra_sync::config::load::Environment;
use entra_sync::graph::RetryPolicy;
use entra_sync::ids::EntraId;
use entra_sync::store::MirrorScope;
use entra_sync::sync::{Mode, RunRequest, Syncer};
use entra_sync::tasks::TaskScope;
use entra_sync::vocab::{RunKind, RunStatus};
use graph_emulator::EmulatorConfig;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::crash::{scalar, semantic};
use crate::emulator::{client, memory_store, settings, start};
use crate::support::{backends, cid};
use crate::sync_runs::{Fixture, fixture, log_for, request, tenant};
use crate::watched_store::{Call, Phase, WatchedStore};

/// People in the tenant: several evaluated batches, several pages per chain.
const PEOPLE: usize = 2_500;

/// People disabled in Entra after the first import: the next full run deactivates them.
const DISABLED: usize = 5;

/// Why the test cancels its runs.
const REASON: &str = "the test stopped it";

/// When a run is cancelled.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// As the read's first commit (a users or a groups page) has ended: more pages are coming.
    Reading,
    /// As the first evaluated batch's transaction starts: the run lets it in, and stops.
    Evaluating,
}

impl Moment {
    fn is(self, method: &str, phase: Phase) -> bool {
        match self {
            Moment::Reading => {
                phase == Phase::Ended
                    && matches!(method, "commit_users_page" | "commit_groups_page")
            }
            Moment::Evaluating => phase == Phase::Starts && method == "apply",
        }
    }
}

/// The calls of a run still under way when it recorded its end (its lease's aside).
fn under_way_at_the_end(calls: &[Call]) -> Vec<&'static str> {
    let bookkeeping =
        |method: &str| matches!(method, "finish_run" | "release_lease" | "renew_lease");
    let Some(end) = calls.iter().find(|c| c.method == "finish_run") else {
        return vec!["(the run never recorded its end)"];
    };
    calls
        .iter()
        .filter(|c| !bookkeeping(c.method))
        .filter(|c| c.ended.is_none_or(|ended| ended > end.started))
        .map(|c| c.method)
        .collect()
}

/// The Entra ids of the connection's inactive user and agent records.
async fn inactive(f: &Fixture) -> BTreeSet<EntraId> {
    let people = f.store.people(&cid("contoso")).await.expect("people");
    let users = people.users.iter().filter(|(_, u)| u.inactive);
    let agents = people.agents.iter().filter(|(_, a)| a.inactive);
    users
        .map(|(id, _)| id.clone())
        .chain(agents.map(|(id, _)| id.clone()))
        .collect()
}

/// The people awaiting evaluation.
async fn pending(f: &Fixture) -> BTreeSet<EntraId> {
    let page = f
        .store
        .mirror_page(&cid("contoso"), "", 100_000, MirrorScope::Pending)
        .await
        .expect("the pending people");
    page.into_iter().map(|(u, _)| EntraId(u.entra_id)).collect()
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
    let started = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let mut pairs = Vec::new();
    for (reference, cancelled) in backends().await.into_iter().zip(backends().await) {
        let r = fixture(&running, &reference, "").await;
        r.run(RunKind::Full).await;
        let c = fixture(&running, &cancelled, "").await;
        c.run(RunKind::Full).await;
        pairs.push((reference, r, cancelled, c));
    }
    let before = inactive(&pairs[0].3).await;
    let people = pairs[0]
        .3
        .store
        .people(&cid("contoso"))
        .await
        .expect("people");
    let mut active: Vec<&EntraId> = people
        .users
        .keys()
        .filter(|id| !before.contains(*id))
        .collect();
    active.sort();
    let disabled: BTreeSet<EntraId> = active.into_iter().take(DISABLED).cloned().collect();
    assert_eq!(disabled.len(), DISABLED);
    for id in &disabled {
        let id = Uuid::parse_str(id.as_str()).expect("an Entra id");
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
        // The run starts at `started`; it is cancelled a minute later by its clock.
        let clock = ManualClock::new(started);
        let (store, watch) = WatchedStore::wrap(f.store.clone(), {
            let (token, cancelled_at, clock) = (token.clone(), cancelled_at.clone(), clock.clone());
            move |method, phase| {
                let mut at = cancelled_at.lock().unwrap();
                if at.is_none() && moment.is(method, phase) {
                    *at = Some(Instant::now());
                    clock.advance(chrono::Duration::minutes(1));
                    token.cancel();
                }
            }
        });
        let syncer = Syncer {
            store,
            graph: f.syncer.graph.clone(),
            clock: Arc::new(clock),
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
        let under_way = watch.under_way();
        let cancelled_at = cancelled_at
            .lock()
            .unwrap()
            .unwrap_or_else(|| panic!("{moment:?}: the run never got there: {report:?}"));
        let stopping = returned_at - cancelled_at;
        assert!(
            stopping < Duration::from_secs(2),
            "{moment:?}: the run took {stopping:?} to stop"
        );
        assert!(
            under_way.is_empty(),
            "{moment:?}: store calls still under way as the run returned: {under_way:?}"
        );
        // Every write of the run was in (committed or rolled back) before it recorded its end.
        let unfinished = under_way_at_the_end(&watch.calls());
        assert!(unfinished.is_empty(), "{moment:?}: {unfinished:?}");
        assert_eq!(report.status, RunStatus::Cancelled, "{report:?}");
        let error = format!("cancelled: {REASON}");
        assert_eq!(report.error.as_deref(), Some(error.as_str()));
        let run_id = report.run_id.expect("a run row");
        let row = f.store.run(run_id).await.expect("the run row");
        assert_eq!(row.status, RunStatus::Cancelled);
        assert_eq!(row.error.as_deref(), Some(error.as_str()));
        assert_eq!(
            (row.started_at, row.ended_at),
            (started, Some(started + chrono::Duration::minutes(1))),
            "{moment:?}: the run is stamped by its clock as it starts and as it stops"
        );
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
                    .delta_state(&cid("contoso"), chain)
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
                        .any(|s| s.round_id == Some(run_id.0) && s.delta_link.is_none()),
                    "{users:?} {groups:?}"
                );
            }
            Moment::Evaluating => {
                // The batch being written as the run was cancelled was let in.
                let people = f.mirror().await.len();
                assert!(
                    evaluated > 0 && evaluated < people,
                    "{evaluated} of {people} people evaluated before the run stopped"
                );
                // The read was complete: both chains' links are in.
                for s in [&users, &groups] {
                    assert_eq!(s.round_id, Some(run_id.0), "{s:?}");
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

#[tokio::test]
async fn closing_a_runs_tasks_drops_their_graph_requests_in_flight() {
    let running = start(EmulatorConfig::default()).await;
    // A Graph that takes requests in and never answers them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let silent = format!("http://{}/v1.0", listener.local_addr().expect("an address"));
    let (seen, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = seen.send("a request");
                while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
                let _ = seen.send("its connection closed");
            });
        }
    });
    let app = running.demo_app(0).expect("a demo app").clone();
    let text = ConfigFixture::graph_client(&running, &app)
        .graph_url(&silent)
        .render();
    let s = settings(&text, &Environment::default(), std::path::Path::new("."));
    // No request timeout: only the scope can end the request.
    let plain = client(&s, memory_store().await, RetryPolicy::default(), None);

    let scope = TaskScope::child_of(&CancellationToken::new());
    let batched = plain.within(&scope).with_page_batching();
    let url = batched.url("users/delta").expect("a URL");
    let mut pages = batched.pages(url).read_ahead(2);
    assert_eq!(
        heard.recv().await,
        Some("a request"),
        "the batcher sent the page's batch"
    );
    let closing = Instant::now();
    scope.close().await;
    let took = closing.elapsed();
    assert!(took < Duration::from_secs(2), "closing took {took:?}");
    // The batch in flight was dropped with the batcher: its connection closes (a bound, not a
    // wait: it closes at once).
    let closed = tokio::time::timeout(Duration::from_secs(2), heard.recv()).await;
    assert_eq!(closed, Ok(Some("its connection closed")));
    let error = pages
        .next()
        .await
        .expect_err("the round is cut short")
        .to_string();
    assert!(
        ["the page reader stopped", "the page batcher has stopped"]
            .iter()
            .any(|stopped| error.contains(stopped)),
        "its reader or the batcher stopped, whichever went first: {error}"
    );
}
