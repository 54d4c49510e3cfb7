//! Token sources: how the daemon gets an access token for Microsoft Graph (client
//! secret, certificate, delegated refresh token, federated workload identity).
//!
//! All four credential types are form posts to `{authority}/{tenant}/oauth2/v2.0/token`, so one
//! [`TokenClient`] serves them; only the grant differs ([`Grant`]). Tokens are cached until five
//! minutes before expiry; [`TokenSource::invalidate`] drops the cache after a 401.

mod aadsts;
mod assertion;
pub mod delegated;
pub mod vault;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::{debug, instrument};

pub use aadsts::advice;
pub use assertion::CertificateSigner;
pub use vault::{RefreshTokens, SealedRefreshTokens, SealedToken, SealedTokens, TokenVault};

use crate::clock::Clock;
use crate::config::{ConnectionSettings, Credentials};

/// The Graph scope for application permissions.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const EARLY_REFRESH: Duration = Duration::minutes(5);

/// An access token with what the daemon reads from it. `Debug` never shows the token.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Permissions granted: the `roles` (application) or `scp` (delegated) claim.
    pub permissions: Vec<String>,
}

impl AccessToken {
    /// The bearer value, for the `Authorization` header only.
    pub fn bearer(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The identity platform refused; `message` says what to do.
    #[error("sign-in failed (AADSTS{code}): {message}")]
    Rejected {
        /// The AADSTS number.
        code: u64,
        /// Actionable advice, or Microsoft's description when there is none.
        message: String,
    },
    /// The identity platform could not be reached or answered nonsense; retrying may help.
    #[error("the identity platform is unavailable: {0}")]
    Unavailable(String),
    /// The credential itself is unusable (unreadable key, missing refresh token, …).
    #[error("the credential is unusable: {0}")]
    Credential(String),
}

/// Where access tokens come from.
#[async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A valid token, from the cache when it has one that is not about to expire.
    async fn token(&self) -> Result<AccessToken, AuthError>;
    /// Forgets the cached token (Graph said 401).
    async fn invalidate(&self);
}

/// How a [`TokenClient`] authenticates at the token endpoint.
pub enum Grant {
    /// Client credentials with a client secret.
    ClientSecret(SecretString),
    /// Client credentials with a certificate-signed assertion.
    Certificate(CertificateSigner),
    /// Client credentials with a federated assertion read afresh from a file.
    Federated(std::path::PathBuf),
    /// Refresh-token grant; the rotated refresh token is stored before the old one is dropped.
    Delegated {
        /// Optional client secret of a confidential client.
        secret: Option<SecretString>,
        /// Where the (encrypted) refresh token lives.
        tokens: Arc<dyn RefreshTokens>,
    },
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Grant::ClientSecret(_) => "ClientSecret(redacted)",
            Grant::Certificate(_) => "Certificate",
            Grant::Federated(_) => "Federated",
            Grant::Delegated { .. } => "Delegated",
        })
    }
}

/// A token source for one connection: one tenant, one app, one grant.
#[derive(Debug)]
pub struct TokenClient {
    http: reqwest::Client,
    endpoint: String,
    client_id: String,
    grant: Grant,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<AccessToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    refresh_token: Option<String>,
}

impl TokenClient {
    /// A token client for `connection`. `tokens` is needed only for delegated connections.
    pub fn for_connection(
        connection: &ConnectionSettings,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        tokens: Option<Arc<dyn RefreshTokens>>,
    ) -> Result<Self, AuthError> {
        let grant = match &connection.credentials {
            Credentials::ClientSecret(secret) => {
                Grant::ClientSecret(SecretString::from(secret.expose()))
            }
            Credentials::Certificate {
                certificate,
                private_key,
                algorithm,
            } => Grant::Certificate(
                CertificateSigner::new(certificate.expose(), private_key.expose(), *algorithm)
                    .map_err(AuthError::Credential)?,
            ),
            Credentials::Federated { token_file } => Grant::Federated(token_file.clone()),
            Credentials::Unresolved(problems) => {
                return Err(AuthError::Credential(problems.clone()));
            }
            Credentials::Delegated { secret } => Grant::Delegated {
                secret: secret.as_ref().map(|s| SecretString::from(s.expose())),
                tokens: tokens.ok_or_else(|| {
                    AuthError::Credential(
                        "a delegated connection needs the refresh-token store".to_owned(),
                    )
                })?,
            },
        };
        Ok(Self::new(
            http,
            token_endpoint(
                connection.authority_url.as_str(),
                &connection.tenant_id.to_string(),
            ),
            connection.client_id.to_string(),
            grant,
            clock,
        ))
    }

    /// A token client posting to `endpoint` (see [`token_endpoint`]).
    pub fn new(
        http: reqwest::Client,
        endpoint: String,
        client_id: String,
        grant: Grant,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            endpoint,
            client_id,
            grant,
            clock,
            cached: Mutex::new(None),
        }
    }

    #[instrument(skip_all, fields(grant = ?self.grant))]
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let now = self.clock.now();
        let mut form: Vec<(&str, String)> = vec![("client_id", self.client_id.clone())];
        match &self.grant {
            Grant::ClientSecret(secret) => {
                form.push(("grant_type", "client_credentials".into()));
                form.push(("scope", GRAPH_DEFAULT_SCOPE.into()));
                form.push(("client_secret", secret.expose_secret().to_owned()));
            }
            Grant::Certificate(signer) => {
                let assertion = signer
                    .assertion(&self.client_id, &self.endpoint, now)
                    .map_err(AuthError::Credential)?;
                form.push(("grant_type", "client_credentials".into()));
                form.push(("scope", GRAPH_DEFAULT_SCOPE.into()));
                form.push(("client_assertion_type", ASSERTION_TYPE.into()));
                form.push(("client_assertion", assertion));
            }
            Grant::Federated(path) => {
                let assertion = tokio::fs::read_to_string(path).await.map_err(|e| {
                    AuthError::Credential(format!(
                        "cannot read the federated token file {}: {e}",
                        path.display()
                    ))
                })?;
                form.push(("grant_type", "client_credentials".into()));
                form.push(("scope", GRAPH_DEFAULT_SCOPE.into()));
                form.push(("client_assertion_type", ASSERTION_TYPE.into()));
                form.push(("client_assertion", assertion.trim().to_owned()));
            }
            Grant::Delegated { secret, tokens } => {
                let refresh = tokens.load().await?.ok_or_else(|| {
                    AuthError::Credential(
                        "this delegated connection has not been authorised yet — sign in from the admin page".to_owned(),
                    )
                })?;
                form.push(("grant_type", "refresh_token".into()));
                form.push(("scope", format!("{GRAPH_DEFAULT_SCOPE} offline_access")));
                form.push(("refresh_token", refresh.expose_secret().to_owned()));
                if let Some(secret) = secret {
                    form.push(("client_secret", secret.expose_secret().to_owned()));
                }
            }
        }
        let response = self.post(&form).await?;
        if let (Grant::Delegated { tokens, .. }, Some(rotated)) =
            (&self.grant, &response.refresh_token)
        {
            // The new refresh token is stored before the old one is dropped (it is replaced in
            // the same write), so a crash here never leaves the connection without one.
            tokens.store(SecretString::from(rotated.as_str())).await?;
        }
        let permissions = permissions_of(&response.access_token);
        debug!(expires_in = response.expires_in, "Access token acquired.");
        Ok(AccessToken {
            secret: SecretString::from(response.access_token),
            expires_at: now + Duration::seconds(response.expires_in),
            permissions,
        })
    }

    async fn post(&self, form: &[(&str, String)]) -> Result<TokenResponse, AuthError> {
        post_token_form(&self.http, &self.endpoint, form).await
    }
}

/// An error and each of its causes, separated by `: `. reqwest's own message stops at "error
/// sending request for url (…)"; why (a refused connection, a certificate the TLS handshake
/// did not trust) is in its sources.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// Posts a token request and turns the identity platform's answer into a token or an
/// actionable error. Shared by the grants above and the delegated sign-in callback.
pub async fn post_token_form<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, String)],
) -> Result<T, AuthError> {
    let response = http.post(endpoint).form(form).send().await.map_err(|e| {
        // The endpoint leads the message; reqwest's would repeat it.
        AuthError::Unavailable(format!(
            "POST {endpoint}: {}",
            with_causes(&e.without_url())
        ))
    })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| AuthError::Unavailable(format!("reading the token response: {e}")))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            AuthError::Unavailable(format!("the token response is not the expected JSON: {e}"))
        });
    }
    match serde_json::from_slice::<aadsts::TokenErrorBody>(&body) {
        Ok(error) => {
            let code = error.code().unwrap_or_default();
            let message = advice(code).map(str::to_owned).unwrap_or_else(|| {
                let first = error
                    .error_description
                    .lines()
                    .next()
                    .unwrap_or(&error.error);
                first.to_owned()
            });
            Err(AuthError::Rejected { code, message })
        }
        Err(_) if status.is_server_error() => Err(AuthError::Unavailable(format!(
            "token endpoint answered {status}"
        ))),
        Err(_) => Err(AuthError::Unavailable(format!(
            "token endpoint answered {status} without an error body"
        ))),
    }
}

#[async_trait]
impl TokenSource for TokenClient {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && token.expires_at - EARLY_REFRESH > self.clock.now()
        {
            return Ok(token.clone());
        }
        let token = self.fetch().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`.
pub fn token_endpoint(authority: &str, tenant: &str) -> String {
    format!(
        "{}/{tenant}/oauth2/v2.0/token",
        authority.trim_end_matches('/')
    )
}

/// Reads the `roles` or `scp` claim of an access token without verifying it: the token is only
/// inspected to tell the admin which permissions are missing; Graph does the verifying.
pub fn permissions_of(jwt: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        roles: Vec<String>,
        #[serde(default)]
        scp: Option<String>,
    }
    let Some(payload) = jwt.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Vec::new();
    };
    match serde_json::from_slice::<Claims>(&bytes) {
        Ok(claims) => {
            let mut permissions = claims.roles;
            permissions.extend(
                claims
                    .scp
                    .iter()
                    .flat_map(|s| s.split(' ').map(str::to_owned)),
            );
            permissions.sort();
            permissions.dedup();
            permissions
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_come_from_roles_or_scp() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"roles":["User.Read.All","Group.Read.All"]}"#);
        assert_eq!(
            permissions_of(&format!("h.{claims}.s")),
            ["Group.Read.All", "User.Read.All"]
        );
        let claims = URL_SAFE_NO_PAD.encode(r#"{"scp":"User.Read.All offline_access"}"#);
        assert_eq!(
            permissions_of(&format!("h.{claims}.s")),
            ["User.Read.All", "offline_access"]
        );
        assert!(permissions_of("not-a-jwt").is_empty());
    }

    #[test]
    fn the_token_endpoint_is_under_the_tenant() {
        assert_eq!(
            token_endpoint("https://login.microsoftonline.com/", "t-1"),
            "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
        );
    }
}
