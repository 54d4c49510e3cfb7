//! The admin HTTP API under `/api`, served beside the daemon's health and metrics endpoints.
//!
//! Every call carries `Authorization: Bearer <key>` (see [`crate::service::access`] for who may
//! do what). A connection the caller cannot reach answers 404, exactly as one that does not
//! exist. Every error is one JSON shape, `{"error": {"code": "...", "message": "..."}}`, with a
//! stable `code`; request bodies are limited to [`MAX_BODY`] bytes and unknown fields are
//! refused. Handlers parse, call one service method and shape its result: no SQL, no Graph.

mod callback;
mod desk;
mod desk_wire;
mod error;
pub mod openapi;
mod routes;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use secrecy::SecretString;
use url::Url;

pub use self::error::ApiError;
use crate::service::{Caller, Service};

/// The largest request body the API reads.
pub const MAX_BODY: usize = 16 * 1024;

/// The service now live (the daemon swaps it on reload).
pub type Current = Arc<dyn Fn() -> Service + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    current: Current,
    /// Where Entra sends a delegated sign-in back to.
    pub(crate) callback: Option<Url>,
    /// How long a preview call waits for a computation under way before answering 202.
    pub(crate) preview_wait: std::time::Duration,
}

/// [`Api::preview_wait`] unless told otherwise.
pub const PREVIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Api {
    /// The API over the service `current` returns at each call.
    pub fn new(current: Current) -> Self {
        Self {
            current,
            callback: None,
            preview_wait: PREVIEW_WAIT,
        }
    }

    /// The same API, a preview call waiting at most `wait` for a computation under way.
    pub fn with_preview_wait(self, wait: std::time::Duration) -> Self {
        Self {
            preview_wait: wait,
            ..self
        }
    }

    /// The same API, sending delegated sign-ins back to `callback` (see
    /// [`crate::service::sign_in::callback_url`]); without it, `authorize` is refused.
    pub fn with_callback(self, callback: Url) -> Self {
        Self {
            callback: Some(callback),
            ..self
        }
    }

    fn service(&self) -> Service {
        (self.current)()
    }
}

/// The `/api` routes, and `/authcallback` (Entra's redirect back from a delegated sign-in).
pub fn router(api: Api) -> Router {
    routes::routes()
        .merge(desk::routes())
        .merge(callback::routes())
        .merge(openapi::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// Only `/authcallback`: what `entra-sync authorize` serves on the admin listener while it waits.
pub fn callback_router(api: Api) -> Router {
    callback::routes().with_state(api)
}

/// A checked caller and the service it calls.
pub struct Authorised {
    /// Who calls.
    pub caller: Caller,
    /// The service of this request.
    pub service: Service,
}

impl<S> FromRequestParts<S> for Authorised
where
    S: Send + Sync,
    Api: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = Api::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("no Authorization header"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header is not `Bearer <key>`")
            })?;
        let service = api.service();
        let caller = service
            .authenticate(&SecretString::from(key.trim().to_owned()))
            .await?;
        Ok(Authorised { caller, service })
    }
}
