//! What a page answers when it cannot show what was asked: a short page with the status and a
//! sentence, or, for a reader who is not signed in, the way to the sign-in form.

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout;
use crate::service::ServiceError;

/// Why a page is not shown.
#[derive(Debug)]
pub(super) enum PageError {
    /// No session, or one that ended: a page read goes to the sign-in form.
    SignIn,
    /// A status and a sentence for people.
    Status(StatusCode, String),
}

impl PageError {
    /// 400: the request itself is wrong.
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, why.into())
    }

    /// 403: the form's CSRF token is missing or is not this session's.
    pub fn csrf() -> Self {
        Self::Status(
            StatusCode::FORBIDDEN,
            "this form was not issued to this session (its CSRF token is missing or wrong); \
             reload the page and try again"
                .to_owned(),
        )
    }
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        let status = match error.cause() {
            ServiceError::Unauthenticated(_) => return PageError::SignIn,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_)
            | ServiceError::UnknownConnection { .. }
            | ServiceError::RunOfUnknownConnection { .. } => StatusCode::NOT_FOUND,
            ServiceError::Invalid(_) | ServiceError::NotSynced { .. } => StatusCode::BAD_REQUEST,
            ServiceError::NotEnabled(_)
            | ServiceError::Conflict(_)
            | ServiceError::Refused { .. }
            | ServiceError::Busy { .. } => StatusCode::CONFLICT,
            ServiceError::Auth(_) | ServiceError::Graph(_) => StatusCode::BAD_GATEWAY,
            ServiceError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Config(_)
            | ServiceError::Sync(_)
            | ServiceError::Database { .. }
            | ServiceError::Store(_)
            | ServiceError::Shared(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PageError::Status(status, error.to_string())
    }
}

impl From<QueryRejection> for PageError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for PageError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<FormRejection> for PageError {
    fn from(rejection: FormRejection) -> Self {
        Self::Status(rejection.status(), rejection.body_text())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn => Redirect::to("/sign-in").into_response(),
            PageError::Status(status, message) => {
                if status.is_server_error() {
                    tracing::error!(%status, error = %message, "A status page could not be shown.");
                }
                let title = status.canonical_reason().unwrap_or("Error");
                let body = html! {
                    p.notice.bad role="alert" { (message) }
                    p { a href="/" { "Back to the connections" } }
                };
                (status, layout::page(title, None, body)).into_response()
            }
        }
    }
}
