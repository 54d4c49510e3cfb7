//! The TLS mode: a client that trusts only the printed CA runs the token flow and reads Graph
//! over HTTPS; a client that does not trust it is refused.

use std::time::Duration;

use graph_emulator::{EmulatorConfig, GraphEmulator};
use reqwest::{Certificate, Client, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_client_trusting_only_the_written_ca_signs_in_and_reads_users_over_https() {
    let dir = std::env::temp_dir().join(format!("graph-emulator-tls-{}", std::process::id()));
    let running = GraphEmulator::start(EmulatorConfig {
        users: 7,
        groups: 1,
        tls: true,
        data_dir: Some(dir.clone()),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    assert!(running.authority_url.starts_with("https://127.0.0.1:"));
    assert!(running.graph_url.starts_with("https://127.0.0.1:"));
    let ca_path = running.ca_path.clone().expect("CA written");
    assert_eq!(ca_path, dir.join("ca.pem"));
    let pem = std::fs::read(&ca_path).expect("CA file");
    assert_eq!(
        Some(String::from_utf8_lossy(&pem).into_owned()),
        running.ca_pem
    );

    let client = Client::builder()
        .tls_certs_only([Certificate::from_pem(&pem).expect("pem")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let app = running.demo_app(0).expect("demo app");
    let (status, discovery) = {
        let response = client
            .get(format!(
                "{}/{}/v2.0/.well-known/openid-configuration",
                running.authority_url, app.tenant_id
            ))
            .send()
            .await
            .expect("discovery over https");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, StatusCode::OK);
    assert!(
        discovery["token_endpoint"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://"))
    );
    let token: Value = client
        .post(running.token_endpoint(app.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id.to_string()),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token over https")
        .json()
        .await
        .expect("token json");
    let access = token["access_token"].as_str().expect("access_token");
    let users: Value = client
        .get(format!("{}/users?$select=id", running.graph_url))
        .bearer_auth(access)
        .send()
        .await
        .expect("users over https")
        .json()
        .await
        .expect("users json");
    assert_eq!(users["value"].as_array().map(Vec::len), Some(7));
    let next = users["@odata.context"].as_str().expect("context");
    assert!(next.starts_with("https://127.0.0.1:"), "{next}");

    let localhost = format!(
        "https://localhost:{}/v1.0/users/$count",
        running.local_addr.port()
    );
    let response = client
        .get(localhost)
        .bearer_auth(access)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .expect("the certificate covers localhost");
    assert_eq!(response.text().await.expect("count"), "7");

    let untrusting = Client::builder()
        .tls_certs_only(Vec::<Certificate>::new())
        .build()
        .expect("client");
    let refused = untrusting
        .get(format!("{}/users", running.graph_url))
        .send()
        .await;
    assert!(refused.is_err(), "an unknown CA must be refused");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
