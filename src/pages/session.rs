//! Signing in and out, and who is reading: the session cookie, checked on every request
//! ([`Viewer`]), and the CSRF token every changing form carries.
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, lasts as long as the session, and is
//! `Secure` when `[admin] public_url` is `https` (the page is then reached through TLS).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use super::Pages;
use super::error::PageError;
use super::layout::{self, Nav};
use crate::service::sessions::{csrf_matches, csrf_token};
use crate::service::{Caller, Service, ServiceError};

/// The cookie that holds the session id.
const COOKIE: &str = "entra_sync_session";

/// A signed-in reader: who, the service of this request, and the session's CSRF token.
pub(super) struct Viewer {
    /// Who reads, as their key's grants are now.
    pub caller: Caller,
    /// The service of this request.
    pub service: Service,
    /// The session id (never shown, never logged).
    session: SecretString,
    /// The token the session's forms carry.
    pub csrf: String,
}

impl Viewer {
    /// The navigation of a page about `connection` (or none).
    pub fn nav<'a>(&'a self, connection: Option<&'a str>) -> Nav<'a> {
        Nav {
            who: self.caller.name(),
            csrf: &self.csrf,
            connection,
        }
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), PageError> {
        match token {
            Some(token) if csrf_matches(&self.session, token) => Ok(()),
            _ => Err(PageError::csrf()),
        }
    }
}

impl<S> FromRequestParts<S> for Viewer
where
    S: Send + Sync,
    Pages: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A page read without a session goes to the sign-in form; a form posted without one is
        // refused outright (following a redirect would lose what it posted).
        let unauthenticated = |why: &str| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                PageError::SignIn
            } else {
                PageError::Status(StatusCode::UNAUTHORIZED, format!("sign in first: {why}"))
            }
        };
        let pages = Pages::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let session = jar
            .get(COOKIE)
            .map(|c| SecretString::from(c.value().to_owned()))
            .ok_or_else(|| unauthenticated("no session"))?;
        let service = pages.service();
        let checked = match service.page_session(&session).await {
            Ok(checked) => checked,
            Err(ServiceError::Unauthenticated(why)) => return Err(unauthenticated(&why)),
            Err(other) => return Err(other.into()),
        };
        Ok(Viewer {
            caller: checked.caller,
            service,
            csrf: csrf_token(&session),
            session,
        })
    }
}

/// The sign-in form, with `problem` above it when the last try failed.
fn sign_in_page(problem: Option<&str>) -> Markup {
    layout::page(
        "Sign in",
        None,
        html! {
            @if let Some(problem) = problem {
                p.notice.bad role="alert" { (problem) }
            }
            p { "Sign in with an entra-sync API key (" code { "entra-sync keys create" } "). You see the connections the key reaches, and may change what it may change." }
            form method="post" action="/sign-in" {
                p {
                    label for="key" { "API key" }
                    br;
                    input #key type="password" name="key" autocomplete="off" required
                        size="50" placeholder="esk_…";
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /sign-in`.
pub(super) async fn form() -> Markup {
    sign_in_page(None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(super) struct SignIn {
    key: String,
}

/// `POST /sign-in`: a session for the key, in the cookie; back to the connections.
pub(super) async fn sign_in(
    State(pages): State<Pages>,
    jar: CookieJar,
    form: Result<Form<SignIn>, FormRejection>,
) -> Result<Response, PageError> {
    let key = SecretString::from(form?.0.key.trim().to_owned());
    let service = pages.service();
    let opened = match service.open_page_session(&key).await {
        Ok(opened) => opened,
        Err(ServiceError::Unauthenticated(why)) => {
            let problem = format!("That key does not sign in: {why}.");
            return Ok((StatusCode::UNAUTHORIZED, sign_in_page(Some(&problem))).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    let lasts = (opened.expires_at - service.now()).num_seconds().max(0);
    let secure = service
        .settings()
        .admin
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https");
    let cookie = Cookie::build((
        COOKIE,
        secrecy::ExposeSecret::expose_secret(&opened.id).to_owned(),
    ))
    .http_only(true)
    .same_site(SameSite::Strict)
    .secure(secure)
    .path("/")
    .max_age(cookie::time::Duration::seconds(lasts));
    Ok((jar.add(cookie), Redirect::to("/")).into_response())
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(super) struct Token {
    csrf: Option<String>,
}

/// `POST /sign-out`: the session ends and its cookie goes.
pub(super) async fn sign_out(
    viewer: Viewer,
    jar: CookieJar,
    form: Result<Form<Token>, FormRejection>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form?.0.csrf.as_deref())?;
    viewer.service.close_page_session(&viewer.session).await?;
    let gone = Cookie::build((COOKIE, "")).path("/");
    Ok((jar.remove(gone), Redirect::to("/sign-in")).into_response())
}
