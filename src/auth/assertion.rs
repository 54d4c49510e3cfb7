//! Client assertions: a JWT signed with the app's certificate key (PS256 with an `x5t#S256` header;
//! RS256 with `x5t` is accepted too).
//!
//! Header `alg = PS256` with `x5t#S256` (current guidance) or `alg = RS256` with the SHA-1 `x5t`
//! (older, still accepted); claims `aud` = the token endpoint, `iss` = `sub` = the client id,
//! a fresh `jti`, `nbf`/`iat` now and `exp` ten minutes later.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;

use crate::config::AssertionAlgorithm;

/// A loaded certificate credential, ready to sign assertions.
pub struct CertificateSigner {
    key: EncodingKey,
    sha256_thumbprint: String,
    sha1_thumbprint: String,
    algorithm: AssertionAlgorithm,
}

impl std::fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSigner")
            .field("x5t#S256", &self.sha256_thumbprint)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl CertificateSigner {
    /// Parses a PEM certificate and its PEM private key (PKCS#8 or PKCS#1 RSA).
    pub fn new(
        certificate_pem: &str,
        private_key_pem: &str,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self, String> {
        let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|e| format!("the certificate is not a PEM certificate: {e}"))?;
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| format!("the private key is not a PEM RSA private key: {e}"))?;
        Ok(Self {
            key,
            sha256_thumbprint: URL_SAFE_NO_PAD
                .encode(digest::digest(&digest::SHA256, der.as_ref())),
            sha1_thumbprint: URL_SAFE_NO_PAD.encode(digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                der.as_ref(),
            )),
            algorithm,
        })
    }

    /// The certificate's SHA-1 thumbprint in upper-case hex, as Entra shows it (and as an app's
    /// `keyCredentials[].customKeyIdentifier` carries it).
    pub fn sha1_hex(&self) -> String {
        URL_SAFE_NO_PAD
            .decode(&self.sha1_thumbprint)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// A signed assertion for `client_id` at `token_endpoint`, valid from `now` for 10 minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let mut header = match self.algorithm {
            AssertionAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.sha256_thumbprint.clone());
                h
            }
            AssertionAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.sha1_thumbprint.clone());
                h
            }
        };
        header.typ = Some("JWT".to_owned());
        let issued = now.timestamp();
        let claims = Claims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: issued,
            iat: issued,
            exp: issued + 600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the client assertion failed: {e}"))
    }
}
