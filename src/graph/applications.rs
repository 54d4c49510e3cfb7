//! The connection's own app registration: when its client secrets and certificates stop working
//! (`GET /applications?$filter=appId eq '…'`, application-list.md; `passwordCredentials` and
//! `keyCredentials`, passwordcredential.md and keycredential.md). Needs `Application.Read.All`,
//! which is optional: without it the configuration's `auth.expires` says the same.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{GraphClient, GraphError};

/// Permissions that read app registrations.
pub const READ_APPLICATIONS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Which kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A client secret (`passwordCredentials`).
    Secret,
    /// A certificate (`keyCredentials`).
    Certificate,
}

/// One credential of an app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    /// Secret or certificate.
    pub kind: CredentialKind,
    /// A secret's first three characters (`hint`).
    pub hint: Option<String>,
    /// A certificate's SHA-1 thumbprint in hex (`customKeyIdentifier`).
    pub thumbprint: Option<String>,
    /// Its description in Entra.
    pub display_name: Option<String>,
    /// When it stops working.
    pub ends_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Applications {
    value: Vec<Application>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Application {
    #[serde(default)]
    password_credentials: Vec<Credential>,
    #[serde(default)]
    key_credentials: Vec<Credential>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credential {
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    custom_key_identifier: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    end_date_time: Option<DateTime<Utc>>,
}

impl GraphClient {
    /// The secrets and certificates of the app `client_id`; `None` when the tenant has no such
    /// app registration (an app of another tenant).
    pub async fn app_credentials(
        &self,
        client_id: &str,
    ) -> Result<Option<Vec<AppCredential>>, GraphError> {
        let url = self.url(&format!(
            "applications?$filter=appId eq '{client_id}'&$select=appId,passwordCredentials,keyCredentials"
        ))?;
        let body = self.get(&url).await?;
        let list: Applications =
            serde_json::from_value(body).map_err(|e| GraphError::InvalidResponse {
                url: url.to_string(),
                message: format!("the application is not the documented shape: {e}"),
            })?;
        let Some(app) = list.value.into_iter().next() else {
            return Ok(None);
        };
        let read = |kind, credentials: Vec<Credential>| {
            credentials.into_iter().filter_map(move |c| {
                Some(AppCredential {
                    kind,
                    hint: c.hint,
                    thumbprint: c.custom_key_identifier,
                    display_name: c.display_name,
                    ends_at: c.end_date_time?,
                })
            })
        };
        Ok(Some(
            read(CredentialKind::Secret, app.password_credentials)
                .chain(read(CredentialKind::Certificate, app.key_credentials))
                .collect(),
        ))
    }
}
