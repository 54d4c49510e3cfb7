//! Scaffolding for tests against the Graph emulator: a config for one of its apps, loaded
//! through the real config loader, and a Graph client built by the real composition root.

use std::path::Path;
use std::sync::Arc;

use entra_sync::app;
use entra_sync::clock::SystemClock;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::config::{ConfigOverrides, Settings};
use entra_sync::graph::{self, GraphClient, RetryPolicy};
use entra_sync::store::Store;
use graph_emulator::{AppCredentials, EmulatorConfig, GraphEmulator, Running};

pub async fn start(config: EmulatorConfig) -> Running {
    GraphEmulator::start(config)
        .await
        .expect("the emulator starts")
}

/// A configuration with one connection `t` to `app`, authenticating with `auth` (a TOML inline
/// table), plus `extra` TOML for the connection (mappings, licences, …).
pub fn config_text(running: &Running, app: &AppCredentials, auth: &str, extra: &str) -> String {
    format!(
        r#"
[daemon]
token_encryption_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

[admin]
public_url = "http://127.0.0.1:9/"

[halo]
clients = ["Contoso"]
sites = [{{ name = "Head Office", client = "Contoso" }}]
user_roles = ["Standard User"]

[[connection]]
id = "t"
tenant_id = "{tenant}"
client_id = "{client}"
authority_url = "{authority}"
graph_url = "{graph}"
auth = {auth}

[[connection.site_mapping]]
sequence = 10
site = "Head Office"
user_role = "Standard User"
{extra}
"#,
        tenant = app.tenant_id,
        client = app.client_id,
        authority = running.authority_url,
        graph = running.graph_url,
    )
}

pub fn settings(text: &str, env: &Environment, base: &Path) -> Settings {
    load_str(text, "test.toml", base, env, &ConfigOverrides::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn client(
    settings: &Settings,
    store: Arc<dyn Store>,
    policy: RetryPolicy,
    timeout: Option<std::time::Duration>,
) -> GraphClient {
    app::graph_client(
        settings,
        &settings.connections[0],
        store,
        Arc::new(SystemClock),
        graph::http_client(timeout).expect("an HTTP client"),
        policy,
    )
    .expect("a Graph client")
}

pub async fn memory_store() -> Arc<dyn Store> {
    let store = entra_sync::store::connect("sqlite::memory:", 1)
        .await
        .expect("an in-memory store");
    store.migrate().await.expect("migrations");
    Arc::from(store)
}
