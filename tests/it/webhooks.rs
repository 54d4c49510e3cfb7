//! Webhooks through the daemon's cycles, on both backends: a quarantined run and a failed run
//! each POST once, signed, to a local receiver; with the receiver down, the cycle still returns
//! at once (delivery retries in the background; its backoff and giving up are tested on paused
//! time in `service::notify`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use entra_sync::app::LiveGraph;
use entra_sync::clock::ManualClock;
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::daemon::cycles::ServiceCycles;
use entra_sync::daemon::scheduler::{Cycle, Cycles};
use entra_sync::service::Service;
use entra_sync::service::notify::{self, HttpTransport, Notifier, signature};
use entra_sync::store::Store;
use entra_sync::vocab::RunStatus;
use graph_emulator::faults::{FaultKind, FaultRule, Trigger};
use graph_emulator::{EmulatorConfig, Running};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::daemon_fixture::{daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::support::{TestDb, backends, cid};

/// A receiver on loopback: each POST's headers and body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

struct Setup {
    cycles: ServiceCycles,
    clock: Arc<ManualClock>,
    delivery: tokio::task::JoinHandle<()>,
}

/// The daemon's cycles for one connection (`contoso`, guarded at one deactivation), telling a
/// webhook at `url` signed with `secret`.
async fn setup(running: &Running, db: &TestDb, url: &str, secret: &SecretString) -> Setup {
    let ids = ["contoso".to_owned()];
    let text = daemon_config(
        running,
        "127.0.0.1:0".parse().unwrap(),
        &one_per_tenant(&ids),
        "",
        "5m",
    )
    .replace(
        "entities = [\"users\"]\n",
        "entities = [\"users\"]\nmax_deactivations = { count = 1, percent = 100 }\n",
    );
    let text = format!("{text}\n[database]\nurl = \"{}\"\n", db.url);
    let settings = load_str(
        &text,
        "webhooks.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrations");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store, clock.clone(), graph);
    service.declare().await.expect("declared");
    let (notifier, queue) = Notifier::channel();
    let transport = HttpTransport {
        http: reqwest::Client::new(),
        url: url.parse().unwrap(),
    };
    let delivery = tokio::spawn(notify::deliver(queue, transport, Some(secret.clone())));
    Setup {
        cycles: ServiceCycles {
            service,
            clock: clock.clone(),
            notifier: Some(notifier),
            unauthorised: Arc::default(),
            expiring: Arc::default(),
        },
        clock,
        delivery,
    }
}

/// Runs the connection's next cycle, which is due (the clock is moved past its interval).
async fn next_cycle(setup: &Setup) -> Cycle {
    setup.clock.advance(chrono::Duration::minutes(6));
    setup
        .cycles
        .cycle(&cid("contoso"), &CancellationToken::new())
        .await
}

/// Soft-deletes three of the tenant's people, so the next delta would deactivate three.
fn three_leave(running: &Running) {
    let tenant = running.demo_app(0).unwrap().tenant_id;
    let leavers: Vec<_> = running
        .control
        .with_directory(tenant, |d| {
            d.live_users().map(|u| u.id).take(3).collect::<Vec<_>>()
        })
        .unwrap();
    for id in leavers {
        running.control.soft_delete_user(tenant, id).unwrap();
    }
}

async fn received(rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>) -> (HeaderMap, Value) {
    let (headers, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a POST within 30 s")
        .expect("the receiver is up");
    let json = serde_json::from_slice(&body).expect("a JSON body");
    let signed = headers["x-entra-sync-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let secret = SecretString::from("webhook secret".to_owned());
    assert_eq!(signed, signature(&secret, &body), "a valid signature");
    (headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_run_and_a_failed_run_each_post_once_signed() {
    let secret = SecretString::from("webhook secret".to_owned());
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 20,
            groups: 3,
            ..EmulatorConfig::default()
        })
        .await;
        let (url, mut rx) = receiver().await;
        let setup = setup(&running, &db, &url, &secret).await;

        let first = next_cycle(&setup).await;
        assert!(
            matches!(
                first,
                Cycle::Ran {
                    status: RunStatus::Succeeded,
                    ..
                }
            ),
            "{first:?}"
        );

        three_leave(&running);
        let quarantined = next_cycle(&setup).await;
        assert!(
            matches!(
                quarantined,
                Cycle::Ran {
                    status: RunStatus::Quarantined,
                    ..
                }
            ),
            "{quarantined:?}"
        );
        let (headers, event) = received(&mut rx).await;
        assert_eq!(headers["x-entra-sync-event"], "run.quarantined");
        assert_eq!(event["event"], "run.quarantined");
        assert_eq!(event["connection"], "contoso");
        assert_eq!(event["held_back"], 3);
        assert!(event["run"].as_i64().is_some(), "{event}");

        running.control.add_fault(FaultRule {
            kind: FaultKind::MalformedJson,
            endpoint: Some("users/delta".to_owned()),
            tenant: None,
            trigger: Trigger::Times { count: 1_000 },
        });
        let failed = next_cycle(&setup).await;
        assert!(matches!(failed, Cycle::Failed { .. }), "{failed:?}");
        let (headers, event) = received(&mut rx).await;
        assert_eq!(headers["x-entra-sync-event"], "run.failed");
        assert_eq!(event["event"], "run.failed");
        assert!(!event["error"].as_str().unwrap().is_empty(), "{event}");
        running.control.clear_faults();

        // Nothing else was sent: once the notifier is gone, delivery ends with the queue empty.
        drop(setup.cycles);
        setup.delivery.await.unwrap();
        assert!(rx.try_recv().is_err(), "exactly one POST per event");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_does_not_hold_up_the_cycle() {
    let secret = SecretString::from("webhook secret".to_owned());
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 20,
            groups: 3,
            ..EmulatorConfig::default()
        })
        .await;
        let setup = setup(&running, &db, &url, &secret).await;
        next_cycle(&setup).await;
        three_leave(&running);
        let quarantined = next_cycle(&setup).await;
        assert!(
            matches!(
                quarantined,
                Cycle::Ran {
                    status: RunStatus::Quarantined,
                    ..
                }
            ),
            "{quarantined:?}"
        );
        // The cycle has returned while its event is still being retried (1 + 2 + 4 + 8 s).
        assert!(!setup.delivery.is_finished());
        setup.delivery.abort();
        db.cleanup().await;
    }
}
