//! Signing in and out, and who is reading: the session cookie, checked on every request
//! ([`Viewer`]), and the CSRF token every changing form carries.
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, lasts as long as the session, and is
//! `Secure` when `[admin] public_url` is `https` (the page is then reached through TLS). The
//! sign-in form, before there is a session, carries a token of its own that a short-lived cookie
//! must match, so no other site can sign a browser in.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use maud::html;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Pages;
use super::error::PageError;
use super::layout::{self, Nav};
use crate::service::sessions::{csrf_matches, csrf_token, sign_in_token, tokens_match};
use crate::service::{Caller, Service, ServiceError};

/// The cookie that holds the session id.
const COOKIE: &str = "entra_sync_session";
/// The cookie that holds the sign-in form's token.
const SIGN_IN_COOKIE: &str = "entra_sync_sign_in";
/// How long a sign-in form may be used.
const SIGN_IN_MINUTES: i64 = 10;

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

/// The sign-in form, with `problem` above it when the last try failed, and a fresh sign-in
/// token in the form and in its cookie.
fn sign_in_page(
    jar: CookieJar,
    secure: bool,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let token = sign_in_token();
    let cookie = Cookie::build((SIGN_IN_COOKIE, token.expose_secret().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/sign-in")
        .max_age(cookie::time::Duration::minutes(SIGN_IN_MINUTES))
        .build();
    let page = layout::page(
        "Sign in",
        None,
        html! {
            @if let Some(problem) = problem {
                p.notice.bad role="alert" { (problem) }
            }
            p { "Sign in with an entra-sync API key (" code { "entra-sync keys create" } "). You see the connections the key reaches, and may change what it may change." }
            form method="post" action="/sign-in" {
                input type="hidden" name="csrf" value=(token.expose_secret());
                p {
                    label for="key" { "API key" }
                    br;
                    input #key type="password" name="key" autocomplete="off" required
                        size="50" placeholder="esk_…";
                }
                button type="submit" { "Sign in" }
            }
        },
    );
    (status, jar.add(cookie), page).into_response()
}

/// Whether the page is reached through TLS (`[admin] public_url` is `https`).
fn secure(service: &Service) -> bool {
    service
        .settings()
        .admin
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https")
}

/// `GET /sign-in`.
pub(super) async fn form(State(pages): State<Pages>, jar: CookieJar) -> Response {
    sign_in_page(jar, secure(&pages.service()), StatusCode::OK, None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(super) struct SignIn {
    key: String,
    csrf: Option<String>,
}

/// `POST /sign-in`: a session for the key, in the cookie; back to the connections.
pub(super) async fn sign_in(
    State(pages): State<Pages>,
    jar: CookieJar,
    form: Result<Form<SignIn>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form?.0;
    let service = pages.service();
    let secure = secure(&service);
    let issued = jar.get(SIGN_IN_COOKIE).map(|c| c.value().to_owned());
    match (issued, form.csrf.as_deref()) {
        (Some(issued), Some(sent)) if tokens_match(&issued, sent) => {}
        _ => return Err(PageError::csrf()),
    }
    let key = SecretString::from(form.key.trim().to_owned());
    let opened = match service.open_page_session(&key).await {
        Ok(opened) => opened,
        Err(ServiceError::Unauthenticated(why)) => {
            let problem = format!("That key does not sign in: {why}.");
            return Ok(sign_in_page(
                jar,
                secure,
                StatusCode::UNAUTHORIZED,
                Some(&problem),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let lasts = (opened.expires_at - service.now()).num_seconds().max(0);
    let cookie = session_cookie(&opened.id, lasts, secure);
    let used = Cookie::build((SIGN_IN_COOKIE, "")).path("/sign-in");
    Ok((jar.remove(used).add(cookie), Redirect::to("/")).into_response())
}

/// The cookie that carries the session `id` for `lasts` seconds; `Secure` when the page is
/// reached through TLS.
fn session_cookie(id: &SecretString, lasts: i64, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, id.expose_secret().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(lasts))
        .build()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_tls() {
        let id = SecretString::from("ess_x".to_owned());
        let text = session_cookie(&id, 60, true).to_string();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(text.split("; ").any(|p| p == part), "{part}: {text}");
        }
        let plain = session_cookie(&id, 60, false).to_string();
        assert!(!plain.split("; ").any(|p| p == "Secure"), "{plain}");
    }
}
