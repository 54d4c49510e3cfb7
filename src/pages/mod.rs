//! The status page under `/`, served beside `/api`, `/healthz` and `/metrics` on
//! `[admin].listen`: server-rendered HTML (maud), no script.
//!
//! - `/sign-in`: an API key opens a session ([`crate::service::sessions`]); the session acts as
//!   the key, with exactly the API's access rules: a connection the key cannot reach is not
//!   listed and its pages answer 404; changing one needs `read_modify`.
//! - `/`: the connections with their health ([`connections`]).
//! - `/connections/{id}`: its status, a 30-day chart of its runs ([`chart`]), its run history,
//!   and its actions ([`actions`]: sync, delta reset, approval; each confirmed on a page of its
//!   own, each form carrying the session's CSRF token).
//! - `/connections/{id}/log` and `/connections/{id}/preview`: the inbound log and the import
//!   preview, filtered through the URL ([`log`]).
//! - `/connections/{id}/licences`: the imported licences, where the connection imports them.
//!
//! Handlers parse, check the reader's reach, call the service, and render: no SQL, no Graph.

mod actions;
mod chart;
mod connections;
mod error;
mod layout;
mod log;
mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::api::Current;
use crate::service::Service;

/// The largest form the pages read.
const MAX_FORM: usize = 16 * 1024;

/// What the page handlers share.
#[derive(Clone)]
pub struct Pages {
    current: Current,
    /// How long the preview page waits for a computation under way before showing that it is.
    preview_wait: std::time::Duration,
}

impl Pages {
    /// The pages over the service `current` returns at each request.
    pub fn new(current: Current) -> Self {
        Self {
            current,
            preview_wait: crate::api::PREVIEW_WAIT,
        }
    }

    /// The same pages, the preview page waiting at most `wait` for a computation under way.
    pub fn with_preview_wait(self, wait: std::time::Duration) -> Self {
        Self {
            preview_wait: wait,
            ..self
        }
    }

    fn service(&self) -> Service {
        (self.current)()
    }
}

/// The status page's routes.
pub fn router(pages: Pages) -> Router {
    Router::new()
        .route("/", get(connections::list))
        .route("/sign-in", get(session::form).post(session::sign_in))
        .route("/sign-out", post(session::sign_out))
        .route("/connections/{id}", get(connections::page))
        .route("/connections/{id}/log", get(log::log))
        .route("/connections/{id}/preview", get(log::preview))
        .route("/connections/{id}/licences", get(connections::licences))
        .route("/connections/{id}/followers", get(connections::followers))
        .route("/connections/{id}/confirm", get(actions::confirm))
        .route("/connections/{id}/sync", post(actions::sync))
        .route("/connections/{id}/delta-reset", post(actions::delta_reset))
        .route(
            "/connections/{id}/runs/{run}/approve",
            post(actions::approve),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM))
        .with_state(pages)
}
