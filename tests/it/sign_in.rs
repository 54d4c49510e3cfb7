//! The delegated sign-in end to end on both backends, driven over HTTP the way a browser follows
//! the redirects: the admin API hands out Entra's `/authorize` URL, the emulator signs in and
//! redirects to `/authcallback`, and the callback stores the refresh token sealed. Then a sync
//! runs on it, the rotated token replaces it (the emulator's refresh tokens are single-use), and
//! replayed, forged, expired and foreign states, and Entra's own errors, are refused with the
//! reason logged.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entra_sync::api::{Api, router};
use entra_sync::app::LiveGraph;
use entra_sync::auth::{SealedToken, TokenVault};
use entra_sync::clock::ManualClock;
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::config::secret::TokenKey;
use entra_sync::service::sign_in::callback_url;
use entra_sync::service::{Service, SyncRequest};
use entra_sync::store::Store;
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::{AccessLevel, RunStatus};
use graph_emulator::{EmulatorConfig, Running};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::api::{agent, key};
use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::{Captured, TestDb, backends, cid};

const TOKEN_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const MODIFIER: &str = "modifier@contoso.com";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

struct Desk {
    service: Service,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    /// The API's base URL.
    base: String,
}

/// A delegated connection `t` in `db`, served by the admin API on a port of its own.
async fn desk(running: &Running, db: &TestDb) -> Desk {
    let app = running.demo_app(0).expect("a demo app").clone();
    let text = ConfigFixture::graph_client(running, &app)
        .auth(&format!(
            r#"{{ method = "delegated", secret = "{}" }}"#,
            app.client_secret
        ))
        .database(&db.url)
        .render();
    let mut settings = load_str(
        &text,
        "sign-in.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The fixture's public URL is for library tests; here the callback is the API's own address.
    settings.admin.public_url = None;
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrations");
    let clock = Arc::new(ManualClock::new(now()));
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store.clone(), clock.clone(), graph);
    service.declare().await.expect("declared");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bound = listener.local_addr().unwrap();
    let api = {
        let service = service.clone();
        Api::new(Arc::new(move || service.clone())).with_callback(callback_url(None, bound))
    };
    tokio::spawn(async move { axum::serve(listener, router(api)).await });
    Desk {
        service,
        store,
        clock,
        base: format!("http://{bound}"),
    }
}

/// A browser that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `POST /api/connections/t/authorize` with `key`: the `/authorize` URL.
async fn authorize(desk: &Desk, key: &str) -> url::Url {
    let response = reqwest::Client::new()
        .post(format!("{}/api/connections/t/authorize", desk.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    url::Url::parse(body["url"].as_str().expect("a url")).expect("a URL")
}

/// Follows the `/authorize` URL to Entra (the emulator signs in and consents at once): where it
/// redirects the browser.
async fn sign_in_at_entra(url: &url::Url) -> url::Url {
    let response = browser()
        .get(url.clone())
        .send()
        .await
        .expect("Entra answers");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("text");
    url::Url::parse(location).expect("a redirect URL")
}

/// Opens a page: its status and text.
async fn open(url: &str) -> (StatusCode, String) {
    let response = browser().get(url).send().await.expect("the page answers");
    let status = response.status();
    (status, response.text().await.expect("text"))
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

/// The refresh token as stored, opened with the configured key.
async fn stored_token(desk: &Desk) -> (Vec<u8>, String) {
    let sealed = desk
        .store
        .delegated_token(&cid("t"))
        .await
        .expect("read")
        .expect("a stored refresh token");
    let vault = TokenVault::new(&TokenKey::parse(TOKEN_KEY).unwrap()).unwrap();
    let opened = vault
        .open(
            &cid("t"),
            &SealedToken {
                ciphertext: sealed.ciphertext.clone(),
                nonce: sealed.nonce,
                key_id: sealed.key_id,
            },
        )
        .expect("it opens with the configured key");
    (sealed.ciphertext, opened.expose_secret().to_owned())
}

/// Every byte the database holds, as text: the SQLite file and its write-ahead log, or every
/// row of every table of the PostgreSQL database.
pub(crate) async fn database_text(db: &TestDb) -> String {
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        let mut bytes = Vec::new();
        for file in [path.to_owned(), format!("{path}-wal")] {
            bytes.extend(std::fs::read(&file).unwrap_or_default());
        }
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut text = String::new();
    for table in tables {
        let sql = format!("SELECT t::text FROM \"{table}\" t");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .expect("rows");
        text.push_str(&rows.join("\n"));
    }
    pool.close().await;
    text
}

async fn assert_not_stored_plain(db: &TestDb, token: &str) {
    let text = database_text(db).await;
    assert!(!text.is_empty(), "the database was read");
    assert!(
        !text.contains(token),
        "{}: the refresh token is stored in plain text",
        db.url
    );
    assert!(
        !text.contains(&hex::encode(token)),
        "{}: the refresh token is stored as hex",
        db.url
    );
}

#[tokio::test]
async fn a_delegated_connection_is_authorised_in_a_browser_and_syncs_on_its_rotated_token() {
    let running = start(EmulatorConfig {
        users: 12,
        groups: 2,
        single_use_refresh_tokens: true,
        ..EmulatorConfig::default()
    })
    .await;
    let logs = Captured::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let mut sweep: Vec<String> = Vec::new();
    for db in backends().await {
        let desk = desk(&running, &db).await;
        let admin = key(&desk.service, None, None).await;

        // Authorise: the URL carries a PKCE S256 challenge, Entra redirects to our callback,
        // and the callback's page says it worked.
        let url = authorize(&desk, &admin).await;
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["code_challenge"].len(), 43);
        assert_eq!(pairs["redirect_uri"], format!("{}/authcallback", desk.base));
        let back = sign_in_at_entra(&url).await;
        assert!(
            back.as_str()
                .starts_with(&format!("{}/authcallback?", desk.base))
        );
        let (status, page) = open(back.as_str()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("is authorised"), "{page}");
        let (sealed, first) = stored_token(&desk).await;
        assert_not_stored_plain(&db, &first).await;

        // Sync with the stored token: everyone arrives, and the rotated token replaced it.
        let report = desk
            .service
            .sync(SyncRequest {
                connection: "t".to_owned(),
                full: true,
                mode: Mode::Apply,
                wait: LeaseWait::Refuse,
                trigger: "test".to_owned(),
            })
            .await
            .expect("a sync on the delegated token");
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        assert!(
            report.counts.get("created").is_some_and(|n| *n > 0),
            "{:?}",
            report.counts
        );
        let (rotated_sealed, rotated) = stored_token(&desk).await;
        assert_ne!(rotated_sealed, sealed);
        assert_ne!(rotated, first);
        assert_not_stored_plain(&db, &rotated).await;
        // The old refresh token is dead (single-use): Entra refuses it.
        let app = running.demo_app(0).unwrap();
        let refused = reqwest::Client::new()
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                running.authority_url, app.tenant_id
            ))
            .form(&[
                ("client_id", app.client_id.to_string()),
                ("client_secret", app.client_secret.clone()),
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", first.clone()),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"], "invalid_grant", "{error}");

        // A replayed state: refused, and nothing changes.
        let (status, page) = open(back.as_str()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("used already"), "{page}");
        // A forged state, and none at all.
        for forged in [
            format!("{}/authcallback?code=abc&state=made-up", desk.base),
            format!("{}/authcallback?code=abc", desk.base),
        ] {
            let (status, page) = open(&forged).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(page.contains("not issued by this service"), "{page}");
        }
        // An expired one: the browser comes back eleven minutes later.
        let late = sign_in_at_entra(&authorize(&desk, &admin).await).await;
        desk.clock.advance(Duration::minutes(11));
        let (status, page) = open(late.as_str()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("expired"), "{page}");
        // A foreign one: the agent who started it lost its access before the browser came back.
        agent(desk.store.as_ref(), MODIFIER).await;
        desk.service
            .grant_access("t", MODIFIER, AccessLevel::ReadModify)
            .await
            .unwrap();
        let modifier = key(&desk.service, Some(MODIFIER), None).await;
        let started = sign_in_at_entra(&authorize(&desk, &modifier).await).await;
        desk.service.revoke_access("t", MODIFIER).await.unwrap();
        let (status, page) = open(started.as_str()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("may no longer change connection t"), "{page}");
        // Entra's own error comes back with advice.
        let state = state_of(&authorize(&desk, &admin).await);
        let (status, page) = open(&format!(
            "{}/authcallback?error=consent_required&error_description=AADSTS65001%3A+The+user+or+administrator+has+not+consented&state={state}",
            desk.base
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("consent_required"), "{page}");
        assert!(page.contains("administrator must consent"), "{page}");
        // None of the refusals touched the stored token.
        assert_eq!(stored_token(&desk).await.1, rotated);

        // Entra revokes the refresh token: the next cycle fails asking for re-authorisation and
        // changes no one; the connection says so until an admin signs in again.
        let people = || async {
            let mut people: Vec<(i64, bool)> = desk
                .store
                .people(&cid("t"))
                .await
                .unwrap()
                .users
                .values()
                .map(|u| (u.id, u.inactive))
                .collect();
            people.sort();
            people
        };
        let before = people().await;
        running.control.expire_refresh_tokens();
        desk.clock.advance(Duration::hours(25));
        let cycle = desk
            .service
            .cycle(&cid("t"), &tokio_util::sync::CancellationToken::new())
            .await;
        match cycle {
            Ok(entra_sync::service::CycleResult::Ran { report, .. }) => {
                assert_eq!(report.status, RunStatus::Failed, "{:?}", report.error);
                assert!(report.needs_authorisation, "{:?}", report.error);
            }
            Err(error) => assert!(error.to_string().contains("authoris"), "{error}"),
            Ok(other) => panic!("no run: {other:?}"),
        }
        assert!(desk.service.status("t").await.unwrap().needs_authorisation);
        assert_eq!(people().await, before, "a failed cycle changes no one");
        let back = sign_in_at_entra(&authorize(&desk, &admin).await).await;
        let (status, page) = open(back.as_str()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!desk.service.status("t").await.unwrap().needs_authorisation);
        let report = desk
            .service
            .sync(SyncRequest {
                connection: "t".to_owned(),
                full: false,
                mode: Mode::Apply,
                wait: LeaseWait::Refuse,
                trigger: "test".to_owned(),
            })
            .await
            .expect("a sync once authorised again");
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);

        // No credential in the database: not the client secret, not any access token,
        // authorization code or refresh token Entra issued, not an API key.
        let text = database_text(&db).await;
        let app = running.demo_app(0).unwrap();
        let mut secrets = running.control.issued_credentials();
        secrets.extend([app.client_secret.clone(), admin.clone(), modifier.clone()]);
        assert!(secrets.len() > 5, "{} credentials issued", secrets.len());
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{}: a credential is stored in plain text ({}…)",
                db.url,
                &secret[..6]
            );
        }
        sweep.extend(secrets);
        db.cleanup().await;
    }
    // Nor in anything logged, at trace level, across both backends' runs and sign-ins.
    let text = logs.text();
    for secret in &sweep {
        assert!(
            !text.contains(secret.as_str()),
            "a credential is in the log ({}…)",
            &secret[..6]
        );
    }
    let logs = text;
    for reason in [
        "was used already",
        "was not issued by this service",
        "the sign-in expired",
        "may no longer change connection t",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains("A sign-in callback was refused") && l.contains(reason)),
            "no refusal logged for {reason:?}:\n{logs}"
        );
    }
    assert!(
        logs.contains("The delegated sign-in failed at Entra"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_connection_that_is_not_delegated_cannot_be_authorised() {
    let running = start(EmulatorConfig {
        users: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.remove(0);
    let app = running.demo_app(0).unwrap().clone();
    let text = ConfigFixture::graph_client(&running, &app)
        .database(&db.url)
        .render();
    let settings = load_str(
        &text,
        "secret.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap();
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(now()));
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store, clock, graph);
    service.declare().await.unwrap();
    let callback = url::Url::parse("http://127.0.0.1:9/authcallback").unwrap();
    let error = service
        .begin_sign_in(None, "t", &callback)
        .await
        .expect_err("a client-secret connection has nothing to sign in");
    assert!(
        error.to_string().contains("does not use delegated sign-in"),
        "{error}"
    );
}

/// `entra-sync authorize t` on a headless machine: the URL alone on standard output, the
/// callback served by the command itself on `[admin].listen`, exit 0 once the token is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_prints_the_url_and_waits_for_the_callback_on_the_admin_listener() {
    let running = start(EmulatorConfig {
        users: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.pop().expect("a backend");
    let app = running.demo_app(0).unwrap().clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("entra-sync.toml");
    let text = ConfigFixture::graph_client(&running, &app)
        .auth(&format!(
            r#"{{ method = "delegated", secret = "{}" }}"#,
            app.client_secret
        ))
        .admin_listen(&listen)
        .database(&db.url)
        .render();
    std::fs::write(&config, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .arg("--config")
        .arg(&config)
        .args(["authorize", "t"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (line, mut rest) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("standard output");
        (line, reader)
    })
    .await
    .unwrap();
    let Ok(url) = url::Url::parse(line.trim_end()) else {
        let output = child.wait_with_output().expect("it exits");
        panic!(
            "standard output is not the URL alone: {line:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let back = sign_in_at_entra(&url).await;
    assert!(
        back.as_str()
            .starts_with(&format!("http://{listen}/authcallback?")),
        "{back}"
    );
    let (status, page) = open(back.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (output, more) = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let output = child.wait_with_output().expect("it exits");
        let mut more = String::new();
        rest.read_to_string(&mut more).expect("standard output");
        (output, more)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Connection t is authorised"), "{stderr}");
    assert_eq!(more, "", "nothing else on standard output");

    let store = db.open().await;
    assert!(
        store.delegated_token(&cid("t")).await.unwrap().is_some(),
        "the refresh token is stored"
    );
    db.cleanup().await;
}
