//! The composition root's part for the daemon: every configuration generation is read from the
//! file (with the environment and the command line's overrides) and built over the one store
//! opened at start; `reload` and `health` talk to a running daemon over `[admin].listen`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::warn;

use super::{LiveGraph, open_store};
use crate::clock::Clock;
use crate::config::{self, ConfigOverrides, Secrets, Settings};
use crate::daemon::pacing::Jitter;
use crate::daemon::{self, Configs, Daemon, Signals};
use crate::service::notify::{self, HttpTransport, Notifier};
use crate::service::{Service, ServiceError};
use crate::store::Store;

/// Reads each generation from the configuration file.
struct FileConfigs {
    path: PathBuf,
    overrides: ConfigOverrides,
    database_url: String,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl Configs for FileConfigs {
    async fn load(&self) -> Result<Service, ServiceError> {
        let settings = load(&self.path, &self.overrides)?;
        if settings.database.url != self.database_url {
            warn!(
                "[database] changed: the daemon keeps the database it started with until it restarts."
            );
        }
        let graph = Arc::new(LiveGraph {
            store: self.store.clone(),
            clock: self.clock.clone(),
        });
        Ok(Service::new(
            Arc::new(settings),
            self.store.clone(),
            self.clock.clone(),
            graph,
        ))
    }
}

/// The configuration. A connection whose secret cannot be read does not stop the daemon (nor a
/// reload): that connection's cycles fail, naming the key path, and the others run.
fn load(path: &Path, overrides: &ConfigOverrides) -> Result<Settings, ServiceError> {
    let env = config::load::Environment::from_process();
    Ok(config::load_with(path, &env, overrides, Secrets::Deferred)?)
}

/// `entra-sync run`.
pub async fn run(
    path: &Path,
    overrides: &ConfigOverrides,
    clock: Arc<dyn Clock>,
) -> Result<ExitCode, ServiceError> {
    let settings = load(path, overrides)?;
    let store = open_store(&settings).await?;
    let metrics = daemon::metrics::install()
        .map_err(|e| ServiceError::Invalid(format!("cannot start the metrics recorder: {e}")))?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let signals = Signals::from_process()
        .map_err(|e| ServiceError::Invalid(format!("cannot listen for signals: {e}")))?;
    let configs = Arc::new(FileConfigs {
        path: path.to_owned(),
        overrides: overrides.clone(),
        database_url: settings.database.url.clone(),
        store,
        clock: clock.clone(),
    });
    let notifier = webhook(&settings)?;
    Daemon {
        configs,
        clock,
        metrics: Some(metrics),
        jitter: Jitter::default(),
        notifier,
        unauthorised: Arc::default(),
        expiring: Arc::default(),
    }
    .run(signals)
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// With `[notifications] webhook_url`, the notifier the daemon's cycles tell, and its delivery
/// task (the URL and secret of the configuration the daemon started with).
fn webhook(settings: &Settings) -> Result<Option<Notifier>, ServiceError> {
    let Some(url) = settings.notifications.webhook_url.clone() else {
        return Ok(None);
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ServiceError::Invalid(format!("cannot build an HTTP client: {e}")))?;
    let (notifier, queue) = Notifier::channel();
    let secret = settings.webhook_secret.clone();
    tokio::spawn(notify::deliver(queue, HttpTransport { http, url }, secret));
    Ok(Some(notifier))
}

/// `entra-sync reload` (`POST /-/reload`) and `entra-sync health` (`GET /healthz`).
pub async fn ask(
    path: &Path,
    overrides: &ConfigOverrides,
    reload: bool,
) -> Result<ExitCode, ServiceError> {
    let settings = load(path, overrides)?;
    let address = reachable(settings.admin.listen);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ServiceError::Invalid(format!("cannot build an HTTP client: {e}")))?;
    let request = if reload {
        client.post(format!("http://{address}/-/reload"))
    } else {
        client.get(format!("http://{address}/healthz"))
    };
    match request.send().await {
        Ok(answer) if answer.status().is_success() => {
            crate::output::print(&crate::output::daemon_answered(reload, address), "");
            Ok(ExitCode::SUCCESS)
        }
        Ok(answer) => Err(ServiceError::Invalid(format!(
            "the daemon on {address} answered {}",
            answer.status()
        ))),
        Err(e) => Err(ServiceError::Invalid(format!(
            "no daemon answers on {address} (admin.listen): {e}"
        ))),
    }
}

/// Where to reach a daemon listening on `listen`: its own host for a wildcard address.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    }
}
