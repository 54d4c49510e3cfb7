//! The scheduler's state in the store, on both backends: the history a cadence is planned from,
//! operators' triggers coalesced into one run, and housekeeping in bounded deletes.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use entra_sync::ids::{ConnectionId, RunId};
use entra_sync::store::lease::{Claim, LeaseHolder, connection_lease};
use entra_sync::store::*;
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use serde_json::json;

use crate::support::backends;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn contoso() -> ConnectionId {
    ConnectionId::parse("contoso").unwrap()
}

async fn prepared(store: &dyn Store) {
    store.migrate().await.expect("migrate");
    store
        .ensure_connections(
            &[ConnectionRow {
                id: "contoso".into(),
                name: "Contoso".into(),
                tenant_id: "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
                client_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            }],
            at(0),
        )
        .await
        .expect("connection");
}

/// A run of `kind` started at `start` that ended with `status`.
async fn ran(store: &dyn Store, kind: RunKind, status: RunStatus, start: i64) -> RunId {
    let id = store
        .start_run(&contoso(), kind, "schedule", at(start))
        .await
        .expect("start");
    if status != RunStatus::Running {
        let end = RunEnd {
            status,
            counts: BTreeMap::new(),
            graph_requests: 0,
            graph_throttles: 0,
            error: None,
            settles: None,
        };
        store
            .finish_run(id, &end, at(start + 1))
            .await
            .expect("finish");
    }
    id
}

#[tokio::test]
async fn the_history_counts_finished_cycles_and_successful_full_runs() {
    for db in backends().await {
        let store = db.open().await;
        prepared(store.as_ref()).await;
        let backend = store.backend();
        assert_eq!(
            store.run_history(&contoso()).await.unwrap(),
            RunHistory::default(),
            "{backend}: nothing ran yet"
        );
        ran(store.as_ref(), RunKind::Full, RunStatus::Succeeded, 0).await;
        ran(store.as_ref(), RunKind::Delta, RunStatus::Succeeded, 2).await;
        ran(store.as_ref(), RunKind::Full, RunStatus::Failed, 4).await;
        ran(store.as_ref(), RunKind::Delta, RunStatus::Quarantined, 6).await;
        // None of these is a cycle the schedule counts.
        ran(store.as_ref(), RunKind::Delta, RunStatus::Cancelled, 8).await;
        ran(store.as_ref(), RunKind::Remap, RunStatus::Succeeded, 9).await;
        ran(store.as_ref(), RunKind::Import, RunStatus::Succeeded, 10).await;
        ran(store.as_ref(), RunKind::Delta, RunStatus::Running, 11).await;
        assert_eq!(
            store.run_history(&contoso()).await.unwrap(),
            RunHistory {
                last_cycle: Some(at(6)),
                last_full: Some(at(0)),
            },
            "{backend}: a failed full run is a cycle but not a reconciliation"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn triggers_wait_until_a_run_takes_them_all_at_once() {
    for db in backends().await {
        let store = db.open().await;
        prepared(store.as_ref()).await;
        let backend = store.backend();
        assert_eq!(store.triggered().await.unwrap(), []);
        assert_eq!(store.take_triggers(&contoso()).await.unwrap(), None);

        let first = store
            .request_sync(&contoso(), false, "cli", at(1))
            .await
            .unwrap();
        let second = store
            .request_sync(&contoso(), true, "api:alice", at(2))
            .await
            .unwrap();
        assert!(second > first, "{backend}");
        assert_eq!(store.triggered().await.unwrap(), [contoso()]);
        assert_eq!(
            store.take_triggers(&contoso()).await.unwrap(),
            Some(TakenTriggers {
                full: true,
                requested_by: vec!["cli".to_owned(), "api:alice".to_owned()],
            }),
            "{backend}: one run serves both, full as one of them asked"
        );
        assert_eq!(store.triggered().await.unwrap(), [], "{backend}");
        assert_eq!(store.take_triggers(&contoso()).await.unwrap(), None);

        let unknown = ConnectionId::parse("fabrikam").unwrap();
        let refused = store.request_sync(&unknown, false, "cli", at(3)).await;
        assert!(
            matches!(&refused, Err(StoreError::NotFound(m)) if m.contains("fabrikam")),
            "{backend}: {refused:?}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn housekeeping_prunes_in_batches_finalises_orphaned_runs_and_clears_old_leases() {
    for db in backends().await {
        let store = db.open().await;
        prepared(store.as_ref()).await;
        let backend = store.backend();
        let row = |minute: i64| InboundRow {
            id: 0,
            run_id: None,
            connection_id: contoso(),
            source: "integrator".into(),
            logged_at: at(minute),
            entra_id: None,
            upn: Some(format!("person{minute}@contoso.com")),
            target: None,
            notification: NotificationKind::Warning,
            matched: json!({}),
            action: Action::Error,
            changes: json!([]),
            message: None,
            agent_id: None,
        };
        let rows: Vec<InboundRow> = (0..25).map(row).collect();
        store.log(&rows).await.expect("log");

        // A run whose process died: recorded running, and nobody holds the lease.
        let orphan = ran(store.as_ref(), RunKind::Delta, RunStatus::Running, 30).await;
        // A lease given up: it expired when it was released.
        let holder = LeaseHolder {
            id: "gone:1:x".into(),
            host: "gone".into(),
            pid: 1,
        };
        let old = store
            .acquire_lease("connection:elsewhere", &holder, Duration::from_secs(1))
            .await
            .expect("claim");
        let Claim::Acquired(old) = old else {
            panic!("{backend}: {old:?}")
        };
        store.release_lease(&old).await.expect("release");

        let done = store
            .housekeep(
                at(20),
                7,
                "interrupted: its process stopped",
                Duration::ZERO,
                at(40),
            )
            .await
            .expect("housekeep");
        assert_eq!(done.pruned_log_rows, 20, "{backend}: rows before minute 20");
        assert_eq!(done.finalised_runs, 1, "{backend}");
        assert_eq!(done.cleared_leases, 1, "{backend}");
        let run = store.run(orphan).await.unwrap();
        assert_eq!(
            (run.status.as_str(), run.error.as_deref(), run.ended_at),
            (
                "failed",
                Some("interrupted: its process stopped"),
                Some(at(40))
            ),
            "{backend}"
        );
        let left = store
            .inbound_log(&LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(left.len(), 5, "{backend}");
        assert!(left.iter().all(|r| r.logged_at >= at(20)), "{backend}");

        // A live lease keeps its connection's running run; only expired leases are cleared.
        let live = LeaseHolder {
            id: "here:2:y".into(),
            host: "here".into(),
            pid: 2,
        };
        store
            .acquire_lease(
                &connection_lease(&contoso()),
                &live,
                Duration::from_secs(600),
            )
            .await
            .expect("claim");
        let running = ran(store.as_ref(), RunKind::Delta, RunStatus::Running, 41).await;
        let again = store
            .housekeep(at(20), 7, "interrupted", Duration::ZERO, at(42))
            .await
            .expect("housekeep");
        assert_eq!(again.pruned_log_rows, 0, "{backend}");
        assert_eq!(again.finalised_runs, 0, "{backend}: its lease is held");
        assert_eq!(store.run(running).await.unwrap().status, RunStatus::Running);
        assert_eq!(again.cleared_leases, 0, "{backend}: the live lease stays");
        db.cleanup().await;
    }
}
