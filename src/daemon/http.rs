//! The daemon's HTTP endpoints on `[admin].listen`: `/healthz` (the process is alive),
//! `/readyz` (the database answers and the scheduler is alive; it names the live configuration
//! generation), `/metrics` (Prometheus text) and `POST /-/reload` (re-read the configuration,
//! as SIGHUP does; it takes no input).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::sync::mpsc;

use super::Live;
use super::scheduler::Heartbeat;

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    /// The configuration generation now live.
    pub live: Arc<Live>,
    /// The scheduler's heartbeat.
    pub heartbeat: Heartbeat,
    /// A scheduler silent for longer than this is stuck.
    pub stuck_after: Duration,
    /// Renders `/metrics`; `None` where no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// Reload requests.
    pub reload: mpsc::Sender<()>,
}

/// The router.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/-/reload", post(reload))
        .with_state(endpoints)
}

async fn ready(State(endpoints): State<Endpoints>) -> Response {
    let (generation, service) = endpoints.live.current();
    let database = match tokio::time::timeout(Duration::from_secs(5), service.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the database did not answer within 5 s".to_owned()),
    };
    let silent = endpoints.heartbeat.age();
    let scheduler = if silent <= endpoints.stuck_after {
        Ok(())
    } else {
        Err(format!(
            "the scheduler has not come round for {} s",
            silent.as_secs()
        ))
    };
    let ready = database.is_ok() && scheduler.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "config_generation": generation,
        "database": database.err().unwrap_or_else(|| "ok".to_owned()),
        "scheduler": scheduler.err().unwrap_or_else(|| "ok".to_owned()),
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(endpoints): State<Endpoints>) -> Response {
    match &endpoints.metrics {
        Some(handle) => (
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder\n").into_response(),
    }
}

async fn reload(State(endpoints): State<Endpoints>) -> Response {
    match endpoints.reload.try_send(()) {
        // A reload already asked for reads the same file.
        Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {
            (StatusCode::ACCEPTED, "reloading\n").into_response()
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
        }
    }
}
