//! Scaffolding for tests against the Graph emulator: a config (`ConfigFixture`) loaded through
//! the real config loader, and a Graph client built by the real composition root.

use std::path::Path;
use std::sync::Arc;

use entra_sync::app;
use entra_sync::clock::SystemClock;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::config::{ConfigOverrides, Settings};
use entra_sync::graph::{self, GraphClient, RetryPolicy};
use entra_sync::store::Store;
use graph_emulator::{EmulatorConfig, GraphEmulator, Running};

pub async fn start(config: EmulatorConfig) -> Running {
    GraphEmulator::start(config)
        .await
        .expect("the emulator starts")
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
        // Real time: the client signs certificate assertions at its clock's time, and the
        // emulator checks them against its own, the wall clock unless a test gives it another.
        Arc::new(SystemClock),
        graph::http_client(timeout, settings.connections[0].trusted_ca.as_ref())
            .expect("an HTTP client"),
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
