//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json` without a key. It is
//! derived from the handlers' `#[utoipa::path]` annotations and the [`wire`](super::wire) types
//! they answer with, so it cannot drift from what the handlers do.

use axum::Json;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi as _};

use super::Api;

/// Every operation takes `Authorization: Bearer <key>`.
pub(super) struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The description as JSON.
pub fn description() -> utoipa::openapi::OpenApi {
    super::routes::Description::openapi()
}

pub(super) fn routes() -> axum::Router<Api> {
    axum::Router::new().route("/api/openapi.json", get(|| async { Json(description()) }))
}
