//! Serving the daemon's HTTP endpoints with the limits a listener open to a network needs, which
//! `axum::serve` does not set: a connection that has not sent a whole request head within
//! `[admin].request_header_timeout` is closed (so clients trickling their headers, or opening
//! connections and sending nothing, hold a socket for that long at most), and a request whose
//! body has not arrived within `[admin].request_body_timeout` is answered 408. A stop closes the
//! listener, lets requests under way finish and closes idle connections.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{debug, warn};

/// How long a client may take over its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// To send a whole request head (and, between requests on one connection, the next).
    pub header_read: Duration,
    /// To send a request's body.
    pub body_read: Duration,
}

/// After a failed `accept` (the process is out of file descriptors, say), how long to wait
/// before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `stop`, then waits for requests under way.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_read));
    let mut connections = http1::Builder::new();
    connections
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    warn!(%error, "Could not accept a connection on the admin listener.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let connection = connections
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that went away or was too slow: nothing to do but say so.
                debug!(%error, "An admin connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
