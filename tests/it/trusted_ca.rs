//! `[[connection]] ca_file`: a certificate authority trusted besides the system's, for token
//! and Graph requests. A sync against the emulator in TLS mode succeeds with its CA configured
//! (in the file or through the environment) and fails with a certificate error without it; a
//! missing file or one that is not PEM is a configuration error naming the key and the file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use entra_sync::app;
use entra_sync::clock::SystemClock;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::config::{ConfigOverrides, Settings};
use entra_sync::graph::RetryPolicy;
use entra_sync::store::{MirrorScope, Store};
use entra_sync::sync::{Mode, RunReport, Syncer};
use entra_sync::vocab::{RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, Running};

use crate::config_fixture::ConfigFixture;
use crate::emulator::{client, settings, start};
use crate::support::{TestDb, backends, cid};
use crate::sync_runs::{request, tenant};

/// The emulator in TLS mode, and a directory holding its CA as `ca.pem`.
async fn tls_emulator() -> (Running, tempfile::TempDir) {
    let running = start(EmulatorConfig {
        users: 60,
        groups: 6,
        tls: true,
        ..EmulatorConfig::default()
    })
    .await;
    assert!(
        running.graph_url.starts_with("https://"),
        "{}",
        running.graph_url
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pem = running.ca_pem.as_deref().expect("TLS mode has a CA");
    std::fs::write(dir.path().join("ca.pem"), pem).expect("the CA file");
    (running, dir)
}

/// The sync tests' `contoso` connection to `running`, with `line` added to it.
fn config_with(running: &Running, db: &TestDb, line: &str) -> String {
    let text = ConfigFixture::contoso(running, &db.url).render();
    let edited = text.replacen("\ngraph_url = ", &format!("\n{line}\ngraph_url = "), 1);
    assert_ne!(edited, text, "the connection has a graph_url line");
    edited
}

/// A full run of the configuration's connection, into `db`.
async fn full_run(
    settings: &Settings,
    db: &TestDb,
    policy: RetryPolicy,
) -> (RunReport, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::from(db.open().await);
    store.migrate().await.expect("migrations");
    app::ensure_declared(settings, store.as_ref(), &SystemClock)
        .await
        .expect("reference data");
    let syncer = Syncer {
        store: store.clone(),
        graph: Some(client(
            settings,
            store.clone(),
            policy,
            Some(Duration::from_secs(30)),
        )),
        clock: Arc::new(SystemClock),
    };
    let report = syncer
        .run(
            &settings.connections[0],
            &request(RunKind::Full, Mode::Apply),
        )
        .await
        .expect("the run");
    (report, store)
}

async fn mirrored(store: &Arc<dyn Store>) -> usize {
    store
        .mirror_page(&cid("contoso"), "", 100_000, MirrorScope::All)
        .await
        .expect("the mirror")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_over_tls_succeeds_with_the_emulators_ca_in_ca_file() {
    let (running, dir) = tls_emulator().await;
    let expected = running
        .control
        .summary(tenant(&running))
        .expect("the tenant")
        .users;
    for db in backends().await {
        // Relative to the config file's directory.
        let text = config_with(&running, &db, "ca_file = \"ca.pem\"");
        let settings = settings(&text, &Environment::default(), dir.path());
        let ca = settings.connections[0]
            .trusted_ca
            .as_ref()
            .expect("ca_file was read");
        assert_eq!(ca.path, dir.path().join("ca.pem"));
        assert_eq!(ca.certificates, 1);

        let (report, store) = full_run(&settings, &db, RetryPolicy::default()).await;
        assert_eq!(report.error, None, "{report:?}");
        assert_eq!(report.status, RunStatus::Succeeded);
        assert_eq!(mirrored(&store).await, expected, "{}", db.url);
        assert!(report.graph_requests > 0);
    }
    let counters = running.control.counters();
    assert!(
        counters
            .by_endpoint
            .get("POST /{tenant}/oauth2/v2.0/token")
            .and_then(|statuses| statuses.get(&200))
            .is_some_and(|n| *n >= 1),
        "the token request went to the emulator over TLS: {:?}",
        counters.by_endpoint
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_can_set_ca_file_and_without_it_the_run_fails_on_the_certificate() {
    let (running, dir) = tls_emulator().await;
    let expected = running
        .control
        .summary(tenant(&running))
        .expect("the tenant")
        .users;
    let ca = dir.path().join("ca.pem");
    for db in backends().await {
        let text = ConfigFixture::contoso(&running, &db.url).render();

        // No CA: the emulator's certificate is signed by an authority the system does not know.
        let untrusting = settings(&text, &Environment::default(), dir.path());
        assert!(untrusting.connections[0].trusted_ca.is_none());
        // A certificate failure is retried like any transport failure; once is enough here.
        let once = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        let (report, store) = full_run(&untrusting, &db, once).await;
        assert_eq!(report.status, RunStatus::Failed, "{report:?}");
        let error = report.error.clone().unwrap_or_default();
        assert!(
            error.contains("/oauth2/v2.0/token: error sending request: ")
                && error.ends_with("invalid peer certificate: UnknownIssuer"),
            "the token request fails on the certificate, and says so: {error}"
        );
        assert_eq!(mirrored(&store).await, 0);

        // The same file, the CA given through the environment's override of the key.
        let env: Environment = [(
            "ENTRA_SYNC__CONNECTION__CONTOSO__CA_FILE",
            ca.display().to_string(),
        )]
        .into_iter()
        .collect();
        let trusting = settings(&text, &env, dir.path());
        let (report, store) = full_run(&trusting, &db, RetryPolicy::default()).await;
        assert_eq!(report.error, None, "{report:?}");
        assert_eq!(mirrored(&store).await, expected, "{}", db.url);
    }
}

#[test]
fn a_missing_or_unreadable_ca_file_is_a_config_error_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("garbled.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("a file");
    std::fs::write(dir.path().join("empty.pem"), "no PEM here\n").expect("a file");
    let minimal = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid_minimal.toml"),
    )
    .expect("the minimal config");
    let env: Environment = [("CONTOSO_SECRET", "s3cret")].into_iter().collect();
    let path = |name: &str| dir.path().join(name).display().to_string();
    for (file, problem) in [
        (
            "missing.pem",
            format!("cannot read {}", path("missing.pem")),
        ),
        (
            "garbled.pem",
            format!("{} is not valid PEM", path("garbled.pem")),
        ),
        (
            "empty.pem",
            format!(
                "{} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
                path("empty.pem")
            ),
        ),
    ] {
        let text = minimal.replacen(
            "[[connection]]\n",
            &format!("[[connection]]\nca_file = \"{file}\"\n"),
            1,
        );
        assert_ne!(text, minimal);
        let error = load_str(
            &text,
            "test.toml",
            dir.path(),
            &env,
            &ConfigOverrides::default(),
        )
        .expect_err("a bad ca_file");
        let message = error.to_string();
        assert!(
            message.contains(&format!("connection[contoso].ca_file: {problem}")),
            "{message}"
        );
    }
}
