//! App registrations: client id, secret, certificate, federated credential and granted
//! permissions, and the credentials handed to whoever drives the emulator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;
use uuid::Uuid;

use super::keys::KeyMaterial;

/// Audience Entra expects in a federated (workload identity) assertion.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A federated identity credential: assertions from `issuer` about `subject` are accepted.
#[derive(Debug, Clone)]
pub struct FederatedCredential {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `sub`.
    pub subject: String,
    /// Expected `aud`.
    pub audience: String,
    /// The issuer's signing key (the emulator plays the external issuer too).
    pub key: Arc<KeyMaterial>,
}

/// One app registered in a tenant.
#[derive(Debug, Clone)]
pub struct AppRegistration {
    /// Display name.
    pub name: String,
    /// Application (client) id.
    pub client_id: Uuid,
    /// The client secret's value.
    pub client_secret: String,
    /// Application permissions granted (the token's `roles`; also what delegated sign-in may
    /// consent to, as `scp`).
    pub roles: Vec<String>,
    /// Registered certificate credential.
    pub certificate: Option<Arc<KeyMaterial>>,
    /// Registered federated credential.
    pub federated: Option<FederatedCredential>,
    /// The application object's id (not the client id), as `GET /applications` shows it.
    pub object_id: Uuid,
    /// When the client secret stops working (`passwordCredentials[0].endDateTime`).
    pub secret_ends: DateTime<Utc>,
    /// When the certificate stops working (`keyCredentials[0].endDateTime`).
    pub certificate_ends: DateTime<Utc>,
    /// When both were added.
    pub credentials_start: DateTime<Utc>,
}

impl AppRegistration {
    /// A new registration with a random-looking but seeded id and secret, whose credentials
    /// were added at `start` and work for `lifetime`.
    pub fn new(
        rng: &mut StdRng,
        name: &str,
        roles: Vec<String>,
        start: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> Self {
        let client_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        // Entra secrets are 40 characters with a three-character prefix and a `~`.
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
        let body: String = (0..34)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let prefix: String = (0..3)
            .map(|_| ALPHABET[rng.random_range(0..52)] as char)
            .collect();
        Self {
            name: name.to_owned(),
            client_id,
            client_secret: format!("{prefix}8Q~{body}"),
            roles,
            certificate: None,
            federated: None,
            object_id: uuid::Builder::from_random_bytes(rng.random()).into_uuid(),
            secret_ends: start + lifetime,
            certificate_ends: start + lifetime,
            credentials_start: start,
        }
    }

    /// Whether the app holds any of these permissions.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// Credentials of one app in one tenant, as printed on start and used by tests.
#[derive(Debug, Clone, Serialize)]
pub struct AppCredentials {
    /// App display name (`demo` for each tenant's demo app).
    pub name: String,
    /// Tenant id.
    pub tenant_id: Uuid,
    /// The tenant's initial domain, also accepted in place of the tenant id.
    pub tenant_domain: String,
    /// Application (client) id.
    pub client_id: Uuid,
    /// Client secret value.
    pub client_secret: String,
    /// Application permissions granted.
    pub roles: Vec<String>,
    /// Certificate credential (PEM), when registered.
    #[serde(skip)]
    pub certificate_pem: Option<String>,
    /// Its private key (PKCS#8 PEM).
    #[serde(skip)]
    pub private_key_pem: Option<String>,
    /// base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub certificate_thumbprint_sha256: Option<String>,
    /// base64url SHA-1 thumbprint of the certificate (`x5t`).
    pub certificate_thumbprint_sha1: Option<String>,
    /// Where the certificate was written, when it was.
    pub certificate_path: Option<PathBuf>,
    /// Where the private key was written, when it was.
    pub private_key_path: Option<PathBuf>,
    /// Federated credential: expected issuer.
    pub federated_issuer: Option<String>,
    /// Federated credential: expected subject.
    pub federated_subject: Option<String>,
    /// Federated credential: expected audience.
    pub federated_audience: Option<String>,
    /// The federated issuer's private key, to sign test assertions with (PKCS#8 PEM).
    #[serde(skip)]
    pub federated_private_key_pem: Option<String>,
}

impl AppCredentials {
    /// The credentials of `app` in tenant `tenant_id`.
    pub fn of(app: &AppRegistration, tenant_id: Uuid, tenant_domain: &str) -> Self {
        Self {
            name: app.name.clone(),
            tenant_id,
            tenant_domain: tenant_domain.to_owned(),
            client_id: app.client_id,
            client_secret: app.client_secret.clone(),
            roles: app.roles.clone(),
            certificate_pem: app.certificate.as_ref().map(|k| k.certificate_pem.clone()),
            private_key_pem: app.certificate.as_ref().map(|k| k.private_key_pem.clone()),
            certificate_thumbprint_sha256: app.certificate.as_ref().map(|k| k.x5t_s256.clone()),
            certificate_thumbprint_sha1: app.certificate.as_ref().map(|k| k.x5t.clone()),
            certificate_path: None,
            private_key_path: None,
            federated_issuer: app.federated.as_ref().map(|f| f.issuer.clone()),
            federated_subject: app.federated.as_ref().map(|f| f.subject.clone()),
            federated_audience: app.federated.as_ref().map(|f| f.audience.clone()),
            federated_private_key_pem: app
                .federated
                .as_ref()
                .map(|f| f.key.private_key_pem.clone()),
        }
    }

    /// Writes the certificate and private key as `{tenant_id}-{name}.crt` / `.key` into `dir`
    /// (created if missing), records and returns the two paths.
    pub fn write_pem_files(&mut self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let (Some(cert), Some(key)) = (&self.certificate_pem, &self.private_key_pem) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("app {} has no certificate credential", self.client_id),
            ));
        };
        std::fs::create_dir_all(dir)?;
        let stem = format!("{}-{}", self.tenant_id, self.name);
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        std::fs::write(&cert_path, cert)?;
        std::fs::write(&key_path, key)?;
        self.certificate_path = Some(cert_path.clone());
        self.private_key_path = Some(key_path.clone());
        Ok((cert_path, key_path))
    }
}
