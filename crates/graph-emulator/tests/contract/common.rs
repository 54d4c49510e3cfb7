//! Starting an emulator on a manual clock and calling it like the daemon would.

use std::time::Duration;

use graph_emulator::{AppCredentials, EmulatorConfig, GraphEmulator, ManualClock, Running};
use reqwest::{Client, StatusCode, header::HeaderMap};
use serde_json::Value;
use uuid::Uuid;

pub struct Env {
    pub running: Running,
    pub client: Client,
    pub clock: ManualClock,
}

pub async fn start_with(config: EmulatorConfig) -> Env {
    let clock = ManualClock::at_fixed_start();
    let running = GraphEmulator::start(EmulatorConfig {
        clock: std::sync::Arc::new(clock.clone()),
        ..config
    })
    .await
    .expect("emulator starts");
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    Env {
        running,
        client,
        clock,
    }
}

pub async fn start(users: usize, groups: usize) -> Env {
    start_with(EmulatorConfig {
        users,
        groups,
        ..EmulatorConfig::default()
    })
    .await
}

impl Env {
    pub fn app(&self) -> &AppCredentials {
        self.running.demo_app(0).expect("demo app")
    }

    pub fn tenant(&self) -> Uuid {
        self.app().tenant_id
    }

    pub fn token_url(&self) -> String {
        self.running.token_endpoint(self.tenant())
    }

    /// Client-credentials token for an app, by secret.
    pub async fn token_for(&self, app: &AppCredentials) -> String {
        let response = self
            .client
            .post(self.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id.to_string()),
                ("client_secret", &app.client_secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn token(&self) -> String {
        self.token_for(self.app()).await
    }

    /// GET a Graph path (relative to /v1.0) or an absolute link, with extra headers.
    pub async fn get_with(
        &self,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.running.graph_url)
        };
        let mut request = self.client.get(url).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("graph request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, HeaderMap, Value) {
        self.get_with(token, path, &[]).await
    }

    pub async fn post_json(
        &self,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.running.graph_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("graph request");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Follows nextLinks to the deltaLink; returns every item and the deltaLink.
    pub async fn round(
        &self,
        token: &str,
        first: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Value>, String, usize) {
        let mut items = Vec::new();
        let mut link = first.to_owned();
        let mut pages = 0;
        loop {
            let (status, _, body) = self.get_with(token, &link, headers).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            pages += 1;
            items.extend(body["value"].as_array().expect("value").iter().cloned());
            if let Some(next) = body["@odata.nextLink"].as_str() {
                link = next.to_owned();
            } else {
                let delta = body["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink at the end")
                    .to_owned();
                return (items, delta, pages);
            }
        }
    }
}

/// Asserts a Graph error body (concepts/errors.md, "Error resource type") and returns its code.
pub fn graph_error_code(body: &Value, headers: &HeaderMap) -> String {
    let error = &body["error"];
    let inner = &error["innerError"];
    assert!(error["message"].is_string(), "{body}");
    assert!(inner["date"].is_string(), "{body}");
    assert_eq!(
        inner["request-id"].as_str(),
        headers.get("request-id").and_then(|v| v.to_str().ok()),
        "{body}"
    );
    assert!(inner["client-request-id"].is_string(), "{body}");
    error["code"].as_str().expect("code").to_owned()
}
