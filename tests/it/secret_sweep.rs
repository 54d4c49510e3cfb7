//! A daemon at trace level, on both backends: two cycles, the admin API (an online check
//! included, which calls Graph), the status page signed in with a key, and `/metrics`. No
//! secret it holds or token it was issued appears in its output, in any answer it gave, or in
//! the database.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use entra_sync::store::{self, Store};
use entra_sync::vocab::RunStatus;
use graph_emulator::EmulatorConfig;
use reqwest::header::COOKIE;

use crate::daemon::{Daemon, TEST_DAEMON, eventually, free_address, runs_of};
use crate::daemon_fixture::{daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::pages::sign_in;
use crate::sign_in::database_text;
use crate::support::backends;

const WEBHOOK_SECRET: &str = "webhook-s3cr3t-5d1e9b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_a_daemons_output_answers_metrics_pages_or_database() {
    let running = start(EmulatorConfig {
        tenants: 1,
        users: 20,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let token_key = base64::engine::general_purpose::STANDARD.encode([0x5au8; 32]);
    for db in backends().await {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("entra-sync.toml");
        let listen = free_address();
        let daemon_lines = format!("{TEST_DAEMON}\ntoken_encryption_key = {token_key:?}");
        let text = format!(
            "{}\n[notifications]\nwebhook_url = \"http://127.0.0.1:9/hook\"\n\
             webhook_secret = {WEBHOOK_SECRET:?}\n",
            daemon_config(
                &running,
                listen,
                &one_per_tenant(&["contoso".to_owned()]),
                &daemon_lines,
                "1h",
            )
        );
        std::fs::write(&config, text).expect("config");
        let store: Arc<dyn Store> = store::connect(&db.url, 2).await.expect("store").into();
        store.migrate().await.expect("migrate");
        let daemon = Daemon::spawn_logging(&config, &db.url, listen, "trace");
        let minute = Duration::from_secs(60);
        eventually("the first cycle", minute, || async {
            runs_of(store.as_ref(), "contoso")
                .await
                .first()
                .is_some_and(|r| r.status == RunStatus::Succeeded)
        })
        .await;

        let created = daemon
            .command(&db.url, &["keys", "create", "--admin"])
            .await;
        assert!(created.status.success(), "{created:?}");
        let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
        assert!(key.len() > 20, "{key}");

        // The API, an online check and a triggered cycle.
        let base = format!("http://{listen}");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut answers = String::new();
        let c = format!("{base}/api/connections/contoso");
        for (method, url, body) in [
            ("GET", format!("{base}/api/connections"), None),
            ("GET", c.clone(), None),
            ("GET", format!("{c}/check"), None),
            ("POST", format!("{c}/sync"), Some(r#"{"kind": "full"}"#)),
            ("GET", format!("{c}/runs"), None),
            ("GET", format!("{c}/log?limit=500"), None),
            ("GET", format!("{c}/preview"), None),
            ("GET", format!("{c}/licences"), None),
        ] {
            let mut request = http
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&key);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let answer = request.send().await.expect("the API answers");
            let status = answer.status();
            let text = answer.text().await.unwrap();
            assert!(status.is_success(), "{method} {url}: {status} {text}");
            answers.push_str(&text);
        }
        eventually("the triggered cycle", minute, || async {
            let runs = runs_of(store.as_ref(), "contoso").await;
            runs.len() == 2 && runs.iter().all(|r| r.status == RunStatus::Succeeded)
        })
        .await;

        // The status page, signed in with the key, and the metrics.
        let session = sign_in(&http, &base, &key).await.expect("a session");
        for path in [
            "/",
            "/connections/contoso",
            "/connections/contoso/log",
            "/connections/contoso/preview",
            "/connections/contoso/licences",
            "/connections/contoso/confirm?do=full",
        ] {
            let page = http
                .get(format!("{base}{path}"))
                .header(COOKIE, &session.cookie)
                .send()
                .await
                .unwrap();
            let status = page.status();
            let text = page.text().await.unwrap();
            assert!(status.is_success(), "{path}: {status} {text}");
            answers.push_str(&text);
        }
        let (status, metrics) = daemon.get("/metrics").await;
        assert_eq!(status, 200);
        assert!(
            metrics.contains("entra_sync_runs_total"),
            "the metrics were read: {metrics}"
        );

        let mut secrets = vec![
            (
                "the client secret",
                running.demo_app(0).unwrap().client_secret.clone(),
            ),
            ("the API key", key.clone()),
            ("the token key", token_key.clone()),
            ("the webhook secret", WEBHOOK_SECRET.to_owned()),
            ("the session id", session.id.clone()),
        ];
        let issued = running.control.issued_credentials();
        assert!(!issued.is_empty(), "the daemon was issued tokens");
        secrets.extend(issued.into_iter().map(|t| ("an issued token", t)));

        let output = daemon.output();
        assert!(
            output.contains("TRACE") || output.contains("\"level\":\"TRACE\""),
            "the daemon logged at trace level"
        );
        drop(daemon);
        let database = database_text(&db).await;
        for (what, secret) in &secrets {
            for (place, text) in [
                ("the daemon's output", &output),
                ("the API's and pages' answers", &answers),
                ("/metrics", &metrics),
                ("the database", &database),
            ] {
                assert!(!text.contains(secret.as_str()), "{what} is in {place}");
            }
        }
        db.cleanup().await;
    }
}
