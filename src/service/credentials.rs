//! When a connection's client secret or certificate stops working, and the warning before it
//! does (an expired secret is the most common way this integration breaks).
//!
//! With `Application.Read.All` (optional; `check --online` says what it adds) the end date is
//! read from the app's own registration in Graph: the secret whose `hint` is the configured
//! secret's first three characters, or the certificate whose thumbprint is the configured
//! certificate's. Without it, or when Graph cannot say, `auth.expires = "YYYY-MM-DD"` in the
//! configuration does (the credential stops working at the start of that day, UTC). Within
//! `[notifications] credential_warning_days` (30 by default) of the end, the check warns in the
//! log; the daemon also sets `entra_sync_credential_expiry_timestamp` and tells the webhook.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use tracing::{debug, warn};

use super::{GraphUse, Service, ServiceError};
use crate::auth::CertificateSigner;
use crate::config::{ConnectionSettings, Credentials};
use crate::graph::applications::{AppCredential, CredentialKind, READ_APPLICATIONS};
use crate::ids::ConnectionId;

/// Where an end date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpirySource {
    /// The app registration in Graph.
    Graph,
    /// `auth.expires` in the configuration.
    Config,
}

/// When a connection's credential stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialExpiry {
    /// The connection.
    pub connection: ConnectionId,
    /// Which credential (`client secret abc…`, `certificate 1A2B…`).
    pub credential: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Where that was read.
    pub source: ExpirySource,
    /// Whole days left (negative once it has expired).
    pub days_left: i64,
    /// Within the warning window (or past the end).
    pub soon: bool,
}

/// What identifies the configured credential among the app's.
enum Configured {
    /// A client secret's first three characters (Graph's `hint`).
    Secret(String),
    /// A certificate's SHA-1 thumbprint in hex.
    Certificate(String),
}

impl Configured {
    fn of(connection: &ConnectionSettings) -> Option<Self> {
        match &connection.credentials {
            Credentials::ClientSecret(secret)
            | Credentials::Delegated {
                secret: Some(secret),
            } => Some(Configured::Secret(
                secret.expose().chars().take(3).collect(),
            )),
            Credentials::Certificate {
                certificate,
                private_key,
                algorithm,
            } => CertificateSigner::new(certificate.expose(), private_key.expose(), *algorithm)
                .ok()
                .map(|signer| Configured::Certificate(signer.sha1_hex())),
            _ => None,
        }
    }

    /// The app's credential that is this one, if any.
    fn find<'a>(&self, credentials: &'a [AppCredential]) -> Option<&'a AppCredential> {
        credentials
            .iter()
            .filter(|c| match self {
                Configured::Secret(hint) => {
                    c.kind == CredentialKind::Secret && c.hint.as_deref() == Some(hint)
                }
                Configured::Certificate(thumbprint) => {
                    c.kind == CredentialKind::Certificate
                        && c.thumbprint
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case(thumbprint))
                }
            })
            .max_by_key(|c| c.ends_at)
    }

    fn describe(&self) -> String {
        match self {
            Configured::Secret(hint) => format!("client secret {hint}…"),
            Configured::Certificate(thumbprint) => format!("certificate {thumbprint}"),
        }
    }
}

impl Service {
    /// Looks up when `connection`'s credential stops working, records it for the status, and
    /// warns in the log when that is within the warning window. `None` when nothing says (a
    /// public delegated client or a federated credential, without `auth.expires`).
    pub async fn check_credential(
        &self,
        connection: &str,
    ) -> Result<Option<CredentialExpiry>, ServiceError> {
        let connection = self.connection(connection)?;
        let configured = Configured::of(connection);
        let from_graph = match &configured {
            Some(configured) => self.credential_in_graph(connection, configured).await,
            None => None,
        };
        let found = from_graph
            .map(|(credential, at)| (credential, at, ExpirySource::Graph))
            .or_else(|| {
                let date = connection.credential_expires?;
                let credential = configured
                    .as_ref()
                    .map_or_else(|| "the credential".to_owned(), Configured::describe);
                Some((
                    credential,
                    date.and_time(NaiveTime::MIN).and_utc(),
                    ExpirySource::Config,
                ))
            });
        let now = self.clock.now();
        self.store
            .set_credential_expiry(&connection.id, found.as_ref().map(|f| f.1), now)
            .await?;
        let Some((credential, expires_at, source)) = found else {
            return Ok(None);
        };
        let days_left = (expires_at - now).num_days();
        let warning = i64::from(self.settings.notifications.credential_warning_days);
        let soon = expires_at - now <= chrono::Duration::days(warning);
        if soon {
            warn!(
                connection = %connection.id,
                %credential,
                %expires_at,
                days_left,
                "A connection's credential expires soon: add a new one to the app registration in Entra and put it in the configuration."
            );
        }
        Ok(Some(CredentialExpiry {
            connection: connection.id.clone(),
            credential,
            expires_at,
            source,
            days_left,
            soon,
        }))
    }

    /// The configured credential's end date as the app registration has it, if the token may
    /// read it and Graph answers.
    async fn credential_in_graph(
        &self,
        connection: &ConnectionSettings,
        configured: &Configured,
    ) -> Option<(String, DateTime<Utc>)> {
        let client = self
            .graph
            .client(&self.settings, connection, GraphUse::Probe)
            .ok()?;
        let token = client.tokens().token().await.ok()?;
        if !token
            .permissions
            .iter()
            .any(|p| READ_APPLICATIONS.contains(&p.as_str()))
        {
            return None;
        }
        match client
            .app_credentials(&connection.client_id.to_string())
            .await
        {
            Ok(Some(credentials)) => {
                let found = configured.find(&credentials)?;
                let shown = found
                    .display_name
                    .as_ref()
                    .map(|name| format!("{} ({name})", configured.describe()))
                    .unwrap_or_else(|| configured.describe());
                Some((shown, found.ends_at))
            }
            Ok(None) => None,
            Err(error) => {
                debug!(connection = %connection.id, %error, "The app registration could not be read.");
                None
            }
        }
    }
}
