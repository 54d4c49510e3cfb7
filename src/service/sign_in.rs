//! The delegated sign-in ("Sign in with Microsoft") that gives a delegated connection its first
//! refresh token, for the admin API, the status page and `entra-sync authorize` alike.
//!
//! [`Service::begin_sign_in`] hands out Entra's `/authorize` URL with a PKCE S256 challenge and a
//! random `state`, and records the sign-in: the state only as its SHA-256 digest, the PKCE
//! verifier only sealed under the token key, with the connection, its tenant and app, and the
//! caller who asked. [`Service::finish_sign_in`] takes Entra's redirect back (`/authcallback`)
//! and refuses it unless the state is one handed out (else *forged*), not used before (else
//! *replayed*), at most [`SIGN_IN_LIFETIME`] old (else *expired*), and still fits its connection
//! and caller (else *foreign*: the connection is no longer delegated or now names another tenant
//! or app, or the key that asked was revoked, expired or lost `read_modify`). Only then is the
//! code redeemed, and the refresh token stored sealed. Every refusal is logged with its reason.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tracing::{info, warn};
use url::Url;

use super::access::Caller;
use super::{Service, ServiceError};
use crate::auth::delegated::{Pkce, Redemption, authorize_url, random_token, redeem_code};
use crate::auth::{TokenVault, token_endpoint};
use crate::config::{ConnectionSettings, Credentials};
use crate::ids::ConnectionId;
use crate::store::{NewSignIn, SignInRow};
use crate::token_store::sealed_refresh_tokens;
use crate::vocab::AccessLevel;

/// How long a handed-out `/authorize` URL may be used.
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);

/// The path Entra redirects back to, under `[admin].public_url` (or the admin listener).
pub const CALLBACK_PATH: &str = "/authcallback";

/// A sign-in handed out.
#[derive(Debug, Clone)]
pub struct SignInStart {
    /// Entra's `/authorize` URL, for the admin's browser.
    pub url: Url,
    /// The URL stops working then.
    pub expires_at: DateTime<Utc>,
    /// Names the sign-in for [`Service::sign_in_progress`] (the state's digest: not the state).
    pub ticket: String,
}

/// What Entra's redirect brought back: `code` and `state`, or `error` and its description.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    /// The state handed out.
    pub state: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// Entra's error code (`access_denied`, `consent_required`, …).
    pub error: Option<String>,
    /// Entra's description of it.
    pub error_description: Option<String>,
}

/// Why a callback was refused before anything was redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No state, or one that was never handed out.
    Forged,
    /// The state was used already.
    Replayed,
    /// The state is older than [`SIGN_IN_LIFETIME`].
    Expired,
    /// The state no longer fits its connection or its caller.
    Foreign(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Forged => f.write_str("the sign-in's state was not issued by this service"),
            Refusal::Replayed => f.write_str("the sign-in's state was used already"),
            Refusal::Expired => write!(
                f,
                "the sign-in expired (a sign-in link works for {} minutes)",
                SIGN_IN_LIFETIME.num_minutes()
            ),
            Refusal::Foreign(why) => write!(f, "the sign-in no longer fits: {why}"),
        }
    }
}

/// How a callback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The refresh token is stored: the connection can sync.
    SignedIn {
        /// The connection.
        connection: ConnectionId,
    },
    /// Refused before anything was redeemed.
    Refused(Refusal),
    /// Entra reported an error instead of a code (or refused the code).
    Entra {
        /// The connection.
        connection: ConnectionId,
        /// Entra's error code.
        error: String,
        /// Entra's description.
        description: String,
        /// What to do about it.
        advice: &'static str,
    },
}

impl SignInOutcome {
    /// What the sign-in's row records.
    fn recorded(&self) -> String {
        match self {
            SignInOutcome::SignedIn { .. } => "signed_in".to_owned(),
            SignInOutcome::Refused(refusal) => format!("refused: {refusal}"),
            SignInOutcome::Entra { error, .. } => format!("entra: {error}"),
        }
    }
}

/// Where a sign-in stands, as `entra-sync authorize` waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInProgress {
    /// Waiting for the callback.
    Pending,
    /// The callback ran: `signed_in`, or why not.
    Done(String),
    /// Nobody came back in time.
    Expired,
}

/// Advice for the errors Entra sends back to the redirect URI.
pub fn entra_advice(error: &str) -> &'static str {
    match error {
        "access_denied" => {
            "The sign-in was cancelled or consent was declined. Sign in again and accept the permissions the app asks for."
        }
        "consent_required" | "interaction_required" => {
            "An administrator must consent for the organisation first: sign in with an administrator account (or grant admin consent to the app in the Entra admin centre), then try again."
        }
        "invalid_client" | "unauthorized_client" | "invalid_request" => {
            "Entra refused the app's request: check the connection's client id and that the app registration lists this redirect URI as a Web redirect."
        }
        "invalid_grant" => {
            "The code could not be redeemed (it was used or it expired). Start the sign-in again."
        }
        "temporarily_unavailable" | "server_error" => {
            "Entra could not complete the sign-in just now. Try again in a few minutes."
        }
        _ => "Start the sign-in again; if it keeps failing, Entra's message above says why.",
    }
}

/// `{public_url}/authcallback`, or on the address the admin listener is bound to.
pub fn callback_url(public_url: Option<&Url>, bound: std::net::SocketAddr) -> Url {
    let base = public_url
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{bound}"));
    Url::parse(&format!("{base}{CALLBACK_PATH}")).expect("a base URL and a path form a URL")
}

fn digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Service {
    /// Hands out the `/authorize` URL for a delegated connection, to come back to
    /// `redirect_uri`. `caller` is the API's caller, `None` for the command line.
    pub async fn begin_sign_in(
        &self,
        caller: Option<&Caller>,
        connection: &str,
        redirect_uri: &Url,
    ) -> Result<SignInStart, ServiceError> {
        let connection = self.connection(connection)?;
        delegated(connection)?;
        let vault = self.token_vault()?;
        let state = random_token();
        let pkce = Pkce::new();
        let now = self.clock.now();
        let expires_at = now + SIGN_IN_LIFETIME;
        let ticket = digest(state.expose_secret());
        let sign_in = NewSignIn {
            digest: ticket.clone(),
            connection: connection.id.clone(),
            key_id: caller.map(Caller::key_id),
            caller: caller.map_or_else(|| "cli".to_owned(), Caller::name),
            tenant_id: connection.tenant_id.to_string(),
            client_id: connection.client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            verifier: to_store(vault.seal(&connection.id, &pkce.verifier)?),
            expires_at,
        };
        self.store
            .create_sign_in(&sign_in, now)
            .await
            .map_err(ServiceError::database("recording the sign-in"))?;
        let url = authorize_url(
            connection.authority_url.as_str(),
            &sign_in.tenant_id,
            &sign_in.client_id,
            &sign_in.redirect_uri,
            state.expose_secret(),
            &pkce.challenge,
        )?;
        info!(connection = %connection.id, caller = %sign_in.caller, "A delegated sign-in was started.");
        Ok(SignInStart {
            url,
            expires_at,
            ticket,
        })
    }

    /// Takes Entra's redirect back: refuses what does not fit, else redeems the code and stores
    /// the refresh token sealed. Refusals and Entra's errors are outcomes, not errors; an error
    /// is the database failing.
    pub async fn finish_sign_in(&self, callback: &Callback) -> Result<SignInOutcome, ServiceError> {
        let Some(state) = callback.state.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(refused(None, Refusal::Forged));
        };
        let ticket = digest(state);
        let now = self.clock.now();
        let Some((row, first)) = self.store.use_sign_in(&ticket, now).await? else {
            return Ok(refused(None, Refusal::Forged));
        };
        let connection = row.sign_in.connection.clone();
        let outcome = if !first {
            refused(Some(&connection), Refusal::Replayed)
        } else if now > row.sign_in.expires_at {
            refused(Some(&connection), Refusal::Expired)
        } else if let Err(why) = self.still_fits(&row).await? {
            refused(Some(&connection), Refusal::Foreign(why))
        } else {
            self.redeem(&row, callback).await?
        };
        if first {
            self.store
                .finish_sign_in(&ticket, &outcome.recorded())
                .await?;
        }
        Ok(outcome)
    }

    /// Where the sign-in `ticket` stands.
    pub async fn sign_in_progress(&self, ticket: &str) -> Result<SignInProgress, ServiceError> {
        let row = self
            .store
            .sign_in(ticket)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("sign-in {ticket}")))?;
        Ok(match row.outcome {
            Some(outcome) => SignInProgress::Done(outcome),
            None if self.clock.now() > row.sign_in.expires_at => SignInProgress::Expired,
            None => SignInProgress::Pending,
        })
    }

    fn token_vault(&self) -> Result<TokenVault, ServiceError> {
        let key = self.settings.token_encryption_key.as_ref().ok_or_else(|| {
            ServiceError::Conflict(
                "a delegated sign-in needs daemon.token_encryption_key (the refresh token is stored sealed under it)"
                    .to_owned(),
            )
        })?;
        Ok(TokenVault::new(key)?)
    }

    /// `Ok(Err(why))` when the sign-in no longer fits its connection or its caller.
    async fn still_fits(&self, row: &SignInRow) -> Result<Result<(), String>, ServiceError> {
        let asked = &row.sign_in;
        let Ok(connection) = self.connection(asked.connection.as_str()) else {
            return Ok(Err(format!(
                "connection {} is no longer configured",
                asked.connection
            )));
        };
        if delegated(connection).is_err() {
            return Ok(Err(format!(
                "connection {} no longer uses delegated sign-in",
                connection.id
            )));
        }
        if connection.tenant_id.to_string() != asked.tenant_id
            || connection.client_id.to_string() != asked.client_id
        {
            return Ok(Err(format!(
                "connection {} now names another tenant or app",
                connection.id
            )));
        }
        let Some(key_id) = asked.key_id else {
            return Ok(Ok(()));
        };
        let caller = match self.caller_of_key(key_id).await {
            Ok(caller) => caller,
            Err(ServiceError::Unauthenticated(why)) => {
                return Ok(Err(format!("the key that started it: {why}")));
            }
            Err(other) => return Err(other),
        };
        Ok(caller
            .reach(connection.id.as_str(), AccessLevel::ReadModify)
            .map(|_| ())
            .map_err(|_| {
                format!(
                    "{} may no longer change connection {}",
                    asked.caller, connection.id
                )
            }))
    }

    async fn redeem(
        &self,
        row: &SignInRow,
        callback: &Callback,
    ) -> Result<SignInOutcome, ServiceError> {
        let asked = &row.sign_in;
        let connection = self.connection(asked.connection.as_str())?;
        let entra = |error: &str, description: String| {
            let outcome = SignInOutcome::Entra {
                connection: connection.id.clone(),
                error: error.to_owned(),
                description,
                advice: entra_advice(error),
            };
            warn!(connection = %connection.id, %error, "The delegated sign-in failed at Entra.");
            outcome
        };
        if let Some(error) = &callback.error {
            return Ok(entra(
                error,
                callback.error_description.clone().unwrap_or_default(),
            ));
        }
        let Some(code) = callback.code.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(entra(
                "invalid_request",
                "the redirect carried neither a code nor an error".to_owned(),
            ));
        };
        let vault = self.token_vault()?;
        let verifier = vault.open(&connection.id, &from_store(&asked.verifier))?;
        let Some(key) = self.settings.token_encryption_key.as_ref() else {
            return Err(ServiceError::Conflict(
                "daemon.token_encryption_key is no longer set".to_owned(),
            ));
        };
        let tokens =
            sealed_refresh_tokens(self.store.clone(), self.clock.clone(), key, &connection.id)?;
        let secret = match &connection.credentials {
            Credentials::Delegated {
                secret: Some(secret),
            } => Some(SecretString::from(secret.expose())),
            _ => None,
        };
        let endpoint = token_endpoint(connection.authority_url.as_str(), &asked.tenant_id);
        let redemption = Redemption {
            token_endpoint: &endpoint,
            client_id: &asked.client_id,
            client_secret: secret.as_ref(),
            redirect_uri: &asked.redirect_uri,
            verifier: &verifier,
        };
        let http = crate::graph::http_client(
            Some(std::time::Duration::from_secs(30)),
            connection.trusted_ca.as_ref(),
        )?;
        match redeem_code(&http, &redemption, code, &tokens).await {
            Ok(()) => {
                info!(connection = %connection.id, caller = %asked.caller, "The delegated connection is authorised.");
                self.note_authorisation(&connection.id, false).await;
                Ok(SignInOutcome::SignedIn {
                    connection: connection.id.clone(),
                })
            }
            Err(error) => Ok(entra("invalid_grant", error.to_string())),
        }
    }
}

fn refused(connection: Option<&ConnectionId>, refusal: Refusal) -> SignInOutcome {
    let shown = connection.map(ConnectionId::to_string).unwrap_or_default();
    warn!(connection = %shown, reason = %refusal, "A sign-in callback was refused.");
    SignInOutcome::Refused(refusal)
}

fn delegated(connection: &ConnectionSettings) -> Result<(), ServiceError> {
    match connection.credentials {
        Credentials::Delegated { .. } => Ok(()),
        _ => Err(ServiceError::Conflict(format!(
            "connection {} does not use delegated sign-in (auth.method = \"delegated\"); its credential is in the configuration",
            connection.id
        ))),
    }
}

fn to_store(sealed: crate::auth::SealedToken) -> crate::store::SealedToken {
    crate::store::SealedToken {
        ciphertext: sealed.ciphertext,
        nonce: sealed.nonce,
        key_id: sealed.key_id,
    }
}

fn from_store(sealed: &crate::store::SealedToken) -> crate::auth::SealedToken {
    crate::auth::SealedToken {
        ciphertext: sealed.ciphertext.clone(),
        nonce: sealed.nonce.clone(),
        key_id: sealed.key_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_is_under_the_public_url_or_the_bound_listener() {
        let bound = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(
            callback_url(None, bound).as_str(),
            "http://127.0.0.1:8443/authcallback"
        );
        let public = Url::parse("https://desk.example.com/entra/").unwrap();
        assert_eq!(
            callback_url(Some(&public), bound).as_str(),
            "https://desk.example.com/entra/authcallback"
        );
    }

    #[test]
    fn entra_errors_come_with_advice() {
        assert!(entra_advice("consent_required").contains("administrator must consent"));
        assert!(entra_advice("access_denied").contains("declined"));
        assert!(entra_advice("something_new").contains("Start the sign-in again"));
    }
}
