//! The API's one error shape: `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::ServiceError;

/// An error answer: a status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// 401 `unauthenticated`.
    pub fn unauthenticated(why: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", why)
    }

    /// 400 `bad_request`.
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", why)
    }

    /// 409 `conflict`: the request does not fit the state it finds.
    pub fn conflict(why: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", why)
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "an API call failed");
        }
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        let (status, code) = match error.cause() {
            ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::NotFound(_)
            | ServiceError::UnknownConnection { .. }
            | ServiceError::RunOfUnknownConnection { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::Invalid(_) | ServiceError::NotSynced { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ServiceError::NotEnabled(_) => (StatusCode::CONFLICT, "not_enabled"),
            ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ServiceError::Refused { .. } => (StatusCode::CONFLICT, "refused"),
            ServiceError::Auth(_) => (StatusCode::BAD_GATEWAY, "sign_in"),
            ServiceError::Busy { .. } => (StatusCode::CONFLICT, "busy"),
            ServiceError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ServiceError::Graph(_) => (StatusCode::BAD_GATEWAY, "graph"),
            ServiceError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "config"),
            ServiceError::Sync(_)
            | ServiceError::Database { .. }
            | ServiceError::Store(_)
            | ServiceError::Shared(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if timed_out(&rejection) {
            return Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body did not arrive within admin.request_body_timeout",
            );
        }
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported_media_type"
        } else {
            "bad_request"
        };
        Self::new(status, code, rejection.body_text())
    }
}

/// The body stopped arriving (the listener's body time limit ran out while it was read).
fn timed_out(rejection: &JsonRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}
