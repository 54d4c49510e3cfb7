//! The control API over HTTP, counters, reset, data dir and the CLI flags.

use clap::Parser;
use graph_emulator::{EmulatorArgs, EmulatorConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{graph_error_code, start, start_with};

/// The HTTP control API drives the same changes delta reports, and counters say what was served.
#[tokio::test]
async fn the_http_control_api_creates_users_that_delta_then_reports() {
    let env = start(30, 5).await;
    let token = env.token().await;
    let (_, delta_link, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;
    let control = format!("{}/tenants/{}", env.running.control_url, env.tenant());
    let created: Value = env
        .client
        .post(format!("{control}/users"))
        .json(&json!({"userPrincipalName": "ny@contoso.com", "displayName": "Nia Yilmaz"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let response = env
        .client
        .patch(format!("{control}/users/{id}"))
        .json(&json!({"displayName": "Nia Yılmaz"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (changes, _, _) = env.round(&token, &delta_link, &[]).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["displayName"], "Nia Yılmaz");
    let response = env
        .client
        .delete(format!("{control}/users/{id}?hard=true"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let counters: Value = env
        .client
        .get(format!("{}/counters", env.running.control_url))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert!(
        counters["by_endpoint"]["GET /v1.0/users/delta"]["200"]
            .as_u64()
            .expect("count")
            >= 2
    );
    assert_eq!(
        counters["by_endpoint"]["POST /{tenant}/oauth2/v2.0/token"]["200"],
        1
    );
    let missing = env
        .client
        .patch(format!("{control}/users/{}", uuid::Uuid::new_v4()))
        .json(&json!({"jobTitle": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// `GET /_emulator/tenants/{t}/summary` counts what Graph serves: live users, the enabled
/// ones, guests and groups, and follows changes made through the control API.
#[tokio::test]
async fn the_summary_counts_what_graph_lists_and_follows_changes() {
    let env = start(120, 8).await;
    let token = env.token().await;
    let summary_url = format!(
        "{}/tenants/{}/summary",
        env.running.control_url,
        env.tenant()
    );
    let summary = || async {
        let response = env.client.get(&summary_url).send().await.expect("summary");
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.expect("json")
    };
    let (_, _, users) = env
        .get(&token, "/users?$select=id,accountEnabled,userType&$top=999")
        .await;
    let users = users["value"].as_array().expect("users").clone();
    let enabled = users.iter().filter(|u| u["accountEnabled"] == true).count();
    let guests = users.iter().filter(|u| u["userType"] == "Guest").count();
    let (_, _, groups) = env.get(&token, "/groups?$select=id&$top=999").await;
    let groups = groups["value"].as_array().map_or(0, Vec::len);
    assert!(enabled < users.len(), "the generator disables some users");
    assert_eq!(
        summary().await,
        json!({"users": users.len(), "enabled_users": enabled, "guests": guests, "groups": groups})
    );

    let control = &env.running.control;
    let enabled_id = users
        .iter()
        .find(|u| u["accountEnabled"] == true)
        .and_then(|u| u["id"].as_str())
        .and_then(|id| id.parse().ok())
        .expect("an enabled user");
    control
        .update_user(env.tenant(), enabled_id, json!({"accountEnabled": false}))
        .expect("disable");
    control
        .create_group(
            env.tenant(),
            "Summary check",
            graph_emulator::GroupKind::Security,
        )
        .expect("group");
    assert_eq!(
        summary().await,
        json!({"users": users.len(), "enabled_users": enabled - 1, "guests": guests, "groups": groups + 1})
    );
    let unknown = env
        .client
        .get(format!(
            "{}/tenants/{}/summary",
            env.running.control_url,
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .expect("summary");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// A reset regenerates the tenant and invalidates earlier delta tokens.
#[tokio::test]
async fn reset_restores_the_generated_tenant_and_invalidates_delta_tokens() {
    let env = start(25, 5).await;
    let token = env.token().await;
    let (before, delta_link, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;
    env.running
        .control
        .create_user(
            env.tenant(),
            json!({"userPrincipalName": "tmp@contoso.com", "displayName": "Tmp"}),
        )
        .expect("create");
    env.running.control.reset().expect("reset");
    let token = env.token().await;
    let (status, headers, body) = env.get(&token, &delta_link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(graph_error_code(&body, &headers), "syncStateNotFound");
    let (after, _, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;
    assert_eq!(before, after);
}

/// Several tenants at once, each with its own demo app; certificate files in the data dir.
#[tokio::test]
async fn several_tenants_each_have_a_demo_app_and_written_key_pairs() {
    let dir = std::env::temp_dir().join(format!("graph-emulator-test-{}", uuid::Uuid::new_v4()));
    let env = start_with(EmulatorConfig {
        users: 10,
        groups: 0,
        tenants: 2,
        data_dir: Some(dir.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let first = env.running.demo_app(0).expect("first").clone();
    let second = env.running.demo_app(1).expect("second").clone();
    assert_ne!(first.tenant_id, second.tenant_id);
    for app in [&first, &second] {
        let cert = std::fs::read_to_string(app.certificate_path.as_ref().expect("cert path"))
            .expect("cert");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let key =
            std::fs::read_to_string(app.private_key_path.as_ref().expect("key path")).expect("key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    let token = env.token_for(&first).await;
    let (status, _, body) = env.get(&token, "/users?$select=id").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().expect("value").len(), 10);
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

/// The CLI flags the brief names parse into a configuration.
#[test]
fn cli_flags_parse_into_a_configuration() {
    let cli = Cli::try_parse_from([
        "graph-emulator",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "7",
        "--users",
        "100000",
        "--groups",
        "2000",
        "--tenants",
        "3",
        "--latency-ms",
        "25",
        "--throttle",
        "--token-lifetime",
        "600",
        "--output",
        "json",
        "--data-dir",
        "/tmp/x",
    ])
    .expect("parse");
    let config = cli.args.config();
    assert_eq!(
        (config.seed, config.users, config.groups, config.tenants),
        (7, 100_000, 2_000, 3)
    );
    assert_eq!(config.latency.as_millis(), 25);
    assert!(config.throttle);
    assert_eq!(config.token_lifetime.as_secs(), 600);
    assert_eq!(cli.args.output, graph_emulator::Output::Json);
}

/// `--output json` prints one line with the URLs and, per tenant, the demo app's
/// credentials and where its certificate key pair is.
#[tokio::test]
async fn the_json_banner_names_urls_credentials_and_key_pair_paths() {
    let dir = std::env::temp_dir().join(format!("graph-emulator-banner-{}", uuid::Uuid::new_v4()));
    let env = start_with(EmulatorConfig {
        users: 5,
        groups: 0,
        tenants: 2,
        data_dir: Some(dir.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let line = graph_emulator::cli::banner(&env.running, graph_emulator::Output::Json);
    assert!(!line.contains('\n'));
    let banner: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(banner["graph_url"], env.running.graph_url.as_str());
    assert_eq!(banner["authority_url"], env.running.authority_url.as_str());
    assert_eq!(banner["control_url"], env.running.control_url.as_str());
    let tenants = banner["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 2);
    for tenant in tenants {
        for key in [
            "tenant_id",
            "client_id",
            "client_secret",
            "certificate_pem",
            "private_key_pem",
        ] {
            assert!(tenant[key].is_string(), "{key}");
        }
        assert!(std::path::Path::new(tenant["private_key_pem"].as_str().expect("path")).exists());
    }
    let text = graph_emulator::cli::banner(&env.running, graph_emulator::Output::Text);
    assert!(text.contains(&env.running.graph_url) && text.contains("client secret:"));
    let _ = std::fs::remove_dir_all(dir);
}
