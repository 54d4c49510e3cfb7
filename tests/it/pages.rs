//! The status page on both backends: every page answered for every kind of caller (the API's
//! access matrix, signed in through the page), its sessions and CSRF tokens; and the whole flow
//! in headless Chromium ([`crate::browser`]).

use std::sync::Arc;
use std::time::Duration;

use entra_sync::api::{Api, router};
use entra_sync::daemon::serve::{Limits, serve};
use entra_sync::pages::{self, Pages};
use entra_sync::service::Service;
use graph_emulator::EmulatorConfig;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::api::{MODIFIER, callers, key, service_with};
use crate::emulator::start;
use crate::support::backends;

/// The API and the status page on one listener, as the daemon serves them; the base URL.
pub(crate) async fn serve_pages(service: Service) -> String {
    let admin = entra_sync::config::AdminConfig::default();
    serve_pages_with(
        service,
        Limits {
            header_read: admin.request_header_timeout,
            body_read: admin.request_body_timeout,
        },
    )
    .await
}

/// [`serve_pages`] with the given limits on slow clients.
pub(crate) async fn serve_pages_with(service: Service, limits: Limits) -> String {
    serve_app(service, limits, entra_sync::api::PREVIEW_WAIT).await
}

/// [`serve_pages_with`], the preview page waiting at most `preview_wait` for its computation.
async fn serve_app(service: Service, limits: Limits, preview_wait: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let api_service = service.clone();
    let app = router(Api::new(Arc::new(move || api_service.clone()))).merge(pages::router(
        Pages::new(Arc::new(move || service.clone())).with_preview_wait(preview_wait),
    ));
    tokio::spawn(serve(listener, app, limits, CancellationToken::new()));
    format!("http://{address}")
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser, as far as the server sees one: its cookie and its forms' CSRF token.
pub(crate) struct Session {
    /// `entra_sync_session=…`.
    pub cookie: String,
    /// The session id alone.
    pub id: String,
    /// What `Set-Cookie` said.
    pub set_cookie: String,
    pub csrf: String,
}

/// The CSRF token in a page's forms.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}

/// The sign-in form's token and the cookie that must come back with it.
async fn sign_in_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let form = http.get(format!("{base}/sign-in")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = form.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    (cookie, csrf_of(&form.text().await.unwrap()))
}

/// Signs in with `key`: the session, or the status the sign-in answered.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Result<Session, StatusCode> {
    let (cookie, token) = sign_in_form(http, base).await;
    let response = http
        .post(format!("{base}/sign-in"))
        .header(COOKIE, cookie)
        .form(&[("key", key), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.status());
    }
    let set_cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("entra_sync_session="))
        .expect("the session cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let id = cookie.split_once('=').unwrap().1.to_owned();
    let page = http
        .get(format!("{base}/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_of(&page.text().await.unwrap());
    Ok(Session {
        cookie,
        id,
        set_cookie,
        csrf,
    })
}

/// One request as `session` (or nobody); the status, where it redirects to, and the body.
async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    session: Option<&Session>,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut request = http.request(method.parse().unwrap(), url);
    if let Some(session) = session {
        request = request.header(COOKIE, &session.cookie);
    }
    if method == "POST" {
        request = request.form(form);
    }
    let response = request.send().await.expect("the page answers");
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap_or_default())
}

/// A page of the matrix: name, method, URL, whether its form carries the session's token and
/// `confirm=yes` (with these fields), and the status each caller (in `callers` order) gets.
type Route = (
    &'static str,
    &'static str,
    String,
    Option<Vec<(&'static str, &'static str)>>,
    [u16; 9],
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_each_caller_as_the_api_does() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 6,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let http = client();
    for db in backends().await {
        let (service, store, _clock) = service_with(&running, &db, "").await;
        let callers = callers(&service, store.as_ref()).await;
        let base = serve_pages(service.clone()).await;
        let mut sessions = Vec::new();
        for (who, auth) in &callers.rows {
            let key = auth.as_deref().unwrap_or("").trim_start_matches("Bearer ");
            let session = sign_in(&http, &base, key).await;
            // The same keys the API refuses, the sign-in refuses.
            let signs_in = matches!(
                *who,
                "read_modify elsewhere" | "read" | "read_modify" | "can configure" | "admin key"
            );
            assert_eq!(
                session.is_ok(),
                signs_in,
                "{who}: {:?}",
                session.as_ref().err()
            );
            if let Err(status) = &session {
                assert_eq!(*status, StatusCode::UNAUTHORIZED, "{who}");
            }
            sessions.push(session.ok());
        }

        let c = format!("{base}/connections/contoso");
        // Unauthenticated reads go to the sign-in form (303); unauthenticated posts are refused
        // (401); then the API's answers: 404 where the connection is out of reach, 403 where it
        // may only be read.
        let confirmed = |extra: &[(&'static str, &'static str)]| Some(extra.to_vec());
        let routes: Vec<Route> = vec![
            (
                "connections",
                "GET",
                format!("{base}/"),
                None,
                [303, 303, 303, 303, 200, 200, 200, 200, 200],
            ),
            (
                "connection",
                "GET",
                c.clone(),
                None,
                [303, 303, 303, 303, 404, 200, 200, 200, 200],
            ),
            (
                "log",
                "GET",
                format!("{c}/log"),
                None,
                [303, 303, 303, 303, 404, 200, 200, 200, 200],
            ),
            (
                "preview",
                "GET",
                format!("{c}/preview"),
                None,
                [303, 303, 303, 303, 404, 200, 200, 200, 200],
            ),
            (
                "licences",
                "GET",
                format!("{c}/licences"),
                None,
                [303, 303, 303, 303, 404, 200, 200, 200, 200],
            ),
            (
                // The matrix's connections offer no groups: the page says so.
                "followers",
                "GET",
                format!("{c}/followers"),
                None,
                [303, 303, 303, 303, 404, 200, 200, 200, 200],
            ),
            (
                "confirm sync",
                "GET",
                format!("{c}/confirm?do=delta"),
                None,
                [303, 303, 303, 303, 404, 403, 200, 200, 200],
            ),
            (
                "confirm approval",
                "GET",
                format!("{c}/confirm?do=approve&run=999999"),
                None,
                [303, 303, 303, 303, 404, 403, 404, 404, 404],
            ),
            (
                "sync",
                "POST",
                format!("{c}/sync"),
                confirmed(&[("kind", "delta")]),
                [401, 401, 401, 401, 404, 403, 303, 303, 303],
            ),
            (
                "delta reset",
                "POST",
                format!("{c}/delta-reset"),
                confirmed(&[("mode", "clear")]),
                [401, 401, 401, 401, 404, 403, 303, 303, 303],
            ),
            (
                "approve",
                "POST",
                format!("{c}/runs/999999/approve"),
                confirmed(&[]),
                [401, 401, 401, 401, 404, 403, 404, 404, 404],
            ),
        ];
        let mut wrong = Vec::new();
        for (who, ((caller, _), session)) in callers.rows.iter().zip(&sessions).enumerate() {
            for (route, method, url, form, expected) in &routes {
                let mut fields: Vec<(&str, &str)> = form.clone().unwrap_or_default();
                if let Some(session) = session {
                    fields.push(("csrf", &session.csrf));
                }
                fields.push(("confirm", "yes"));
                let (status, location, body) =
                    call(&http, method, url, session.as_ref(), &fields).await;
                if status.as_u16() != expected[who] {
                    wrong.push(format!(
                        "{route} as {caller}: {status}, expected {} ({location} {body:.200})",
                        expected[who]
                    ));
                }
                if status == StatusCode::SEE_OTHER && session.is_none() {
                    assert_eq!(location, "/sign-in", "{route} as {caller}");
                }
                if status.is_client_error() {
                    assert!(
                        body.contains("role=\"alert\""),
                        "{route} as {caller}: no message: {body}"
                    );
                }
            }
        }
        assert!(wrong.is_empty(), "{}:\n{}", db.url, wrong.join("\n"));

        // Each caller lists exactly the connections it can reach.
        let listed = |session: &Option<Session>| {
            let (http, url) = (http.clone(), format!("{base}/"));
            let cookie = session.as_ref().map(|s| s.cookie.clone());
            async move {
                let mut request = http.get(url);
                if let Some(cookie) = cookie {
                    request = request.header(COOKIE, cookie);
                }
                let body = request.send().await.unwrap().text().await.unwrap();
                ["contoso", "fabrikam"]
                    .into_iter()
                    .filter(|c| body.contains(&format!("href=\"/connections/{c}\"")))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(&sessions[4]).await, ["fabrikam"]);
        assert_eq!(listed(&sessions[5]).await, ["contoso"]);
        assert_eq!(listed(&sessions[8]).await, ["contoso", "fabrikam"]);
        // A reader sees no action; someone who may change the connection sees them.
        let (_, _, read) = call(&http, "GET", &c, sessions[5].as_ref(), &[]).await;
        assert!(!read.contains("/confirm?"), "{read}");
        let (_, _, modify) = call(&http, "GET", &c, sessions[6].as_ref(), &[]).await;
        assert!(modify.contains("/confirm?do=delta"), "{modify}");
        // Bad input is a 4xx with a message.
        let modifier = sessions[6].as_ref();
        for (case, url) in [
            ("unknown action", format!("{c}/log?action=explode")),
            ("run not a number", format!("{c}/log?run=abc")),
            (
                "unknown notification",
                format!("{c}/log?notification=maybe"),
            ),
            ("bad since", format!("{c}/log?since=soon")),
            ("unknown query parameter", format!("{c}/log?colour=blue")),
            ("unknown records", format!("{c}/preview?records=tickets")),
            ("negative offset", format!("{c}/preview?offset=-1")),
            ("unknown step", format!("{c}/confirm?do=explode")),
            (
                "approval without its run",
                format!("{c}/confirm?do=approve"),
            ),
        ] {
            let (status, _, body) = call(&http, "GET", &url, modifier, &[]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
            assert!(body.contains("role=\"alert\""), "{case}: {body}");
        }
        let csrf = &sessions[6].as_ref().unwrap().csrf;
        let (status, _, body) = call(
            &http,
            "POST",
            &format!("{c}/sync"),
            modifier,
            &[("csrf", csrf), ("confirm", "yes"), ("kind", "sideways")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_sessions_csrf_token_is_refused_and_sessions_end() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 2,
        groups: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let http = client();
    for db in backends().await {
        let (service, store, clock) = service_with(&running, &db, "").await;
        crate::api::agent(store.as_ref(), MODIFIER).await;
        service
            .grant_access(
                "contoso",
                MODIFIER,
                entra_sync::vocab::AccessLevel::ReadModify,
            )
            .await
            .unwrap();
        let modifier = key(&service, Some(MODIFIER), None).await;
        let base = serve_pages(service.clone()).await;
        let one = sign_in(&http, &base, &modifier).await.unwrap();
        let other = sign_in(&http, &base, &modifier).await.unwrap();
        assert_ne!(one.csrf, other.csrf, "each session has a token of its own");

        // The cookie: HttpOnly, SameSite=Strict, for the whole site, lasting the session (eight
        // hours); not Secure over plain HTTP.
        let attributes: Vec<&str> = one.set_cookie.split("; ").skip(1).collect();
        for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
            assert!(attributes.contains(&wanted), "{wanted}: {}", one.set_cookie);
        }
        assert!(!attributes.contains(&"Secure"), "{}", one.set_cookie);

        // The sign-in form is refused without its own token and cookie, or with another's.
        let (cookie, token) = sign_in_form(&http, &base).await;
        let (_, another) = sign_in_form(&http, &base).await;
        for (case, cookie, fields) in [
            ("no token", Some(&cookie), vec![("key", modifier.as_str())]),
            (
                "no cookie",
                None,
                vec![("key", modifier.as_str()), ("csrf", token.as_str())],
            ),
            (
                "another form's token",
                Some(&cookie),
                vec![("key", modifier.as_str()), ("csrf", another.as_str())],
            ),
        ] {
            let mut request = http.post(format!("{base}/sign-in")).form(&fields);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
            assert!(
                response.headers().get(SET_COOKIE).is_none(),
                "{case}: no session"
            );
        }

        let sync = format!("{base}/connections/contoso/sync");
        let post = |session: &Session, fields: Vec<(&'static str, String)>| {
            let (http, url, cookie) = (http.clone(), sync.clone(), session.cookie.clone());
            async move {
                let response = http
                    .post(url)
                    .header(COOKIE, cookie)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap();
                (response.status(), response.text().await.unwrap())
            }
        };
        let base_fields = || vec![("kind", "delta".to_owned()), ("confirm", "yes".to_owned())];
        let (status, body) = post(&one, base_fields()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token: {body}");
        assert!(body.contains("CSRF"), "{body}");
        let mut theirs = base_fields();
        theirs.push(("csrf", other.csrf.clone()));
        let (status, _) = post(&one, theirs).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "another session's token");
        let mut digest_as_token = base_fields();
        digest_as_token.push(("csrf", hex::encode(Sha256::digest(one.id.as_bytes()))));
        let (status, _) = post(&one, digest_as_token).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "the stored digest is no token"
        );
        let mut unconfirmed = vec![("kind", "delta".to_owned())];
        unconfirmed.push(("csrf", one.csrf.clone()));
        let (status, body) = post(&one, unconfirmed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "not confirmed: {body}");
        let mut right = base_fields();
        right.push(("csrf", one.csrf.clone()));
        let (status, _) = post(&one, right).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "this session's token");

        // The database keeps the session's digest, never the session id.
        let digest = hex::encode(Sha256::digest(one.id.as_bytes()));
        assert!(store.page_session(&digest).await.unwrap().is_some());
        assert!(store.page_session(&one.id).await.unwrap().is_none());

        // Signing out ends that session only.
        let (status, location, _) = call(
            &http,
            "POST",
            &format!("{base}/sign-out"),
            Some(&other),
            &[("csrf", &other.csrf)],
        )
        .await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/sign-in")
        );
        let (status, location, _) =
            call(&http, "GET", &format!("{base}/"), Some(&other), &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/sign-in")
        );
        let (status, _, _) = call(&http, "GET", &format!("{base}/"), Some(&one), &[]).await;
        assert_eq!(status, StatusCode::OK);

        // Revoking the key ends the sessions it opened.
        let spare = key(&service, Some(MODIFIER), None).await;
        let third = sign_in(&http, &base, &spare).await.unwrap();
        let spare_id = service.keys().await.unwrap()[0].id;
        service.revoke_key(spare_id).await.unwrap();
        let (status, location, _) =
            call(&http, "GET", &format!("{base}/"), Some(&third), &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/sign-in")
        );

        // A session expires after eight hours.
        clock.advance(chrono::Duration::hours(8));
        let (status, location, _) = call(&http, "GET", &format!("{base}/"), Some(&one), &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/sign-in")
        );
        db.cleanup().await;
    }
}

/// A preview that takes longer than the page waits: a page saying so that reloads itself; once
/// computed, the table, with when the tenant was read; while a run is under way, a page naming
/// the run that reloads itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_page_reloads_itself_until_its_preview_is_computed() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 12,
        groups: 1,
        latency: Duration::from_millis(200),
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.remove(0);
    let (service, store, _clock) = service_with(&running, &db, "").await;
    let admin = key(&service, None, None).await;
    let admin_config = entra_sync::config::AdminConfig::default();
    let limits = Limits {
        header_read: admin_config.request_header_timeout,
        body_read: admin_config.request_body_timeout,
    };
    let patient = serve_app(service.clone(), limits, entra_sync::api::PREVIEW_WAIT).await;
    let impatient = serve_app(service, limits, Duration::ZERO).await;
    let http = client();
    let session = sign_in(&http, &patient, &admin).await.expect("signed in");
    let preview = "/connections/contoso/preview?records=users";

    let (status, _, page) = call(
        &http,
        "GET",
        &format!("{impatient}{preview}"),
        Some(&session),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"<meta http-equiv="refresh" content="5">"#),
        "{page}"
    );
    assert!(page.contains("The preview is being computed"), "{page}");
    assert!(!page.contains("<table"), "{page}");

    let (status, _, page) = call(
        &http,
        "GET",
        &format!("{patient}{preview}"),
        Some(&session),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("http-equiv"), "{page}");
    assert!(page.contains("read from the tenant <time"), "{page}");
    assert!(page.contains("12 people match."), "{page}");

    // A run under way: the page names it and waits for it.
    let run = store
        .start_run(
            &entra_sync::ids::ConnectionId::parse("contoso").unwrap(),
            entra_sync::vocab::RunKind::Delta,
            "test",
            crate::api::now(),
        )
        .await
        .unwrap();
    let (status, _, page) = call(
        &http,
        "GET",
        &format!("{patient}{preview}"),
        Some(&session),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"<meta http-equiv="refresh" content="5">"#),
        "{page}"
    );
    assert!(
        page.contains(&format!("{}</a> of this connection is under way", run.0)),
        "{page}"
    );
    db.cleanup().await;
}
