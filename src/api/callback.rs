//! `GET /authcallback`: where Entra sends the admin's browser back after a delegated sign-in.
//! It carries no API key (a browser follows a redirect); the `state` it brings is what binds it
//! to the sign-in an authorised caller started (see [`crate::service::sign_in`]). The answer is
//! a short page for people.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::Api;
use crate::service::sign_in::{CALLBACK_PATH, Refusal};
use crate::service::{Callback, SignInOutcome};

pub(super) fn routes() -> Router<Api> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

/// Entra's redirect: `code` and `state`, or `error`, `error_description` and `state`. Anything
/// else it adds (`session_state`, `client_info`, …) is ignored.
#[derive(Deserialize, Default)]
struct Params {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(api): State<Api>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    // An unreadable query has no usable state: it is refused like a forged one.
    let params = params.map(|q| q.0).unwrap_or_default();
    let service = api.service();
    let outcome = service
        .finish_sign_in(&Callback {
            state: params.state,
            code: params.code,
            error: params.error,
            error_description: params.error_description,
        })
        .await;
    match outcome {
        Ok(SignInOutcome::SignedIn { connection }) => page(
            StatusCode::OK,
            "Signed in",
            html! {
                p { "Connection " strong { (connection) } " is authorised. Its refresh token is stored sealed; the next sync uses it." }
                p { "You can close this window." }
            },
        ),
        Ok(SignInOutcome::Refused(refusal)) => page(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            html! {
                p { "This sign-in was not accepted: " (refusal) "." }
                p { (match refusal {
                    Refusal::Expired | Refusal::Replayed => "Start the sign-in again from the admin page, the API or `entra-sync authorize`, and finish it within ten minutes.",
                    Refusal::Forged => "Start the sign-in from the admin page, the API or `entra-sync authorize`; this link was not issued here.",
                    Refusal::Foreign(_) => "Ask someone who may change this connection to start the sign-in again.",
                }) }
            },
        ),
        Ok(SignInOutcome::Entra {
            connection,
            error,
            description,
            advice,
        }) => page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            html! {
                p { "Entra did not authorise connection " strong { (connection) } ": " code { (error) } }
                @if !description.is_empty() { p { (description) } }
                p { (advice) }
            },
        ),
        Err(error) => {
            tracing::error!(%error, "A sign-in callback could not be processed.");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in not completed",
                html! { p { "The sign-in could not be recorded: " (error.to_string()) ". Try again." } },
            )
        }
    }
}

fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · entra-sync" }
                style { "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}h1{font-size:1.5rem}code{background:#f0f0f0;padding:0 .25rem}" }
            }
            body {
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (status, markup).into_response()
}
