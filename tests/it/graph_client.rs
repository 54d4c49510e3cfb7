//! The Graph client and credentials against the emulator (issue: Graph client and credentials).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use entra_sync::app;
use entra_sync::auth::AuthError;
use entra_sync::clock::SystemClock;
use entra_sync::config::Credentials;
use entra_sync::config::load::Environment;
use entra_sync::graph::{self, GraphError, RetryPolicy, odata};
use graph_emulator::{AppSpec, EmulatorConfig, FaultKind, FaultRule, Running, Trigger, well_known};

use crate::config_fixture::ConfigFixture;
use crate::emulator::{client, memory_store, settings, start};

/// An emulator with `users` people, and a client of its demo app signing in with its secret.
/// The next users read is answered 429 with `Retry-After: 2`.
fn throttle_next_users_read(running: &Running) {
    running.control.add_fault(FaultRule::once(
        FaultKind::TooManyRequests {
            retry_after_secs: 2,
        },
        "GET /v1.0/users",
    ));
}

pub(crate) async fn secret_client(
    users: usize,
    policy: RetryPolicy,
    timeout: Option<Duration>,
) -> (Running, graph::GraphClient) {
    let running = start(EmulatorConfig {
        users,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let client = client(&s, memory_store().await, policy, timeout);
    (running, client)
}

/// Reads every page of `users/delta` and returns the ids seen, asserting none repeats.
async fn read_all_users(client: &graph::GraphClient) -> Result<BTreeSet<String>, GraphError> {
    let mut pages = client.pages(client.url("users/delta?$select=id,displayName")?);
    let mut ids = BTreeSet::new();
    while let Some(page) = pages.next_page().await? {
        for user in page.value {
            let id = user["id"].as_str().expect("an id").to_owned();
            assert!(ids.insert(id.clone()), "user {id} was returned twice");
        }
    }
    assert!(
        pages.delta_link().is_some(),
        "the round ends with a deltaLink"
    );
    Ok(ids)
}

#[tokio::test]
async fn a_client_secret_obtains_a_token_and_reads_every_user() {
    let running = start(EmulatorConfig {
        users: 250,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let client = client(
        &s,
        memory_store().await,
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    let ids = read_all_users(&client).await.expect("users");
    assert!(ids.len() >= 250, "{} users read", ids.len());
    // The delta round's initial state is the same set of people as a plain listing.
    let mut listing = client.pages(client.url("users?$select=id&$top=999").expect("a URL"));
    let mut listed = BTreeSet::new();
    while let Some(page) = listing.next_page().await.expect("a page") {
        listed.extend(
            page.value
                .iter()
                .map(|u| u["id"].as_str().expect("an id").to_owned()),
        );
    }
    assert_eq!(ids, listed);
    let counters = running.control.counters();
    let graph_requests: u64 = counters
        .by_endpoint
        .iter()
        .filter(|(e, _)| e.contains("/v1.0/"))
        .flat_map(|(_, by)| by.values())
        .sum();
    assert!(graph_requests >= 2);
    assert_eq!(
        counters.low_priority, graph_requests,
        "every Graph request is sent with low priority"
    );
}

#[tokio::test]
async fn a_certificate_assertion_works_with_ps256_and_rs256() {
    let running = start(EmulatorConfig::default()).await;
    let mut app = running.demo_app(0).expect("a demo app").clone();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (cert, key) = app.write_pem_files(dir.path()).expect("pem files");
    for algorithm in ["ps256", "rs256"] {
        let auth = format!(
            r#"{{ method = "certificate", certificate = {{ file = "{}" }}, private_key = {{ file = "{}" }}, algorithm = "{algorithm}" }}"#,
            cert.display(),
            key.display()
        );
        let s = settings(
            &ConfigFixture::graph_client(&running, &app)
                .auth(&auth)
                .render(),
            &Environment::default(),
            dir.path(),
        );
        let client = client(
            &s,
            memory_store().await,
            RetryPolicy::default(),
            Some(Duration::from_secs(30)),
        );
        let ids = read_all_users(&client)
            .await
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert!(!ids.is_empty());
    }
}

#[tokio::test]
async fn a_federated_assertion_is_read_afresh_from_its_file() {
    // The emulator checks an assertion's times by its own clock, which the test moves.
    let clock = graph_emulator::clock::ManualClock::at_fixed_start();
    let running = start(EmulatorConfig {
        clock: Arc::new(clock.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let dir = tempfile::tempdir().expect("a temp dir");
    let token_file = dir.path().join("assertion.jwt");
    let write_assertion = |exp_offset: i64| {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: i64,
            nbf: i64,
            iat: i64,
        }
        let now = graph_emulator::clock::Clock::now(&clock).timestamp();
        let claims = Claims {
            iss: app.federated_issuer.as_deref().expect("an issuer"),
            sub: app.federated_subject.as_deref().expect("a subject"),
            aud: app.federated_audience.as_deref().expect("an audience"),
            exp: now + exp_offset,
            nbf: now - 60,
            iat: now - 60,
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            app.federated_private_key_pem
                .as_deref()
                .expect("a key")
                .as_bytes(),
        )
        .expect("an RSA key");
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .expect("a JWT");
        std::fs::write(&token_file, jwt).expect("writing the token file");
    };
    write_assertion(600);
    let auth = r#"{ method = "federated", token_file = "assertion.jwt" }"#;
    let s = settings(
        &ConfigFixture::graph_client(&running, &app)
            .auth(auth)
            .render(),
        &Environment::default(),
        dir.path(),
    );
    assert!(matches!(
        s.connections[0].credentials,
        Credentials::Federated { .. }
    ));
    let client = client(
        &s,
        memory_store().await,
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    assert!(!read_all_users(&client).await.expect("users").is_empty());
    // Past the assertion's expiry (and the 5 minutes of skew allowed) the file's assertion is
    // refused; the platform rotates the projected file, and the next token request reads it.
    clock.advance(chrono::Duration::minutes(16));
    client.tokens().invalidate().await;
    let stale = client.tokens().token().await;
    assert!(
        matches!(&stale, Err(AuthError::Rejected { code: 700024, .. })),
        "{stale:?}"
    );
    write_assertion(900);
    assert!(client.tokens().token().await.is_ok());
}

#[tokio::test]
async fn wrong_credentials_and_unknown_tenants_give_actionable_messages() {
    let running = start(EmulatorConfig {
        tenants: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let store = memory_store().await;

    let s = settings(
        &ConfigFixture::graph_client(&running, &app)
            .auth(r#"{ method = "client_secret", secret = "not-the-secret" }"#)
            .render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let error = client(&s, store.clone(), RetryPolicy::default(), None)
        .tokens()
        .token()
        .await
        .expect_err("a wrong secret");
    assert!(
        matches!(&error, AuthError::Rejected { code: 7000215, message } if message.contains("Value")),
        "{error}"
    );

    // A certificate registered on another tenant's app is not this app's certificate.
    let mut other = running
        .demo_app(1)
        .expect("the second tenant's app")
        .clone();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (cert, key) = other.write_pem_files(dir.path()).expect("pem files");
    let auth = format!(
        r#"{{ method = "certificate", certificate = {{ file = "{}" }}, private_key = {{ file = "{}" }} }}"#,
        cert.display(),
        key.display()
    );
    let s = settings(
        &ConfigFixture::graph_client(&running, &app)
            .auth(&auth)
            .render(),
        &Environment::default(),
        dir.path(),
    );
    let error = client(&s, store.clone(), RetryPolicy::default(), None)
        .tokens()
        .token()
        .await
        .expect_err("a wrong certificate");
    assert!(
        matches!(&error, AuthError::Rejected { code: 700027, message } if message.contains("certificate")),
        "{error}"
    );

    let text = ConfigFixture::graph_client(&running, &app)
        .tenant_id("11111111-2222-4333-8444-555555555555")
        .render();
    let s = settings(&text, &Environment::default(), std::path::Path::new("."));
    let error = client(&s, store, RetryPolicy::default(), None)
        .tokens()
        .token()
        .await
        .expect_err("an unknown tenant");
    assert!(
        matches!(&error, AuthError::Rejected { code: 90002, message } if message.contains("tenant_id")),
        "{error}"
    );
}

#[tokio::test]
async fn a_token_expiring_mid_stream_is_refreshed_once_without_losing_or_repeating_a_page() {
    let running = start(EmulatorConfig {
        users: 2_500,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let client = client(
        &s,
        memory_store().await,
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    let mut pages = client.pages(client.url("users/delta?$select=id").expect("a URL"));
    let mut ids = BTreeSet::new();
    let mut page_count = 0;
    while let Some(page) = pages.next_page().await.expect("a page") {
        page_count += 1;
        for user in page.value {
            assert!(
                ids.insert(user["id"].as_str().expect("an id").to_owned()),
                "a repeated user"
            );
        }
        if page_count == 1 {
            running.control.expire_access_tokens();
        }
    }
    assert!(page_count >= 3, "{page_count} pages");
    let counters = running.control.counters();
    assert_eq!(
        counters.count_status("POST /{tenant}/oauth2/v2.0/token", 200),
        2,
        "one refresh"
    );
    assert_eq!(counters.count_status("GET /v1.0/users/delta", 401), 1);
    assert_eq!(
        counters.count_status("GET /v1.0/users/delta", 200),
        page_count
    );
    let all = read_all_users(&client).await.expect("a second full read");
    assert_eq!(ids, all, "nothing lost");
}

#[tokio::test]
async fn retry_after_is_honoured_and_503_bursts_are_retried_within_the_bound() {
    let running = start(EmulatorConfig::default()).await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let policy = RetryPolicy {
        max_retries: 3,
        ..RetryPolicy::default()
    };
    // No HTTP timeout: on paused time it would fire while the emulator is answering.
    let client = client(&s, memory_store().await, policy, None);
    let users = client.url("users?$select=id&$top=5").expect("a URL");
    client
        .page(&users)
        .await
        .expect("a warm-up read (token cached)");
    tokio::time::pause();

    throttle_next_users_read(&running);
    let started = tokio::time::Instant::now();
    client.page(&users).await.expect("succeeds after the wait");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2_500),
        "waited {waited:?}"
    );
    assert_eq!(client.stats().throttled(), 1);

    running.control.add_fault(FaultRule {
        trigger: Trigger::Times { count: 3 },
        ..FaultRule::once(
            FaultKind::ServiceUnavailable {
                retry_after_secs: None,
            },
            "GET /v1.0/users",
        )
    });
    let before = client.stats().requests();
    client
        .page(&users)
        .await
        .expect("a 503 burst of 3 is absorbed by 3 retries");
    assert_eq!(client.stats().requests() - before, 4);

    running.control.add_fault(FaultRule {
        trigger: Trigger::Times { count: 4 },
        ..FaultRule::once(
            FaultKind::ServiceUnavailable {
                retry_after_secs: None,
            },
            "GET /v1.0/users",
        )
    });
    let before = client.stats().requests();
    let error = client
        .page(&users)
        .await
        .expect_err("4 failures exceed 3 retries");
    assert!(matches!(error, GraphError::Transient(_)), "{error:?}");
    assert_eq!(
        client.stats().requests() - before,
        4,
        "1 attempt + 3 retries, then stop"
    );
}

/// Throttling is Graph asking to slow down, not a failure: a tenant throttled on half its requests
/// for most of an hour reads to the end, however many retries that takes, where a retry count
/// shared with failures would give up. (The fault's rate is seeded, so the run is the same each
/// time; with the retries counted together, a page throttled four times in a row, which this
/// seed holds, ends the read.)
#[tokio::test]
async fn a_read_throttled_half_the_time_for_minutes_ends_in_success() {
    let policy = RetryPolicy {
        max_retries: 3,
        ..RetryPolicy::default()
    };
    let (running, client) = secret_client(2_000, policy, None).await;
    let url = client.url("users?$select=id&$top=20").expect("a URL");
    client
        .page(&url)
        .await
        .expect("a warm-up read (token cached)");
    tokio::time::pause();
    running.control.add_fault(FaultRule {
        trigger: Trigger::Rate { probability: 0.5 },
        ..FaultRule::once(
            FaultKind::TooManyRequests {
                retry_after_secs: 30,
            },
            "GET /v1.0/users",
        )
    });
    let started = tokio::time::Instant::now();
    let mut pages = client.pages(url);
    let (mut ids, mut count) = (BTreeSet::new(), 0);
    while let Some(page) = pages.next_page().await.expect("every page, in the end") {
        count += 1;
        ids.extend(
            page.value
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
    }
    let waited = started.elapsed();
    let throttled = client.stats().throttled();
    assert_eq!((ids.len(), count), (2_000, 100), "every user, every page");
    assert!(throttled > 60, "throttled {throttled} times");
    let honoured = Duration::from_secs(30 * throttled);
    assert!(
        waited >= honoured && waited < honoured + Duration::from_secs(5),
        "each Retry-After honoured: {waited:?} for {throttled} throttles"
    );
    assert!(waited > Duration::from_secs(30 * 60), "for {waited:?}");
}

#[tokio::test]
async fn an_expired_delta_link_and_a_410_mean_resync_and_unknown_codes_keep_code_and_message() {
    let running = start(EmulatorConfig::default()).await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let client = client(
        &s,
        memory_store().await,
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    let mut pages = client.pages(client.url("users/delta?$select=id").expect("a URL"));
    while pages.next_page().await.expect("a page").is_some() {}
    let delta_link = client
        .link(pages.delta_link().expect("a delta link"))
        .expect("on Graph's origin");

    running.control.add_fault(FaultRule::once(
        FaultKind::SyncStateNotFound,
        "GET /v1.0/users/delta",
    ));
    let error = client.page(&delta_link).await.expect_err("expired");
    assert!(
        matches!(&error, GraphError::ResyncRequired { reason } if reason == "syncStateNotFound"),
        "{error:?}"
    );

    running.control.add_fault(FaultRule::once(
        FaultKind::ResyncRequired,
        "GET /v1.0/users/delta",
    ));
    let error = client.page(&delta_link).await.expect_err("gone");
    assert!(
        matches!(error, GraphError::ResyncRequired { .. }),
        "{error:?}"
    );

    let unsupported = client
        .url(&format!(
            "users?$filter={}",
            odata::encode("jobTitle ge 'Eng'")
        ))
        .expect("a URL");
    let error = client.page(&unsupported).await.expect_err("unsupported");
    match error {
        GraphError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code.as_str()), (400, "Request_UnsupportedQuery"));
            assert!(!message.is_empty());
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_group_name_with_an_apostrophe_resolves() {
    let running = start(EmulatorConfig::default()).await;
    let app = running.demo_app(0).expect("a demo app").clone();
    let s = settings(
        &ConfigFixture::graph_client(&running, &app).render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let client = client(
        &s,
        memory_store().await,
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    let filter = odata::display_name_eq(well_known::VISITORS_DESK);
    let url = client
        .url(&format!(
            "groups?$filter={}&$select=id,displayName",
            odata::encode(&filter)
        ))
        .expect("a URL");
    let page = client.page(&url).await.expect("groups");
    assert_eq!(page.value.len(), 1);
    assert_eq!(page.value[0]["displayName"], "Visitors' Desk");
    let expected = running
        .control
        .find_group(app.tenant_id, well_known::VISITORS_DESK)
        .expect("the group exists");
    assert_eq!(page.value[0]["id"], expected.to_string());
}

#[tokio::test]
async fn check_online_names_a_missing_audit_permission_and_passes_a_complete_app() {
    let roles = vec!["User.Read.All".to_owned(), "Group.Read.All".to_owned()];
    let running = start(EmulatorConfig {
        extra_apps: vec![AppSpec {
            name: "no-audit".into(),
            roles,
        }],
        ..EmulatorConfig::default()
    })
    .await;
    let store = memory_store().await;
    for (name, expect_missing) in [("no-audit", vec!["AuditLog.Read.All"]), ("demo", vec![])] {
        let app = running
            .tenants
            .iter()
            .find(|a| a.name == name)
            .expect("the app")
            .clone();
        let s = settings(
            &ConfigFixture::graph_client(&running, &app)
                .field_mapping("user", "signInActivity.lastSignInDateTime", "last_sign_in")
                .render(),
            &Environment::default(),
            std::path::Path::new("."),
        );
        let verdicts = entra_sync::service::check::online(
            &s,
            &app::LiveGraph {
                store: store.clone(),
                clock: Arc::new(SystemClock),
            },
            None,
        )
        .await
        .expect("a check");
        assert_eq!(verdicts.len(), 1);
        let v = &verdicts[0];
        assert_eq!(v.failure, None, "{name}");
        let missing: Vec<&str> = v.missing.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(missing, expect_missing, "{name}");
        assert_eq!(v.can_sync(), expect_missing.is_empty());
        assert!(
            v.untracked
                .iter()
                .any(|(a, at)| a == "signInActivity.lastSignInDateTime"
                    && at.contains("field_mapping[0]")),
            "{v:?}"
        );
    }
}

#[test]
fn check_online_exits_non_zero_and_names_the_permission() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let roles = vec!["User.Read.All".to_owned(), "Group.Read.All".to_owned()];
    let running = runtime.block_on(start(EmulatorConfig {
        extra_apps: vec![AppSpec {
            name: "no-audit".into(),
            roles,
        }],
        ..EmulatorConfig::default()
    }));
    let app = running
        .tenants
        .iter()
        .find(|a| a.name == "no-audit")
        .expect("the app")
        .clone();
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = ConfigFixture::graph_client(&running, &app)
        .database(&format!("sqlite://{}/x.db", dir.path().display()))
        .auth(r#"{ method = "client_secret", secret = { env = "T_SECRET" } }"#)
        .field_mapping("user", "signInActivity.lastSignInDateTime", "last_sign_in")
        .render();
    let path = dir.path().join("entra-sync.toml");
    std::fs::write(&path, text).expect("writing the config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args([
            "--config",
            path.to_str().expect("utf-8"),
            "check",
            "--online",
        ])
        .env("T_SECRET", &app.client_secret)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("CANNOT SYNC") && stdout.contains("AuditLog.Read.All"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&app.client_secret)
            && !String::from_utf8_lossy(&output.stderr).contains(&app.client_secret)
    );
    drop(running);
}

#[tokio::test]
async fn batch_runs_twenty_per_request_and_surfaces_item_errors_in_order() {
    let (running, client) =
        secret_client(60, RetryPolicy::default(), Some(Duration::from_secs(30))).await;
    let page = client
        .page(&client.url("users?$select=id&$top=44").expect("a URL"))
        .await
        .expect("users");
    let mut requests: Vec<graph::batch::BatchRequest> = page
        .value
        .iter()
        .map(|u| {
            let id = u["id"].as_str().expect("an id");
            graph::batch::BatchRequest {
                id: id.to_owned(),
                url: format!("/users/{id}?$select=id,displayName"),
            }
        })
        .collect();
    requests.insert(
        7,
        graph::batch::BatchRequest {
            id: "ghost".into(),
            url: "/users/00000000-0000-4000-8000-00000000dead".into(),
        },
    );
    running.control.reset_counters();
    let items = client.batch_get(&requests).await.expect("the batches run");
    assert_eq!(items.len(), 45);
    assert_eq!(
        running.control.counters().count("POST /v1.0/$batch"),
        3,
        "45 requests in batches of at most 20"
    );
    for (item, request) in items.iter().zip(&requests) {
        assert_eq!(item.id, request.id, "results come back in request order");
        if item.id == "ghost" {
            assert!(
                matches!(&item.result, Err(GraphError::Api { status: 404, .. })),
                "{:?}",
                item.result
            );
        } else {
            let body = item.result.as_ref().expect("a user");
            assert_eq!(body["id"], item.id.as_str());
        }
    }
}

/// Reads a whole round through a read-ahead cursor; the ids in order of arrival.
async fn read_ahead_ids(client: graph::GraphClient, url: url::Url) -> Vec<String> {
    let mut pages = client.pages(url).read_ahead(2);
    let mut ids = Vec::new();
    while let Some((page, _)) = pages.next().await.expect("a page") {
        ids.extend(
            page.value
                .iter()
                .map(|u| u["id"].as_str().expect("an id").to_owned()),
        );
    }
    ids
}

#[tokio::test]
async fn batched_cursors_share_round_trips_and_read_every_page_once() {
    let (running, plain) =
        secret_client(600, RetryPolicy::default(), Some(Duration::from_secs(30))).await;
    let everyone: BTreeSet<String> = read_all_users(&plain).await.expect("users");
    assert_eq!(everyone.len(), 600);
    let batched = plain.with_page_batching();
    assert!(batched.batches_pages() && !plain.batches_pages());
    running.control.reset_counters();
    // Three chains of 30, 10 and 4 pages, read side by side.
    let chains = [20, 60, 150].map(|top| {
        let url = batched
            .url(&format!("users?$select=id&$top={top}"))
            .expect("a URL");
        read_ahead_ids(batched.clone(), url)
    });
    let [a, b, c] = chains;
    let (a, b, c) = tokio::join!(a, b, c);
    for (ids, top) in [(a, 20), (b, 60), (c, 150)] {
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), 600, "$top={top}: no page read twice");
        assert_eq!(unique, everyone, "$top={top}: every person");
    }
    let counters = running.control.counters();
    assert_eq!(
        counters.count("GET /v1.0/users"),
        30 + 10 + 4,
        "each page asked for once"
    );
    assert_eq!(
        counters.count("POST /v1.0/$batch"),
        30,
        "the shorter chains rode along with the longest"
    );
}

#[tokio::test]
async fn a_throttled_page_in_a_batch_is_asked_for_again_after_retry_after() {
    let (running, plain) = secret_client(300, RetryPolicy::default(), None).await;
    let everyone = read_all_users(&plain)
        .await
        .expect("a warm-up read (token cached)");
    let batched = plain.with_page_batching();
    tokio::time::pause();
    throttle_next_users_read(&running);
    let started = tokio::time::Instant::now();
    let chains = [50, 100].map(|top| {
        let url = batched
            .url(&format!("users?$select=id&$top={top}"))
            .expect("a URL");
        read_ahead_ids(batched.clone(), url)
    });
    let [a, b] = chains;
    let (a, b) = tokio::join!(a, b);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for ids in [a, b] {
        assert_eq!(ids.len(), 300, "no page lost or read twice");
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), everyone);
    }
    assert_eq!(batched.stats().throttled(), 1);
    let counters = running.control.counters();
    assert_eq!(counters.count_status("GET /v1.0/users", 429), 1);
}
