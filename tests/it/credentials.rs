//! Credential expiry through the real daemon: a client secret that expires in ten days, read from
//! the app registration in Graph (`Application.Read.All`) or, without that permission, from
//! `auth.expires` in the configuration, gives the warning in the log, the
//! `entra_sync_credential_expiry_timestamp_seconds` series, the date in the connection's status,
//! and one `credential.expiring` webhook.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use chrono::{DateTime, Utc};
use entra_sync::app::LiveGraph;
use entra_sync::clock::{Clock, SystemClock};
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::daemon::cycles::ServiceCycles;
use entra_sync::service::Service;
use entra_sync::service::notify::{Event, Notifier};
use entra_sync::store::Store;
use graph_emulator::config::DEFAULT_APP_ROLES;
use graph_emulator::{EmulatorConfig, Running};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::daemon::{Daemon, TEST_DAEMON, eventually, free_address, series};
use crate::daemon_fixture::{daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::support::{backends, cid};

const TEN_DAYS: Duration = Duration::from_secs(10 * 86_400);
const METRIC: &str = "entra_sync_credential_expiry_timestamp_seconds";

/// A webhook receiver on loopback: each POST's JSON body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// The emulator, with its demo app's secret ending in ten days; `may_read_app` grants the app
/// `Application.Read.All`.
async fn emulator(may_read_app: bool) -> Running {
    let mut roles: Vec<String> = DEFAULT_APP_ROLES.iter().map(|r| (*r).to_owned()).collect();
    if may_read_app {
        roles.push("Application.Read.All".to_owned());
    }
    start(EmulatorConfig {
        users: 4,
        groups: 1,
        app_roles: roles,
        credential_lifetime: TEN_DAYS,
        ..EmulatorConfig::default()
    })
    .await
}

/// A daemon configuration for connection `contoso`, its webhook at `hook`, and `auth.expires`
/// when given.
fn config(
    running: &Running,
    listen: std::net::SocketAddr,
    hook: &str,
    expires: Option<&str>,
) -> String {
    let ids = ["contoso".to_owned()];
    let mut text = daemon_config(running, listen, &one_per_tenant(&ids), TEST_DAEMON, "5m");
    if let Some(date) = expires {
        let secret = &running.demo_app(0).unwrap().client_secret;
        text = text.replace(
            &format!("secret = \"{secret}\" }}"),
            &format!("secret = \"{secret}\", expires = \"{date}\" }}"),
        );
        assert!(
            text.contains("expires = "),
            "the fixture's auth line changed"
        );
    }
    format!("{text}\n[notifications]\nwebhook_url = \"{hook}\"\n")
}

/// Runs the daemon until the webhook comes; checks the webhook, the log, the metric and the
/// status; returns the end date the webhook named.
async fn one_daemon(running: &Running, expires: Option<&str>, source: &str) -> DateTime<Utc> {
    let db = backends().await.remove(0);
    let (hook, mut posts) = receiver().await;
    let listen = free_address();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entra-sync.toml");
    std::fs::write(&path, config(running, listen, &hook, expires)).unwrap();
    let daemon = Daemon::spawn(&path, &db.url, listen);

    let body = tokio::time::timeout(Duration::from_secs(60), posts.recv())
        .await
        .expect("a webhook within a minute")
        .expect("the receiver is up");
    assert_eq!(body["event"], "credential.expiring", "{body}");
    assert_eq!(body["connection"], "contoso");
    assert_eq!(body["source"], source, "{body}");
    let days_left = body["days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&days_left), "{body}");
    let expires_at: DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    let secret = &running.demo_app(0).unwrap().client_secret;
    assert!(
        body["credential"]
            .as_str()
            .unwrap()
            .starts_with(&format!("client secret {}…", &secret[..3])),
        "{body}"
    );

    // The warning is logged before the webhook goes, but the daemon's output is read on
    // another thread: it may arrive a moment after the webhook.
    let warning = "A connection's credential expires soon";
    eventually(
        "the warning in the log",
        Duration::from_secs(10),
        || async { !daemon.logged(warning).is_empty() },
    )
    .await;
    let logged = daemon.logged(warning);
    assert_eq!(logged.len(), 1, "one warning");
    assert_eq!(logged[0]["connection"], "contoso");
    assert_eq!(logged[0]["days_left"].as_i64(), Some(days_left));

    let wanted = expires_at.timestamp() as f64;
    eventually("the expiry series", Duration::from_secs(10), || async {
        let (_, text) = daemon.get("/metrics").await;
        series(&text, METRIC, &[("connection", "contoso")]) == Some(wanted)
    })
    .await;

    let key = daemon
        .command(&db.url, &["keys", "create", "--admin"])
        .await;
    let key = String::from_utf8(key.stdout).unwrap();
    let status: Value = reqwest::Client::new()
        .get(format!("http://{listen}/api/connections/contoso"))
        .bearer_auth(key.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown: DateTime<Utc> = status["credential_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shown, expires_at, "{status}");
    assert_eq!(status["needs_authorisation"], false, "{status}");
    assert!(posts.try_recv().is_err(), "one webhook only");
    drop(daemon);
    db.cleanup().await;
    expires_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_ending_in_ten_days_is_warned_about_from_graph_or_from_the_config() {
    // From the app registration: its secret ends ten days after the emulator started.
    let started = SystemClock.now();
    let running = emulator(true).await;
    let ends = one_daemon(&running, None, "graph").await;
    let lifetime = chrono::Duration::from_std(TEN_DAYS).unwrap();
    assert!(ends >= started + lifetime - chrono::Duration::seconds(5));
    assert!(ends <= SystemClock.now() + lifetime);

    // Without Application.Read.All the configuration says it (the start of that day, UTC).
    let running = emulator(false).await;
    let date = (SystemClock.now() + lifetime).date_naive();
    let ends = one_daemon(&running, Some(&date.to_string()), "config").await;
    assert_eq!(ends, date.and_hms_opt(0, 0, 0).unwrap().and_utc());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_date_is_announced_once_and_a_distant_one_not_at_all() {
    let running = emulator(true).await;
    let db = backends().await.remove(0);
    let text = format!(
        "{}\n[database]\nurl = \"{}\"\n",
        daemon_config(
            &running,
            free_address(),
            &one_per_tenant(&["contoso".to_owned()]),
            "",
            "5m"
        ),
        db.url
    );
    let settings = load_str(
        &text,
        "credentials.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap();
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.unwrap();
    let clock = Arc::new(SystemClock);
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store, clock.clone(), graph);
    service.declare().await.unwrap();
    let (notifier, mut queue) = Notifier::channel();
    let cycles = ServiceCycles {
        service: service.clone(),
        clock,
        notifier: Some(notifier),
        unauthorised: Arc::default(),
        expiring: Arc::default(),
    };
    cycles.credentials(&cid("contoso")).await;
    cycles.credentials(&cid("contoso")).await;
    let first = queue.try_recv().expect("one event");
    assert!(
        matches!(&first.event, Event::CredentialExpiring { days_left, .. } if (9..=10).contains(days_left)),
        "{first:?}"
    );
    assert!(
        queue.try_recv().is_err(),
        "the same end date is announced once"
    );

    // Renewed: the secret now ends in two years, which is no news.
    let app = running.demo_app(0).unwrap();
    let later = SystemClock.now() + chrono::Duration::days(730);
    running
        .control
        .set_credential_ends(app.tenant_id, app.client_id, later, later)
        .unwrap();
    let expiry = service
        .check_credential("contoso")
        .await
        .unwrap()
        .expect("an end date");
    assert!(!expiry.soon);
    assert_eq!(
        expiry.expires_at.timestamp(),
        later.timestamp(),
        "read from Graph again"
    );
    cycles.credentials(&cid("contoso")).await;
    assert!(queue.try_recv().is_err(), "nothing to announce");
    db.cleanup().await;
}
