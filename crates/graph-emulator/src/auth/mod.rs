//! The Microsoft identity platform: token and authorize endpoints, app registrations and the
//! keys behind them.

pub mod aadsts;
pub mod apps;
pub mod assertion;
pub mod authorize;
pub mod discovery;
pub mod grants;
pub mod keys;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Emulator;

/// Routes of the identity platform, relative to the authority base.
pub fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::configuration_v1),
        )
        .route("/{tenant}/discovery/instance", get(discovery::instance))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/discovery/keys", get(discovery::keys))
}
