//! Starting and stopping an emulator: binds the listener, builds the state, composes the
//! Graph, identity-platform and control routers, and serves until shut down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::apps::AppCredentials;
use crate::auth::keys::KeyError;
use crate::config::EmulatorConfig;
use crate::control::{self, Control};
use crate::scenario::{Scenario, ScenarioError};
use crate::state::{Emulator, Urls, lock};
use crate::tls::{LocalCa, TlsError, TlsListener};
use crate::{auth, graph};

/// Why an emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Keys or certificates could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The scenario file is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Certificate files could not be written to the data directory.
    #[error("writing certificate files: {0}")]
    DataDir(std::io::Error),
    /// The TLS mode could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Entry point: `GraphEmulator::start(config)`.
#[derive(Debug)]
pub struct GraphEmulator;

/// A running emulator. Dropping it stops the server; [`Running::shutdown`] also waits for it.
#[derive(Debug)]
pub struct Running {
    /// Graph base URL, ending in `/v1.0`.
    pub graph_url: String,
    /// Authority base: the token endpoint is `{authority_url}/{tenant}/oauth2/v2.0/token`.
    pub authority_url: String,
    /// Control API base (`…/_emulator`).
    pub control_url: String,
    /// The bound address.
    pub local_addr: SocketAddr,
    /// In-process control handle.
    pub control: Control,
    /// Credentials of every app in every tenant; each tenant's `demo` app comes first.
    pub tenants: Vec<AppCredentials>,
    /// In TLS mode, the local CA's certificate (PEM) that clients must trust.
    pub ca_pem: Option<String>,
    /// In TLS mode with a data directory, where that PEM was written (`{data_dir}/ca.pem`).
    pub ca_path: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// The demo app of tenant number `index`.
    pub fn demo_app(&self, index: usize) -> Option<&AppCredentials> {
        self.tenants.iter().filter(|c| c.name == "demo").nth(index)
    }

    /// The token endpoint of a tenant.
    pub fn token_endpoint(&self, tenant: uuid::Uuid) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority_url)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Counts identity-platform responses and applies the configured latency.
async fn identity_pipeline(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    if !emulator.config.latency.is_zero() {
        tokio::time::sleep(emulator.config.latency).await;
    }
    let path = request.uri().path();
    let endpoint = match path.rsplit('/').next() {
        Some("token") => "POST /{tenant}/oauth2/v2.0/token",
        Some("authorize") => "GET /{tenant}/oauth2/v2.0/authorize",
        Some("openid-configuration") if path.contains("/v2.0/") => {
            "GET /{tenant}/v2.0/.well-known/openid-configuration"
        }
        Some("openid-configuration") => "GET /{tenant}/.well-known/openid-configuration",
        Some("instance") => "GET /{tenant}/discovery/instance",
        Some("keys") => "GET /{tenant}/discovery/v2.0/keys",
        _ => "identity (other)",
    };
    let response = next.run(request).await;
    lock(&emulator.counters).record(endpoint, response.status().as_u16(), false);
    response
}

/// Outside `/v1.0`, the identity platform and the control API: Graph's answer to a version it
/// does not serve, counted as `METHOD (unrouted)`.
async fn unknown_version(emulator: Arc<Emulator>, request: Request) -> Response {
    let version = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let error = graph::error::GraphError::bad_request(format!("Invalid version: {version}"));
    let id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| id.clone(), str::to_owned);
    let body = error
        .body(emulator.now(), &id, &client_request_id)
        .to_string();
    lock(&emulator.counters).record(
        &format!("{} (unrouted)", request.method()),
        error.status.as_u16(),
        false,
    );
    (
        error.status,
        [
            (header::CONTENT_TYPE, graph::JSON_CONTENT_TYPE.to_owned()),
            (header::HeaderName::from_static("request-id"), id),
            (
                header::HeaderName::from_static("client-request-id"),
                client_request_id,
            ),
        ],
        body,
    )
        .into_response()
}

impl GraphEmulator {
    /// Generates the tenants, binds (127.0.0.1:0 unless `config.listen` says otherwise) and
    /// serves in a background task.
    pub async fn start(config: EmulatorConfig) -> Result<Running, StartError> {
        let address = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        let public_host = config
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        let tls = if config.tls {
            Some(LocalCa::generate(public_host.as_deref())?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let authority = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{scheme}://{local_addr}"),
        };
        let ca_path = match (&tls, &config.data_dir) {
            (Some(ca), Some(dir)) => Some(ca.write_ca(&dir.join("ca.pem"))?),
            _ => None,
        };
        let urls = Urls {
            graph: format!("{authority}/v1.0"),
            control: format!("{authority}/_emulator"),
            authority,
        };
        let scenario = config.scenario.as_deref().map(Scenario::load).transpose()?;
        let data_dir = config.data_dir.clone();
        let emulator = Arc::new(Emulator::new(config, urls.clone(), scenario.clone())?);
        let control = Control {
            emulator: emulator.clone(),
            scenario: scenario.map(Arc::new),
        };

        let graph_routes = graph::router(emulator.clone());
        let _ = emulator.graph_router.set(graph_routes.clone());
        let app = Router::new()
            .nest(
                "/v1.0",
                graph_routes.layer(middleware::from_fn_with_state(
                    emulator.clone(),
                    graph::latency,
                )),
            )
            .nest("/_emulator", control::router(control.clone()))
            .fallback({
                let emulator = emulator.clone();
                move |request: Request| unknown_version(emulator.clone(), request)
            })
            .merge(
                auth::router()
                    .layer(middleware::from_fn_with_state(
                        emulator.clone(),
                        identity_pipeline,
                    ))
                    .with_state(emulator.clone()),
            );

        let mut tenants = control.credentials();
        if let Some(dir) = data_dir {
            for app in tenants.iter_mut().filter(|a| a.certificate_pem.is_some()) {
                app.write_pem_files(&dir).map_err(StartError::DataDir)?;
            }
        }

        let (stop, stopped) = oneshot::channel::<()>();
        let ca_pem = tls.as_ref().map(|ca| ca.ca_pem.clone());
        let task = match tls {
            Some(ca) => {
                let listener = TlsListener::new(listener, ca.server.clone())
                    .map_err(|source| StartError::Bind { address, source })?;
                tokio::spawn(async move {
                    let served = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stopped.await;
                    });
                    if let Err(error) = served.await {
                        tracing::error!(%error, "The emulator stopped serving.");
                    }
                })
            }
            None => tokio::spawn(async move {
                let served = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(error) = served.await {
                    tracing::error!(%error, "The emulator stopped serving.");
                }
            }),
        };
        tracing::info!(graph = %urls.graph, authority = %urls.authority, "Graph emulator listening.");
        Ok(Running {
            graph_url: urls.graph,
            authority_url: urls.authority,
            control_url: urls.control,
            local_addr,
            control,
            tenants,
            ca_pem,
            ca_path,
            stop: Some(stop),
            task: Some(task),
        })
    }
}
