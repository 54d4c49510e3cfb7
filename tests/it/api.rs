//! The admin API on both backends: every route answered for every kind of caller (the access
//! matrix), and bad input of every kind answered with a 4xx in the one error shape.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entra_sync::api::{Api, router};
use entra_sync::app::LiveGraph;
use entra_sync::clock::ManualClock;
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::ids::ConnectionId;
use entra_sync::service::{KeyRequest, LogRequest, Service, SyncRequest};
use entra_sync::store::{LicenceType, NewAgent, NewUser, Store, UserFields};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::{AccessLevel, Action, RunKind};
use graph_emulator::{EmulatorConfig, Running};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::daemon_fixture::{daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::support::{TestDb, backends};

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// The agents the matrix calls as (their emails), and the one whose access is granted and
/// revoked through the API.
pub(crate) const READER: &str = "reader@contoso.com";
pub(crate) const MODIFIER: &str = "modifier@contoso.com";
pub(crate) const OUTSIDER: &str = "outsider@contoso.com";
pub(crate) const CONFIGURER: &str = "configurer@contoso.com";
pub(crate) const SPARE: &str = "spare@contoso.com";

/// Who calls: the `Authorization` header each sends, if any.
pub(crate) struct Callers {
    pub(crate) rows: Vec<(&'static str, Option<String>)>,
}

/// A service over `db` with two connections (`contoso` and `fabrikam`), its database declared.
async fn service(running: &Running, db: &TestDb) -> (Service, Arc<dyn Store>) {
    let (service, store, _) = service_with(running, db, "").await;
    (service, store)
}

/// [`service`], each connection's `[connection.sync]` given the lines `sync` too, and the clock
/// the service reads (stopped at [`now`]).
pub(crate) async fn service_with(
    running: &Running,
    db: &TestDb,
    sync: &str,
) -> (Service, Arc<dyn Store>, ManualClock) {
    let ids = ["contoso".to_owned(), "fabrikam".to_owned()];
    let mut text = daemon_config(
        running,
        "127.0.0.1:0".parse().unwrap(),
        &one_per_tenant(&ids),
        "",
        "5m",
    )
    .replace(
        "entities = [\"users\"]\n",
        &format!("entities = [\"users\"]\n{sync}"),
    );
    text.push_str(&format!("\n[database]\nurl = \"{}\"\n", db.url));
    let settings = load_str(
        &text,
        "api.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrations");
    let clock = ManualClock::new(now());
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
    });
    let service = Service::new(
        Arc::new(settings),
        store.clone(),
        Arc::new(clock.clone()),
        graph,
    );
    service.declare().await.expect("declared");
    (service, store, clock)
}

/// An agent record (and its user record) with this email.
pub(crate) async fn agent(store: &dyn Store, email: &str) -> i64 {
    let user = NewUser {
        fields: UserFields {
            name: email.to_owned(),
            emailaddress: Some(email.to_owned()),
            ..UserFields::default()
        },
        ..NewUser::default()
    };
    let user_id = store.insert_user(&user, now()).await.expect("user");
    let agent = NewAgent {
        user_id,
        name: email.to_owned(),
        emailaddress: Some(email.to_owned()),
        phonenumber: None,
        jobtitle: None,
        linemanager_id: None,
        default_team: None,
        licence_type: LicenceType::Concurrent,
        creationtype: None,
        can_configure_entra: false,
        entra: None,
        keep_active: false,
    };
    store.insert_agent(&agent, now()).await.expect("agent")
}

pub(crate) async fn key(
    service: &Service,
    agent: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> String {
    let created = service
        .create_key(&KeyRequest {
            agent: agent.map(str::to_owned),
            admin: agent.is_none(),
            expires_at,
        })
        .await
        .expect("a key");
    created.key.expose_secret().to_owned()
}

/// The agents, their grants and a key for each kind of caller.
pub(crate) async fn callers(service: &Service, store: &dyn Store) -> Callers {
    for email in [READER, MODIFIER, OUTSIDER, CONFIGURER, SPARE] {
        agent(store, email).await;
    }
    service
        .grant_access("contoso", READER, AccessLevel::Read)
        .await
        .unwrap();
    service
        .grant_access("contoso", MODIFIER, AccessLevel::ReadModify)
        .await
        .unwrap();
    service
        .grant_access("fabrikam", OUTSIDER, AccessLevel::ReadModify)
        .await
        .unwrap();
    service.set_can_configure(CONFIGURER, true).await.unwrap();

    let revoked = key(service, Some(MODIFIER), None).await;
    let revoked_id = service.keys().await.unwrap()[0].id;
    service.revoke_key(revoked_id).await.unwrap();
    let expired = key(service, Some(MODIFIER), Some(now() - Duration::minutes(1))).await;
    let bearer = |key: &str| Some(format!("Bearer {key}"));
    Callers {
        rows: vec![
            ("no key", None),
            ("malformed key", bearer("not-a-key")),
            ("revoked key", bearer(&revoked)),
            ("expired key", bearer(&expired)),
            (
                "read_modify elsewhere",
                bearer(&key(service, Some(OUTSIDER), None).await),
            ),
            ("read", bearer(&key(service, Some(READER), None).await)),
            (
                "read_modify",
                bearer(&key(service, Some(MODIFIER), None).await),
            ),
            (
                "can configure",
                bearer(&key(service, Some(CONFIGURER), None).await),
            ),
            ("admin key", bearer(&key(service, None, None).await)),
        ],
    }
}

/// A route of the matrix: its name, method, URL, body, and the status each caller (in
/// [`Callers`] order) gets.
type Route = (&'static str, &'static str, String, Option<Value>, [u16; 9]);

pub(crate) async fn serve(service: Service) -> String {
    serve_api(Api::new(Arc::new(move || service.clone()))).await
}

/// Serves `api` on a loopback port; its base URL.
async fn serve_api(api: Api) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(api);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// One call; the status and the body as JSON (or `null`).
pub(crate) async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method.parse().unwrap(), url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_caller_as_its_access_allows() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 8,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    for db in backends().await {
        let (service, store) = service(&running, &db).await;
        service
            .sync(SyncRequest {
                connection: "contoso".to_owned(),
                full: true,
                mode: Mode::Apply,
                wait: LeaseWait::Refuse,
                trigger: "test".to_owned(),
            })
            .await
            .expect("a first sync");
        let logged = service
            .log(LogRequest {
                connection: Some("contoso".to_owned()),
                user: None,
                action: Some(Action::Created),
                since: None,
                run: None,
                before: None,
                limit: 10,
            })
            .await
            .expect("the log");
        let upn = logged
            .iter()
            .find_map(|r| r.upn.clone())
            .expect("someone was created");
        let mut synced: Vec<String> = service
            .log(LogRequest {
                connection: Some("contoso".to_owned()),
                user: None,
                action: None,
                since: None,
                run: None,
                before: None,
                limit: 1_000,
            })
            .await
            .expect("the log")
            .into_iter()
            .filter(|r| r.target == Some(entra_sync::vocab::RecordKind::User))
            .filter_map(|r| r.upn)
            .collect();
        synced.sort();
        synced.dedup();
        let callers = callers(&service, store.as_ref()).await;
        let base = serve(service.clone()).await;
        let c = format!("{base}/api/connections/contoso");

        // (route, method, url, body, expected status per caller in `callers` order)
        let routes: Vec<Route> = vec![
            (
                "list",
                "GET",
                format!("{base}/api/connections"),
                None,
                [401, 401, 401, 401, 200, 200, 200, 200, 200],
            ),
            (
                "status",
                "GET",
                c.clone(),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                "sync",
                "POST",
                format!("{c}/sync"),
                Some(json!({"kind": "delta"})),
                [401, 401, 401, 401, 404, 403, 202, 202, 202],
            ),
            (
                "runs",
                "GET",
                format!("{c}/runs?limit=5"),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                "approve",
                "POST",
                format!("{c}/runs/999999/approve"),
                None,
                [401, 401, 401, 401, 404, 403, 404, 404, 404],
            ),
            (
                "log",
                "GET",
                format!("{c}/log?limit=2"),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                "preview",
                "GET",
                format!("{c}/preview?limit=2"),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                "online check",
                "GET",
                format!("{c}/check"),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                "delta reset",
                "POST",
                format!("{c}/delta-reset"),
                Some(json!({"mode": "clear"})),
                [401, 401, 401, 401, 404, 403, 200, 200, 200],
            ),
            (
                "keep-active",
                "POST",
                format!("{c}/keep-active"),
                Some(json!({"upn": upn, "keep_active": true})),
                [401, 401, 401, 401, 404, 403, 200, 200, 200],
            ),
            (
                // A client-secret connection has nothing to sign in: a conflict, once reachable.
                "authorize",
                "POST",
                format!("{c}/authorize"),
                None,
                [401, 401, 401, 401, 404, 403, 409, 409, 409],
            ),
            (
                "licences",
                "GET",
                format!("{c}/licences"),
                None,
                [401, 401, 401, 401, 404, 200, 200, 200, 200],
            ),
            (
                // The matrix's connections import no licences: a conflict, once reachable.
                "licences import",
                "POST",
                format!("{c}/licences/import"),
                None,
                [401, 401, 401, 401, 404, 403, 409, 409, 409],
            ),
            (
                // Nor do they manage licences: a conflict, once reachable and changeable.
                "assign licence",
                "POST",
                format!("{c}/users/{}/licences", uuid::Uuid::nil()),
                Some(json!({"sku": "SPE_E3"})),
                [401, 401, 401, 401, 404, 403, 409, 409, 409],
            ),
            (
                "remove licence",
                "DELETE",
                format!("{c}/users/{}/licences/SPE_E3", uuid::Uuid::nil()),
                None,
                [401, 401, 401, 401, 404, 403, 409, 409, 409],
            ),
            (
                // Nor offer groups as followers: a conflict for whoever may read.
                "follower groups",
                "GET",
                format!("{c}/followers/groups"),
                None,
                [401, 401, 401, 401, 404, 409, 409, 409, 409],
            ),
            (
                "follow",
                "POST",
                format!("{c}/tickets/1/followers"),
                Some(json!({"group": uuid::Uuid::nil(), "mode": "address"})),
                [401, 401, 401, 401, 404, 409, 409, 409, 409],
            ),
            (
                // No default connection: nothing to reach, for anyone with a key.
                "follow (default connection)",
                "POST",
                format!("{base}/api/tickets/1/followers"),
                Some(json!({"group": uuid::Uuid::nil(), "mode": "address"})),
                [401, 401, 401, 401, 409, 409, 409, 409, 409],
            ),
            (
                "access list",
                "GET",
                format!("{c}/access"),
                None,
                [401, 401, 401, 401, 404, 403, 403, 200, 200],
            ),
            (
                "grant",
                "PUT",
                format!("{c}/access/{SPARE}"),
                Some(json!({"level": "read"})),
                [401, 401, 401, 401, 404, 403, 403, 200, 200],
            ),
            (
                "revoke",
                "DELETE",
                format!("{c}/access/{SPARE}"),
                None,
                [401, 401, 401, 401, 404, 403, 403, 204, 204],
            ),
        ];
        let mut wrong = Vec::new();
        for (who, (caller, auth)) in callers.rows.iter().enumerate() {
            for (route, method, url, body, expected) in &routes {
                let (status, answer) =
                    call(&http, method, url, auth.as_deref(), body.clone()).await;
                if status.as_u16() != expected[who] {
                    wrong.push(format!(
                        "{route} as {caller}: {status}, expected {} ({answer})",
                        expected[who]
                    ));
                }
                if !status.is_success() {
                    let code = answer["error"]["code"].as_str().unwrap_or_default();
                    let message = answer["error"]["message"].as_str().unwrap_or_default();
                    assert!(
                        !code.is_empty() && !message.is_empty(),
                        "{route} as {caller}: not the error shape: {answer}"
                    );
                }
            }
        }
        assert!(wrong.is_empty(), "{}:\n{}", db.url, wrong.join("\n"));

        // Each caller lists exactly the connections it can reach.
        let listed = |auth: &Option<String>| {
            let (http, url, auth) = (
                http.clone(),
                format!("{base}/api/connections"),
                auth.clone(),
            );
            async move {
                let (_, body) = call(&http, "GET", &url, auth.as_deref(), None).await;
                body["connections"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|c| {
                                format!(
                                    "{}:{}",
                                    c["id"].as_str().unwrap(),
                                    c["access"].as_str().unwrap()
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            }
        };
        let rows = &callers.rows;
        assert_eq!(listed(&rows[4].1).await, ["fabrikam:read_modify"]);
        assert_eq!(listed(&rows[5].1).await, ["contoso:read"]);
        assert_eq!(listed(&rows[6].1).await, ["contoso:read_modify"]);
        assert_eq!(
            listed(&rows[8].1).await,
            ["contoso:read_modify", "fabrikam:read_modify"]
        );

        // The preview is the import screen a page at a time: after a full sync nobody would
        // change, and the pages cover everyone the sync logged once each.
        let reader = rows[5].1.as_deref();
        let mut seen = Vec::new();
        let mut offset = Some(0);
        while let Some(at) = offset {
            let (status, page) = call(
                &http,
                "GET",
                &format!("{c}/preview?records=users&limit=3&offset={at}"),
                reader,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for row in page["rows"].as_array().unwrap() {
                assert_eq!(row["action"], "unchanged", "{row}");
                seen.push(row["upn"].as_str().unwrap().to_owned());
            }
            assert_eq!(page["total"].as_u64().unwrap() as usize, synced.len());
            offset = page["next"].as_u64();
        }
        seen.sort();
        assert_eq!(seen, synced);
        let (_, one) = call(
            &http,
            "GET",
            &format!("{c}/preview?person={}", upn.to_uppercase()),
            reader,
            None,
        )
        .await;
        assert_eq!(one["total"], 1, "{one}");
        assert_eq!(one["rows"][0]["upn"], upn.as_str());
        let (_, verdict) = call(&http, "GET", &format!("{c}/check"), reader, None).await;
        assert_eq!(verdict["can_sync"], true, "{verdict}");
        assert!(
            verdict["granted"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "User.Read.All"),
            "{verdict}"
        );

        // A key's digest, as the database keeps it, is no key: neither as it is nor shaped like one.
        let admin = rows[8].1.as_deref().unwrap().trim_start_matches("Bearer ");
        let digest = hex::encode(Sha256::digest(admin.as_bytes()));
        for forged in [digest.clone(), format!("esk_{}", &digest[..43])] {
            let (status, _) = call(
                &http,
                "GET",
                &format!("{base}/api/connections"),
                Some(&format!("Bearer {forged}")),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
        }
        // The key itself is stored nowhere: the listing shows only its first characters.
        let keys = service.keys().await.unwrap();
        assert!(
            keys.iter()
                .all(|k| k.prefix.len() == 12 && admin.starts_with("esk_"))
        );
        assert!(keys.iter().any(|k| k.last_used_at == Some(now())));
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_of_every_kind_is_a_4xx_with_a_message() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 4,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    for db in backends().await {
        let (service, _store) = service(&running, &db).await;
        let report = service
            .sync(SyncRequest {
                connection: "contoso".to_owned(),
                full: true,
                mode: Mode::Apply,
                wait: LeaseWait::Refuse,
                trigger: "test".to_owned(),
            })
            .await
            .expect("a first sync");
        let succeeded = report.run_id.expect("a recorded run").0;
        let admin = format!("Bearer {}", key(&service, None, None).await);
        let base = serve(service.clone()).await;
        let c = format!("{base}/api/connections/contoso");
        let raw = |method: &str, url: String, body: Option<(&str, String)>| {
            let mut request = http
                .request(method.parse().unwrap(), url)
                .header("authorization", admin.clone());
            if let Some((content_type, body)) = body {
                request = request.header("content-type", content_type).body(body);
            }
            request
        };
        let json = "application/json";
        let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "oversized body",
                raw(
                    "POST",
                    format!("{c}/sync"),
                    Some((
                        json,
                        format!(
                            "{{\"kind\": \"delta\", \"pad\": \"{}\"}}",
                            "x".repeat(20_000)
                        ),
                    )),
                ),
            ),
            (
                "bad JSON",
                raw(
                    "POST",
                    format!("{c}/sync"),
                    Some((json, "{\"kind\": ".to_owned())),
                ),
            ),
            (
                "not JSON",
                raw(
                    "POST",
                    format!("{c}/sync"),
                    Some(("text/plain", "delta".to_owned())),
                ),
            ),
            (
                "unknown field",
                raw(
                    "POST",
                    format!("{c}/sync"),
                    Some((json, "{\"kind\": \"delta\", \"when\": 1}".to_owned())),
                ),
            ),
            (
                "bad enum value",
                raw(
                    "POST",
                    format!("{c}/delta-reset"),
                    Some((json, "{\"mode\": \"everything\"}".to_owned())),
                ),
            ),
            (
                "bad access level",
                raw(
                    "PUT",
                    format!("{c}/access/{SPARE}"),
                    Some((json, "{\"level\": \"owner\"}".to_owned())),
                ),
            ),
            (
                "unknown connection",
                raw("GET", format!("{base}/api/connections/nowhere"), None),
            ),
            (
                "malformed connection id",
                raw("GET", format!("{base}/api/connections/%20bad%2Fid"), None),
            ),
            (
                "run id not a number",
                raw("POST", format!("{c}/runs/abc/approve"), None),
            ),
            (
                "approving a run that is not quarantined",
                raw("POST", format!("{c}/runs/{succeeded}/approve"), None),
            ),
            ("limit zero", raw("GET", format!("{c}/log?limit=0"), None)),
            (
                "limit too large",
                raw("GET", format!("{c}/runs?limit=100000"), None),
            ),
            (
                "limit not a number",
                raw("GET", format!("{c}/log?limit=many"), None),
            ),
            (
                "unknown action",
                raw("GET", format!("{c}/log?action=explode"), None),
            ),
            ("bad since", raw("GET", format!("{c}/log?since=soon"), None)),
            (
                "unknown query parameter",
                raw("GET", format!("{c}/log?colour=blue"), None),
            ),
            (
                "unknown preview records",
                raw("GET", format!("{c}/preview?records=tickets"), None),
            ),
            (
                "preview offset not a number",
                raw("GET", format!("{c}/preview?offset=-1"), None),
            ),
            (
                "preview limit too large",
                raw("GET", format!("{c}/preview?limit=5000"), None),
            ),
            (
                "authorizing a client-secret connection",
                raw("POST", format!("{c}/authorize"), None),
            ),
        ];
        for (case, request) in cases {
            let response = request.send().await.expect("the API answers");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_client_error(), "{case}: {status} {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{case}: no message: {body}");
        }
        db.cleanup().await;
    }
}

/// `/api/openapi.json` is OpenAPI 3.1, needs no key, and describes every route of the access
/// matrix with the bearer scheme; its schemas are the wire types the handlers answer with.
#[tokio::test]
async fn the_openapi_description_lists_every_route_with_its_schemas() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 2,
        groups: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.remove(0);
    let (service, _) = service(&running, &db).await;
    let base = serve(service).await;
    let (status, description) = call(
        &reqwest::Client::new(),
        "GET",
        &format!("{base}/api/openapi.json"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        description["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        description["openapi"]
    );
    let routes = [
        ("get", "/api/connections"),
        ("get", "/api/connections/{id}"),
        ("post", "/api/connections/{id}/sync"),
        ("get", "/api/connections/{id}/runs"),
        ("post", "/api/connections/{id}/runs/{run}/approve"),
        ("get", "/api/connections/{id}/log"),
        ("get", "/api/connections/{id}/preview"),
        ("get", "/api/connections/{id}/check"),
        ("post", "/api/connections/{id}/delta-reset"),
        ("post", "/api/connections/{id}/keep-active"),
        ("post", "/api/connections/{id}/authorize"),
        ("get", "/api/connections/{id}/licences"),
        ("post", "/api/connections/{id}/licences/import"),
        ("post", "/api/connections/{id}/users/{user}/licences"),
        (
            "delete",
            "/api/connections/{id}/users/{user}/licences/{sku}",
        ),
        ("get", "/api/connections/{id}/followers/groups"),
        ("post", "/api/connections/{id}/tickets/{ticket}/followers"),
        ("post", "/api/tickets/{ticket}/followers"),
        ("get", "/api/connections/{id}/access"),
        ("put", "/api/connections/{id}/access/{email}"),
        ("delete", "/api/connections/{id}/access/{email}"),
    ];
    let paths = description["paths"].as_object().expect("paths");
    let described: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        described,
        routes.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in routes {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is not described");
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path}: no 401"
        );
    }
    assert_eq!(
        description["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let status_schema = &description["components"]["schemas"]["Status"]["properties"];
    for field in [
        "next_run",
        "delta",
        "lease_holder",
        "needs_authorisation",
        "credential_expires_at",
    ] {
        assert!(status_schema[field].is_object(), "Status.{field}");
    }
    db.cleanup().await;
}

/// The import preview reads the whole tenant and plans everyone, so it is computed once and
/// shared: a caller that would wait longer than the API waits hears 202 `computing` (and the
/// computation goes on), callers asking meanwhile share that one reading of the tenant, pages
/// come from it, a run of the connection makes the next call read the tenant again, and none is
/// computed while a run is under way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_is_computed_once_for_everyone_asking_and_read_again_after_a_run() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 30,
        groups: 2,
        // Long enough that the callers below arrive while the tenant is read.
        latency: std::time::Duration::from_millis(200),
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.remove(0);
    let (service, store) = service(&running, &db).await;
    let admin = key(&service, None, None).await;
    let patient = serve(service.clone()).await;
    let impatient = serve_api(
        Api::new({
            let service = service.clone();
            Arc::new(move || service.clone())
        })
        .with_preview_wait(std::time::Duration::ZERO),
    )
    .await;
    let http = reqwest::Client::new();
    let get = |base: &str, query: &str| {
        http.get(format!("{base}/api/connections/contoso/preview?{query}"))
            .bearer_auth(&admin)
            .send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, response.json::<Value>().await.unwrap())
    };
    // Graph reads, leaving out sign-ins (a cached token may or may not be reused).
    let reads = || {
        let counters = running.control.counters();
        let signing_in: u64 = counters
            .by_endpoint
            .iter()
            .filter(|(endpoint, _)| endpoint.contains("/oauth2/"))
            .map(|(endpoint, _)| counters.count(endpoint))
            .sum();
        counters.total - signing_in
    };

    let before = reads();
    let (status, retry_after, computing) = answer(get(&impatient, "limit=5").await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{computing}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(computing["state"], "computing");
    assert!(computing["computing_since"].is_string(), "{computing}");
    assert_eq!(computing["rows"], json!([]));

    let (first, second, whole) = tokio::join!(
        get(&patient, "limit=5"),
        get(&patient, "limit=5&offset=5"),
        get(&patient, "limit=100"),
    );
    let mut pages = Vec::new();
    for response in [first, second, whole] {
        let (status, _, page) = answer(response.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["state"], "ready");
        pages.push(page);
    }
    let one_reading = reads() - before;
    assert!(one_reading > 0);
    let read_at = &pages[0]["read_at"];
    assert!(read_at.is_string(), "{}", pages[0]);
    assert!(pages.iter().all(|p| &p["read_at"] == read_at));
    let everyone = pages[2]["rows"].as_array().unwrap();
    assert_eq!(pages[2]["total"].as_u64().unwrap() as usize, everyone.len());
    assert!(everyone.len() > 10, "{}", pages[2]);
    let upns = |rows: &Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["upn"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut two_pages = upns(&pages[0]["rows"]);
    two_pages.extend(upns(&pages[1]["rows"]));
    assert_eq!(two_pages, upns(&pages[2]["rows"])[..10]);
    let actions = |rows: &[Value]| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for row in rows {
            *counts
                .entry(row["action"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        counts
    };
    let planned = actions(everyone);
    assert_eq!(
        planned.keys().collect::<Vec<_>>(),
        ["created", "out-of-scope"]
    );

    // More pages read nothing more.
    let (status, _, third) = answer(get(&patient, "limit=5&offset=10").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(&third["read_at"], read_at);
    assert_eq!(reads() - before, one_reading);

    // A run of the connection: the next call reads the tenant again, and sees what it did.
    service
        .sync(SyncRequest {
            connection: "contoso".to_owned(),
            full: true,
            mode: Mode::Apply,
            wait: LeaseWait::Refuse,
            trigger: "test".to_owned(),
        })
        .await
        .expect("a sync");
    let before = reads();
    let (status, _, after) = answer(get(&patient, "limit=100").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    // One reading again. Its request count varies by a request or two from reading to reading
    // (what the tenant's state makes the import ask for), so the four callers above are held
    // to less than two readings' worth: four separate readings would take four.
    let again = reads() - before;
    assert!(again > 0);
    assert!(
        one_reading < 2 * again,
        "{one_reading} requests for one reading, then {again}"
    );
    assert_eq!(after["total"], pages[2]["total"]);
    let now_planned = actions(after["rows"].as_array().unwrap());
    assert_eq!(
        now_planned["unchanged"], planned["created"],
        "{now_planned:?}"
    );
    assert_eq!(now_planned["out-of-scope"], planned["out-of-scope"]);

    // While a run of the connection is under way, no preview is computed: the caller hears
    // which run it waits for, and the tenant is not read.
    let run = store
        .start_run(
            &ConnectionId::parse("contoso").unwrap(),
            RunKind::Delta,
            "test",
            now(),
        )
        .await
        .unwrap();
    let before = reads();
    let (status, retry_after, waiting) = answer(get(&patient, "limit=5").await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(waiting["state"], "waiting_for_run");
    assert_eq!(waiting["waiting_for_run"], run.0);
    assert_eq!(reads(), before);
}

/// A key's last use is recorded to the minute, so calls do not each write (concurrent calls
/// would queue behind each other's commits on the key's row): on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_last_use_is_written_at_most_once_a_minute() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 2,
        groups: 1,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let (service, _store, clock) = service_with(&running, &db, "").await;
        let admin = secrecy::SecretString::from(key(&service, None, None).await);
        let last_use = || async {
            let keys = service.keys().await.unwrap();
            assert_eq!(keys.len(), 1);
            keys[0].last_used_at
        };
        assert_eq!(last_use().await, None, "{}", db.url);
        let first = now();
        service.authenticate(&admin).await.expect("the key works");
        assert_eq!(last_use().await, Some(first));
        for step in [30, 29] {
            clock.advance(Duration::seconds(step));
            service.authenticate(&admin).await.expect("the key works");
        }
        assert_eq!(
            last_use().await,
            Some(first),
            "within the minute: not written"
        );
        clock.advance(Duration::seconds(1));
        service.authenticate(&admin).await.expect("the key works");
        assert_eq!(last_use().await, Some(first + Duration::seconds(60)));
        db.cleanup().await;
    }
}
