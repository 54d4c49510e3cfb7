//! RSA key pairs with self-signed certificates: the emulator's token-signing key, each demo
//! app's certificate credential, and each federated issuer's key.
//!
//! RSA generation takes tens of milliseconds, so keys are made once per process and slot and
//! shared by every emulator started in it (tests start many).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256};
use sha2::{Digest, Sha256};

/// Why key material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key or certificate generation failed.
    #[error("generating a key pair or certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The generated PEM did not load.
    #[error("loading a generated key failed: {0}")]
    Load(#[from] jsonwebtoken::errors::Error),
}

/// An RSA key pair and a self-signed certificate for it.
pub struct KeyMaterial {
    /// The private key, PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub private_key_pem: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// base64url(SHA-1(certificate DER)): the `x5t` header of RS256 assertions.
    pub x5t: String,
    /// base64url(SHA-256(certificate DER)): the `x5t#S256` header of PS256 assertions.
    pub x5t_s256: String,
    /// Standard base64 of the certificate DER, as an `x5c` entry.
    pub certificate_base64: String,
    /// Signs with the private key.
    pub encoding: EncodingKey,
    /// Verifies with the public key.
    pub decoding: DecodingKey,
    /// The public key, PKCS#1 `RSAPublicKey` DER (for the JWKS's `n` and `e`).
    pub public_key_der: Vec<u8>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A fresh RSA-2048 key pair with a self-signed certificate whose subject is `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, KeyError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        let certificate = params.self_signed(&key)?;
        let der = certificate.der().as_ref();
        let private_key_pem = key.serialize_pem();
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        Ok(Self {
            encoding: EncodingKey::from_rsa_pem(private_key_pem.as_bytes())?,
            // For RSA the raw public key is the PKCS#1 RSAPublicKey DER jsonwebtoken expects.
            decoding: DecodingKey::from_rsa_der(key.public_key_raw()),
            public_key_der: key.public_key_raw().to_vec(),
            private_key_pem,
            certificate_pem: certificate.pem(),
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(der)),
            certificate_base64: STANDARD.encode(der),
        })
    }

    /// The SHA-1 thumbprint in upper-case hex, as `keyCredentials[].customKeyIdentifier` and the
    /// Entra admin centre show it.
    pub fn sha1_hex(&self) -> String {
        URL_SAFE_NO_PAD
            .decode(&self.x5t)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// Whether a thumbprint header value names this certificate. Clients send base64url as
    /// the RFC says, but some send padded or standard base64 or hex; Entra accepts those too.
    pub fn matches_thumbprint(&self, header_value: &str, sha256: bool) -> bool {
        let expected = URL_SAFE_NO_PAD
            .decode(if sha256 { &self.x5t_s256 } else { &self.x5t })
            .unwrap_or_default();
        let trimmed = header_value.trim_end_matches('=');
        // A hex thumbprint is also valid base64, so every reading is tried.
        [
            URL_SAFE_NO_PAD.decode(trimmed).ok(),
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .ok(),
            hex_decode(header_value),
        ]
        .into_iter()
        .flatten()
        .any(|d| d == expected)
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Which key of the process-wide cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    /// The emulator's own token-signing key.
    TokenSigning,
    /// The certificate credential of tenant `n`'s demo app.
    AppCertificate(usize),
    /// The key of tenant `n`'s federated issuer.
    FederatedIssuer(usize),
}

impl KeySlot {
    fn index(self) -> usize {
        match self {
            Self::TokenSigning => 0,
            Self::AppCertificate(n) => 1 + 2 * n,
            Self::FederatedIssuer(n) => 2 + 2 * n,
        }
    }

    fn common_name(self) -> String {
        match self {
            Self::TokenSigning => "graph-emulator token signing".into(),
            Self::AppCertificate(n) => format!("entra-sync demo app {n}"),
            Self::FederatedIssuer(n) => format!("graph-emulator federated issuer {n}"),
        }
    }
}

type Cache = Mutex<Vec<Option<Arc<KeyMaterial>>>>;

/// The key for a slot, generated on first use and shared by every emulator in the process.
pub fn cached_key(slot: KeySlot) -> Result<Arc<KeyMaterial>, KeyError> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some(Some(key)) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(slot.index())
    {
        return Ok(key.clone());
    }
    // Generated outside the lock so two slots can be made at once; a race makes one extra key.
    let key = Arc::new(KeyMaterial::generate(&slot.common_name())?);
    let mut keys = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if keys.len() <= slot.index() {
        keys.resize(slot.index() + 1, None);
    }
    Ok(keys[slot.index()].get_or_insert(key).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_match_in_every_encoding_clients_use() {
        let key = cached_key(KeySlot::AppCertificate(99)).expect("key");
        assert!(key.matches_thumbprint(&key.x5t_s256, true));
        assert!(key.matches_thumbprint(&key.x5t, false));
        let sha1 = URL_SAFE_NO_PAD.decode(&key.x5t).expect("b64");
        let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
        assert!(key.matches_thumbprint(&hex, false));
        assert!(!key.matches_thumbprint(&key.x5t, true));
        assert!(
            key.private_key_pem
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(
            key.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }
}
