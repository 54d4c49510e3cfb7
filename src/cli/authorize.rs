//! `entra-sync authorize CONNECTION`: the delegated sign-in without a browser on this machine.
//! The URL goes to standard output (alone, so a script can pass it on); the admin opens it
//! anywhere that reaches Entra, and Entra sends their browser back to `/authcallback` on
//! `[admin].listen`. This command serves that path itself while it waits; when the listener is
//! taken (the daemon is running) the daemon's `/authcallback` takes the redirect and this
//! command sees the outcome in the database.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Api, callback_router};
use crate::output::{self, print};
use crate::service::sign_in::callback_url;
use crate::service::{Service, ServiceError, SignInProgress};

/// How often the outcome is looked up while waiting.
const POLL: Duration = Duration::from_millis(500);

pub(super) async fn authorize(
    service: &Service,
    connection: &str,
) -> Result<ExitCode, ServiceError> {
    // The connection's row must exist before a sign-in can name it.
    service.declare().await?;
    let settings = service.settings();
    let listen = settings.admin.listen;
    let stop = tokio_util::sync::CancellationToken::new();
    let (bound, served) = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => {
            let bound = listener.local_addr().unwrap_or(listen);
            let api = {
                let service = service.clone();
                Api::new(Arc::new(move || service.clone()))
            };
            let app = callback_router(api);
            let stopped = stop.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped.cancelled_owned())
                    .await;
            });
            (bound, true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => (listen, false),
        Err(error) => {
            return Err(ServiceError::Invalid(format!(
                "admin.listen: cannot listen on {listen}: {error}"
            )));
        }
    };
    let callback = callback_url(settings.admin.public_url.as_ref(), bound);
    let start = service.begin_sign_in(None, connection, &callback).await?;
    print(
        &format!("{}\n", start.url),
        &output::sign_in_prompt(connection, &callback, start.expires_at, served),
    );
    let mut poll = tokio::time::interval(POLL);
    let progress = loop {
        poll.tick().await;
        match service.sign_in_progress(&start.ticket).await? {
            SignInProgress::Pending => continue,
            done => break done,
        }
    };
    stop.cancel();
    print("", &output::sign_in_result(connection, &progress));
    Ok(match progress {
        SignInProgress::Done(outcome) if outcome == "signed_in" => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
