//! The service layer as every entry point gets it, on both backends: whoever calls (the CLI, the
//! scheduler, the admin API), a write for a connection not enabled for this instance is refused
//! before anything is written, and a run refused by a held lease names its holder.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use entra_sync::app::LiveGraph;
use entra_sync::clock::ManualClock;
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::service::{RunsRequest, Service, ServiceError, SyncRequest};
use entra_sync::store::Store;
use entra_sync::store::lease::{Claim, LeaseHolder, connection_lease};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::RunStatus;
use graph_emulator::{EmulatorConfig, Running};

use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::{TestDb, backends, cid};

/// The service's clock stands still at this instant.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

async fn service(running: &Running, db: &TestDb, instance: &str) -> (Service, Arc<dyn Store>) {
    let overrides = ConfigOverrides {
        instance: Some(instance.to_owned()),
        ..ConfigOverrides::default()
    };
    let text = ConfigFixture::contoso(running, &db.url).render();
    let settings = load_str(
        &text,
        "test.toml",
        Path::new("."),
        &Environment::default(),
        &overrides,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrations");
    let clock = Arc::new(ManualClock::new(now()));
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store.clone(), clock, graph);
    (service, store)
}

fn sync(mode: Mode) -> SyncRequest {
    SyncRequest {
        connection: "contoso".to_owned(),
        full: true,
        mode,
        wait: LeaseWait::Refuse,
        trigger: "api".to_owned(),
    }
}

#[tokio::test]
async fn the_instance_check_and_the_lease_hold_for_every_caller_of_the_service() {
    let running = start(EmulatorConfig {
        users: 40,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        // On another instance a sync is refused and writes nothing; its dry run goes ahead.
        let (uat, store) = service(&running, &db, "uat").await;
        match uat.sync(sync(Mode::Apply)).await {
            Err(ServiceError::NotEnabled(refusal)) => {
                assert_eq!(
                    (refusal.instance.as_str(), refusal.refused.as_str()),
                    ("uat", "sync")
                );
                assert_eq!(refusal.runs_on, ["production"]);
            }
            other => panic!("a sync on uat: {other:?}"),
        }
        let preview = uat.sync(sync(Mode::DryRun)).await.expect("a dry run");
        assert_eq!(preview.run_id, None);
        assert!(
            preview.counts.get("created").is_some_and(|n| *n > 0),
            "{preview:?}"
        );
        assert_eq!(store.runs(None, 10).await.expect("runs").len(), 0);

        // Where it runs, another holder's lease refuses the run, naming that holder.
        let (production, store) = service(&running, &db, "production").await;
        let other = LeaseHolder {
            id: "other".to_owned(),
            host: "host-b".to_owned(),
            pid: 22,
        };
        let lease = match store
            .acquire_lease(
                &connection_lease(&cid("contoso")),
                &other,
                Duration::from_secs(60),
            )
            .await
            .expect("a claim")
        {
            Claim::Acquired(lease) => lease,
            Claim::Held(info) => panic!("already held: {info:?}"),
        };
        match production.sync(sync(Mode::Apply)).await {
            Err(ServiceError::Busy { connection, holder }) => {
                assert_eq!(connection, "contoso");
                assert_eq!((holder.host.as_str(), holder.pid), ("host-b", 22));
            }
            other => panic!("a sync while the lease is held: {other:?}"),
        }
        assert_eq!(store.runs(None, 10).await.expect("runs").len(), 0);
        store.release_lease(&lease).await.expect("release");
        let report = production.sync(sync(Mode::Apply)).await.expect("a sync");
        assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
        let runs = production
            .runs(RunsRequest {
                connection: Some("contoso".to_owned()),
                limit: 10,
            })
            .await
            .expect("runs");
        assert_eq!(
            runs.iter()
                .map(|r| (r.trigger.as_str(), r.started_at, r.ended_at))
                .collect::<Vec<_>>(),
            [("api", now(), Some(now()))],
            "the run is stamped by the service's clock"
        );

        // An unknown connection names the configured ones.
        match production
            .runs(RunsRequest {
                connection: Some("nope".to_owned()),
                limit: 10,
            })
            .await
        {
            Err(ServiceError::UnknownConnection { id, known }) => {
                assert_eq!((id.as_str(), known), ("nope", vec!["contoso".to_owned()]));
            }
            other => panic!("runs of an unknown connection: {other:?}"),
        }
        drop((uat, production, store));
        db.cleanup().await;
    }
}
