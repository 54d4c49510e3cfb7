//! Delegated refresh tokens at rest: sealed with AES-256-GCM under a key from the config, never
//! stored in plain text (BRIEF §2, §5.2).

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use super::AuthError;
use crate::clock::Clock;
use crate::ids::ConnectionId;
use crate::store::{SealedToken, Store};

/// Seals and opens refresh tokens. The key is 32 bytes, given base64-encoded.
pub struct TokenVault {
    key: LessSafeKey,
    key_id: String,
}

impl std::fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVault")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenVault {
    /// A vault for a base64-encoded 32-byte key.
    pub fn new(key_base64: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| "the token encryption key is not base64".to_owned())?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
            format!(
                "the token encryption key must be 32 bytes, not {}",
                bytes.len()
            )
        })?;
        let fingerprint = digest::digest(&digest::SHA256, &bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            key_id: hex::encode(&fingerprint.as_ref()[..4]),
        })
    }

    /// Encrypts `token`, binding it to `connection` (a sealed token cannot be moved to another).
    pub fn seal(
        &self,
        connection: &ConnectionId,
        token: &SecretString,
    ) -> Result<SealedToken, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| {
            AuthError::Credential("no randomness for sealing the refresh token".to_owned())
        })?;
        let mut data = token.expose_secret().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(connection.as_str()),
                &mut data,
            )
            .map_err(|_| AuthError::Credential("sealing the refresh token failed".to_owned()))?;
        Ok(SealedToken {
            ciphertext: data,
            nonce: nonce.to_vec(),
            key_id: self.key_id.clone(),
        })
    }

    /// Decrypts a sealed token.
    pub fn open(
        &self,
        connection: &ConnectionId,
        sealed: &SealedToken,
    ) -> Result<SecretString, AuthError> {
        if sealed.key_id != self.key_id {
            return Err(AuthError::Credential(format!(
                "the stored refresh token was sealed with another key ({}); re-authorise this connection",
                sealed.key_id
            )));
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce)
            .map_err(|_| AuthError::Credential("the stored refresh token is corrupt".to_owned()))?;
        let mut data = sealed.ciphertext.clone();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(connection.as_str()), &mut data)
            .map_err(|_| {
                AuthError::Credential(
                    "the stored refresh token does not decrypt; re-authorise".to_owned(),
                )
            })?;
        let text = String::from_utf8(plain.to_vec())
            .map_err(|_| AuthError::Credential("the stored refresh token is corrupt".to_owned()))?;
        Ok(SecretString::from(text))
    }
}

/// Where a delegated connection's refresh token lives.
#[async_trait]
pub trait RefreshTokens: Send + Sync + std::fmt::Debug {
    /// The current refresh token, if the connection has been authorised.
    async fn load(&self) -> Result<Option<SecretString>, AuthError>;
    /// Replaces the refresh token (rotation).
    async fn store(&self, token: SecretString) -> Result<(), AuthError>;
}

/// Refresh tokens sealed in the `delegated_tokens` table.
#[derive(Debug)]
pub struct StoredRefreshTokens {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The sealing key.
    pub vault: Arc<TokenVault>,
    /// Whose token.
    pub connection: ConnectionId,
    /// For `updated_at`.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl RefreshTokens for StoredRefreshTokens {
    async fn load(&self) -> Result<Option<SecretString>, AuthError> {
        let sealed = self
            .store
            .delegated_token(self.connection.as_str())
            .await
            .map_err(|e| AuthError::Unavailable(format!("reading the refresh token: {e}")))?;
        sealed
            .map(|s| self.vault.open(&self.connection, &s))
            .transpose()
    }

    async fn store(&self, token: SecretString) -> Result<(), AuthError> {
        let sealed = self.vault.seal(&self.connection, &token)?;
        self.store
            .save_delegated_token(self.connection.as_str(), &sealed, self.clock.now())
            .await
            .map_err(|e| AuthError::Unavailable(format!("storing the rotated refresh token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        STANDARD.encode([7u8; 32])
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_connection_and_key() {
        let vault = TokenVault::new(&key()).unwrap();
        let a = ConnectionId::parse("a").unwrap();
        let b = ConnectionId::parse("b").unwrap();
        let sealed = vault.seal(&a, &SecretString::from("refresh-123")).unwrap();
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("refresh-123"));
        assert_eq!(
            vault.open(&a, &sealed).unwrap().expose_secret(),
            "refresh-123"
        );
        assert!(vault.open(&b, &sealed).is_err());
        let other = TokenVault::new(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open(&a, &sealed).is_err());
    }

    #[test]
    fn keys_must_be_32_base64_bytes() {
        assert!(TokenVault::new("not base64!").is_err());
        assert!(TokenVault::new(&STANDARD.encode([1u8; 16])).is_err());
    }
}
