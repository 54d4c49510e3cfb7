//! One tenant's Graph failing on every request does not hold up the others: in one daemon, on
//! both backends, the other connections keep completing cycles, the admin endpoints keep
//! answering, the failing connection's runs fail with Graph's error, and once Graph recovers its
//! next run succeeds.

use std::sync::Arc;
use std::time::Duration;

use entra_sync::store::{self, Store};
use entra_sync::vocab::RunStatus;
use graph_emulator::EmulatorConfig;
use graph_emulator::faults::{FaultKind, FaultRule, Trigger};

use crate::daemon::{Daemon, TEST_DAEMON, eventually, free_address, runs_of, series_sum};
use crate::daemon_fixture::{daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::support::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_graph_fails_holds_up_no_other_connection() {
    let running = start(EmulatorConfig {
        tenants: 3,
        users: 20,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let failing = running.demo_app(0).expect("a demo app").tenant_id;
    let ids: Vec<String> = ["down", "up-one", "up-two"].map(str::to_owned).to_vec();
    for db in backends().await {
        running.control.clear_faults();
        running.control.add_fault(FaultRule {
            // Without `Retry-After`: a failure, retried a bounded number of times (with one, Graph
            // means throttling, retried for half an hour).
            kind: FaultKind::ServiceUnavailable {
                retry_after_secs: None,
            },
            endpoint: None,
            tenant: Some(failing),
            trigger: Trigger::Rate { probability: 1.0 },
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("entra-sync.toml");
        let listen = free_address();
        std::fs::write(
            &config,
            daemon_config(&running, listen, &one_per_tenant(&ids), TEST_DAEMON, "10s"),
        )
        .unwrap();
        let store: Arc<dyn Store> = store::connect(&db.url, 2).await.expect("store").into();
        store.migrate().await.expect("migrate");
        let daemon = Daemon::spawn(&config, &db.url, listen);
        let minute = Duration::from_secs(60);

        // The healthy connections complete two cycles each while the failing one retries.
        for id in ["up-one", "up-two"] {
            eventually(&format!("{id}'s second run"), minute, || async {
                let runs = runs_of(store.as_ref(), id).await;
                runs.iter()
                    .filter(|r| r.status == RunStatus::Succeeded)
                    .count()
                    >= 2
            })
            .await;
        }
        let (status, ready) = daemon.get("/readyz").await;
        assert_eq!(status, 200, "ready while a connection fails: {ready}");
        eventually("down's run fails with Graph's error", minute, || async {
            runs_of(store.as_ref(), "down").await.iter().any(|r| {
                r.status == RunStatus::Failed
                    && r.error.as_deref().is_some_and(|e| e.contains("503"))
            })
        })
        .await;
        assert!(
            runs_of(store.as_ref(), "down")
                .await
                .iter()
                .all(|r| r.status != RunStatus::Succeeded),
            "no run of the failing tenant succeeds"
        );
        let (_, metrics) = daemon.get("/metrics").await;
        let failed = series_sum(
            &metrics,
            "entra_sync_runs_total",
            &[("connection", "down"), ("status", "failed")],
        );
        assert!(failed >= 1.0, "{metrics}");

        // Graph recovers. The failing connection's cycles are backed off (doubling from its
        // interval); an operator's trigger runs it at once, and it succeeds.
        running.control.clear_faults();
        let triggered = daemon.command(&db.url, &["trigger", "down"]).await;
        assert!(triggered.status.success(), "{triggered:?}");
        eventually("down's run after recovery", minute, || async {
            runs_of(store.as_ref(), "down")
                .await
                .iter()
                .any(|r| r.status == RunStatus::Succeeded)
        })
        .await;
        let synced = store
            .people(&crate::support::cid("down"))
            .await
            .expect("people")
            .users
            .len();
        assert!(synced > 0, "the recovered tenant's people are synced");
        drop(daemon);
        db.cleanup().await;
    }
}
