//! `entra-sync run`: loads the configuration, starts a loop per connection enabled for this
//! instance, serves the health and metrics endpoints, reloads on SIGHUP (or `POST /-/reload`),
//! keeps house, and stops gracefully on SIGTERM or SIGINT.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::cycles::{Announced, ServiceCycles};
use super::http::{Endpoints, router};
use super::metrics;
use super::pacing::Jitter;
use super::scheduler::{Job, Scheduler, SchedulerOptions};
use crate::clock::Clock;
use crate::config::Settings;
use crate::instance::ensure_enabled;
use crate::service::{Service, ServiceError};

/// How often pending triggers are looked for (a trigger reaches its run within this).
const TRIGGER_POLL: Duration = Duration::from_secs(2);
/// A scheduler that has not polled for this long is stuck (`/readyz` fails).
const STUCK_AFTER: Duration = Duration::from_secs(30);
/// Between two looks at the connections' credential end dates.
const CREDENTIALS_EVERY: Duration = Duration::from_secs(6 * 3600);
/// Between two rounds of housekeeping.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// Builds the application for a configuration: the composition root's part of a (re)load.
#[async_trait]
pub trait Configs: Send + Sync {
    /// Reads the configuration afresh and builds the application over it (the database stays
    /// the one opened at start).
    async fn load(&self) -> Result<Service, ServiceError>;
}

/// The configuration generation now live, and its application.
pub struct Live(RwLock<(u64, Service)>);

impl Live {
    /// Generation 1.
    pub fn new(service: Service) -> Self {
        Self(RwLock::new((1, service)))
    }

    /// The generation and its application.
    pub fn current(&self) -> (u64, Service) {
        let live = self.0.read().unwrap_or_else(|p| p.into_inner());
        (live.0, live.1.clone())
    }

    /// Makes `service` live as the next generation; returns its number.
    fn replace(&self, service: Service) -> u64 {
        let mut live = self.0.write().unwrap_or_else(|p| p.into_inner());
        live.0 += 1;
        live.1 = service;
        live.0
    }
}

/// How the daemon gets its signals: real ones, or a test's.
pub struct Signals {
    /// Resolves at each reload request (SIGHUP).
    pub reload: mpsc::Receiver<()>,
    /// Resolves at each stop request (SIGTERM, SIGINT).
    pub stop: mpsc::Receiver<()>,
}

impl Signals {
    /// SIGHUP reloads; SIGTERM and SIGINT stop.
    pub fn from_process() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let (reload_tx, reload) = mpsc::channel(1);
        let (stop_tx, stop) = mpsc::channel(2);
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let _ = reload_tx.try_send(());
            }
        });
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
                if stop_tx.send(()).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { reload, stop })
    }
}

/// The daemon's collaborators.
pub struct Daemon {
    /// Loads each configuration generation.
    pub configs: Arc<dyn Configs>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Spread of the loops' wakes.
    pub jitter: Jitter,
    /// Where webhook events go, with `[notifications] webhook_url`.
    pub notifier: Option<crate::service::notify::Notifier>,
    /// The connections announced as needing authorisation, across generations.
    pub unauthorised: Announced<crate::ids::ConnectionId>,
    /// The credential end dates announced, across generations.
    pub expiring: Announced<(crate::ids::ConnectionId, chrono::DateTime<chrono::Utc>)>,
}

impl Daemon {
    /// Runs until a stop signal, then stops within `[daemon] shutdown_grace`. A second stop
    /// signal exits the process at once with status 130.
    pub async fn run(self, mut signals: Signals) -> Result<(), ServiceError> {
        let service = self.configs.load().await?;
        let settings = service.settings();
        service.declare().await?;
        announce(settings, service.backend());
        let stop = CancellationToken::new();
        let mut scheduler = Scheduler::new(
            self.cycles(&service),
            SchedulerOptions {
                max_parallel: settings.daemon.max_parallel_connections,
                trigger_poll: TRIGGER_POLL,
                jitter: self.jitter,
            },
            stop.clone(),
        );
        scheduler.apply(self.cycles(&service), jobs(settings));
        let listen = settings.admin.listen;
        let live = Arc::new(Live::new(service.clone()));
        metrics::generation(1);

        let (reload_tx, mut reload_api) = mpsc::channel(1);
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            ServiceError::Invalid(format!("admin.listen: cannot listen on {listen}: {e}"))
        })?;
        info!(%listen, "Serving /healthz, /readyz, /metrics, the admin API under /api and the status page under /.");
        let current = live.clone();
        let bound = listener.local_addr().unwrap_or(listen);
        let pages = crate::pages::Pages::new({
            let current = live.clone();
            Arc::new(move || current.current().1)
        });
        let api = crate::api::Api::new(Arc::new(move || current.current().1)).with_callback(
            crate::service::sign_in::callback_url(settings.admin.public_url.as_ref(), bound),
        );
        let app = router(Endpoints {
            live: live.clone(),
            heartbeat: scheduler.heartbeat(),
            stuck_after: STUCK_AFTER,
            metrics: self.metrics.clone(),
            reload: reload_tx,
        })
        .merge(crate::api::router(api))
        .merge(crate::pages::router(pages));
        let limits = super::serve::Limits {
            header_read: settings.admin.request_header_timeout,
            body_read: settings.admin.request_body_timeout,
        };
        let http = tokio::spawn(super::serve::serve(listener, app, limits, stop.clone()));
        let housekeeping = tokio::spawn(keep_house(live.clone(), stop.clone()));
        let credentials = tokio::spawn(watch_credentials(
            live.clone(),
            self.service_cycles(&service),
            stop.clone(),
        ));

        loop {
            tokio::select! {
                Some(()) = signals.reload.recv() => self.reload(&live, &mut scheduler).await,
                Some(()) = reload_api.recv() => self.reload(&live, &mut scheduler).await,
                _ = signals.stop.recv() => break,
            }
        }

        let grace = live.current().1.settings().daemon.shutdown_grace;
        info!(
            grace_seconds = grace.as_secs(),
            "Stopping: no new runs; runs under way stop at their next checkpoint (recorded cancelled)."
        );
        tokio::spawn(async move {
            if signals.stop.recv().await.is_some() {
                error!("A second stop signal: exiting at once.");
                std::process::exit(130);
            }
        });
        let in_time = scheduler.shutdown(grace).await;
        let _ = housekeeping.await;
        let _ = credentials.await;
        let _ = http.await;
        if in_time {
            info!("Stopped.");
            Ok(())
        } else {
            Err(ServiceError::Invalid(format!(
                "runs did not stop within daemon.shutdown_grace ({} s); their leases expire by \
                 themselves and the next run marks them interrupted",
                grace.as_secs()
            )))
        }
    }

    /// Reads the configuration again: a valid one becomes the next generation (connections
    /// added, removed or changed start, stop or restart between their runs); an invalid one is
    /// refused with its errors, and the live one keeps running.
    async fn reload(&self, live: &Live, scheduler: &mut Scheduler) {
        let (generation, _) = live.current();
        let loaded = match self.configs.load().await {
            Ok(service) => service.declare().await.map(|()| service),
            Err(e) => Err(e),
        };
        match loaded {
            Ok(service) => {
                scheduler.apply(self.cycles(&service), jobs(service.settings()));
                let number = live.replace(service);
                metrics::generation(number);
                info!(
                    generation = number,
                    connections = %scheduler.connections().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    "Reloaded the configuration."
                );
            }
            Err(error) => {
                error!(%error, generation, "The new configuration is refused; the live one keeps running.");
            }
        }
    }

    fn cycles(&self, service: &Service) -> Arc<dyn super::scheduler::Cycles> {
        Arc::new(self.service_cycles(service))
    }

    fn service_cycles(&self, service: &Service) -> ServiceCycles {
        ServiceCycles {
            service: service.clone(),
            clock: self.clock.clone(),
            notifier: self.notifier.clone(),
            unauthorised: self.unauthorised.clone(),
            expiring: self.expiring.clone(),
        }
    }
}

/// Housekeeping now and every [`HOUSEKEEPING_EVERY`], with the live generation's settings.
async fn keep_house(live: Arc<Live>, stop: CancellationToken) {
    loop {
        let (_, service) = live.current();
        if let Err(error) = service.housekeep().await {
            warn!(%error, "Housekeeping failed; it is tried again later.");
        }
        tokio::select! {
            () = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Looks at the credential end dates of the connections enabled here now and every
/// [`CREDENTIALS_EVERY`], with the live generation's settings.
async fn watch_credentials(live: Arc<Live>, cycles: ServiceCycles, stop: CancellationToken) {
    loop {
        let (_, service) = live.current();
        let cycles = ServiceCycles {
            service: service.clone(),
            ..cycles.clone()
        };
        for job in jobs(service.settings()) {
            tokio::select! {
                () = cycles.credentials(&job.connection) => {}
                () = stop.cancelled() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CREDENTIALS_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// The loops this instance runs: one per connection enabled for it.
pub fn jobs(settings: &Settings) -> Vec<Job> {
    settings
        .connections
        .iter()
        .filter(|c| ensure_enabled(settings, c, "sync").is_ok())
        .map(|c| {
            let mut hasher = std::hash::DefaultHasher::new();
            format!("{c:?}").hash(&mut hasher);
            Job {
                connection: c.id.clone(),
                interval: c.sync.interval,
                fingerprint: format!("{:016x}", hasher.finish()),
            }
        })
        .collect()
}

/// The startup summary: which connections run here, which do not and why, and the database.
fn announce(settings: &Settings, backend: &str) {
    let (here, elsewhere): (Vec<_>, Vec<_>) = settings
        .connections
        .iter()
        .partition(|c| ensure_enabled(settings, c, "sync").is_ok());
    let here: Vec<String> = here.iter().map(|c| c.id.to_string()).collect();
    let elsewhere: Vec<String> = elsewhere
        .iter()
        .map(|c| {
            format!(
                "{} (enabled for {})",
                c.id,
                c.enabled_for_instances.join(", ")
            )
        })
        .collect();
    info!(
        instance = %settings.instance.name,
        database = backend,
        runs_here = %here.join(", "),
        not_here = %elsewhere.join("; "),
        "entra-sync run: {} connection(s) run here, {} elsewhere.",
        here.len(),
        elsewhere.len()
    );
    if backend == "sqlite" {
        warn!(
            "SQLite keeps everything on this host: run one daemon per database file. Replicas \
             that share connections need PostgreSQL."
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::ConfigOverrides;
    use crate::config::load::{Environment, load_str};

    fn settings(instance: &str) -> Settings {
        settings_with(instance, "2m")
    }

    fn settings_with(instance: &str, alpha_interval: &str) -> Settings {
        let connection = |id: &str, interval: &str, instances: &str| {
            format!(
                "[[connection]]\nid = \"{id}\"\ntenant_id = \"00000000-0000-0000-0000-000000000001\"\n\
                 client_id = \"00000000-0000-0000-0000-000000000002\"\n{instances}\
                 auth = {{ method = \"client_secret\", secret = {{ env = \"SECRET\" }} }}\n\
                 [connection.sync]\ninterval = \"{interval}\"\n"
            )
        };
        let text = format!(
            "[database]\nurl = \"sqlite::memory:\"\n[instance]\nname = \"{instance}\"\n{}{}{}",
            connection("alpha", alpha_interval, ""),
            connection("beta", "5m", "enabled_for_instances = [\"dr\"]\n"),
            connection(
                "gamma",
                "10m",
                "enabled_for_instances = [\"production\", \"dr\"]\n"
            ),
        );
        let env: Environment = [("SECRET", "s")].into_iter().collect();
        load_str(
            &text,
            "test.toml",
            Path::new("."),
            &env,
            &ConfigOverrides::default(),
        )
        .expect("valid configuration")
    }

    #[test]
    fn an_instance_runs_only_the_connections_enabled_for_it() {
        let ids = |jobs: Vec<Job>| -> Vec<(String, u64)> {
            jobs.into_iter()
                .map(|j| (j.connection.to_string(), j.interval.as_secs()))
                .collect()
        };
        assert_eq!(
            ids(jobs(&settings("production"))),
            [("alpha".to_owned(), 120), ("gamma".to_owned(), 600)]
        );
        assert_eq!(
            ids(jobs(&settings("dr"))),
            [("beta".to_owned(), 300), ("gamma".to_owned(), 600)]
        );
        assert!(jobs(&settings("uat")).is_empty());
    }

    #[test]
    fn a_connection_restarts_only_when_its_configuration_changes() {
        let before = jobs(&settings("production"));
        assert_eq!(
            before,
            jobs(&settings("production")),
            "same text, same jobs"
        );
        let after = jobs(&settings_with("production", "3m"));
        assert_ne!(after[0].fingerprint, before[0].fingerprint, "alpha changed");
        assert_eq!(after[1], before[1], "gamma did not");
    }
}
