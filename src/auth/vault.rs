//! Delegated refresh tokens at rest: sealed with AES-256-GCM under a key from the config, never
//! stored in plain text. Where sealed tokens are kept is the caller's
//! [`SealedTokens`]; this module seals and opens them.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

use super::AuthError;
use crate::config::secret::TokenKey;
use crate::ids::ConnectionId;

/// A sealed refresh token: AES-256-GCM ciphertext, its nonce and the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedToken {
    /// Ciphertext with the authentication tag.
    pub ciphertext: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Which key sealed it.
    pub key_id: String,
}

/// Seals and opens refresh tokens under one [`TokenKey`].
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
    /// A vault for `key`.
    pub fn new(key: &TokenKey) -> Result<Self, AuthError> {
        let bytes = key.expose();
        // A 32-byte key always fits AES-256; the error is the library's own refusal.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            AuthError::Credential("the token encryption key is not an AES-256 key".to_owned())
        })?;
        let fingerprint = digest::digest(&digest::SHA256, bytes);
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

/// Where sealed refresh tokens are kept, one per connection. The composition root provides it
/// (the database); it only ever sees ciphertext.
#[async_trait]
pub trait SealedTokens: Send + Sync + std::fmt::Debug {
    /// The connection's sealed token, if it has one.
    async fn load(&self, connection: &ConnectionId) -> Result<Option<SealedToken>, AuthError>;
    /// Replaces the connection's sealed token.
    async fn save(&self, connection: &ConnectionId, sealed: &SealedToken) -> Result<(), AuthError>;
}

/// A connection's refresh tokens, sealed by a [`TokenVault`] and kept in [`SealedTokens`].
#[derive(Debug)]
pub struct SealedRefreshTokens {
    /// Where the sealed tokens are kept.
    pub sealed: Arc<dyn SealedTokens>,
    /// The sealing key.
    pub vault: Arc<TokenVault>,
    /// Whose token.
    pub connection: ConnectionId,
}

#[async_trait]
impl RefreshTokens for SealedRefreshTokens {
    async fn load(&self) -> Result<Option<SecretString>, AuthError> {
        self.sealed
            .load(&self.connection)
            .await?
            .map(|s| self.vault.open(&self.connection, &s))
            .transpose()
    }

    async fn store(&self, token: SecretString) -> Result<(), AuthError> {
        let sealed = self.vault.seal(&self.connection, &token)?;
        self.sealed.save(&self.connection, &sealed).await
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use tokio::sync::Mutex;

    use super::*;

    fn key(byte: u8) -> TokenKey {
        TokenKey::parse(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_connection_and_key() {
        let vault = TokenVault::new(&key(7)).unwrap();
        let a = ConnectionId::parse("a").unwrap();
        let b = ConnectionId::parse("b").unwrap();
        let sealed = vault.seal(&a, &SecretString::from("refresh-123")).unwrap();
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("refresh-123"));
        assert_eq!(
            vault.open(&a, &sealed).unwrap().expose_secret(),
            "refresh-123"
        );
        assert!(vault.open(&b, &sealed).is_err());
        let other = TokenVault::new(&key(8)).unwrap();
        assert!(other.open(&a, &sealed).is_err());
    }

    /// Sealed tokens in memory, as the database would keep them.
    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<(ConnectionId, SealedToken)>>);

    #[async_trait]
    impl SealedTokens for Kept {
        async fn load(&self, connection: &ConnectionId) -> Result<Option<SealedToken>, AuthError> {
            let kept = self.0.lock().await;
            Ok(kept
                .iter()
                .find(|(c, _)| c == connection)
                .map(|(_, s)| s.clone()))
        }

        async fn save(
            &self,
            connection: &ConnectionId,
            sealed: &SealedToken,
        ) -> Result<(), AuthError> {
            let mut kept = self.0.lock().await;
            kept.retain(|(c, _)| c != connection);
            kept.push((connection.clone(), sealed.clone()));
            Ok(())
        }
    }

    #[tokio::test]
    async fn refresh_tokens_are_kept_sealed_and_read_back_opened() {
        let kept = Arc::new(Kept::default());
        let tokens = SealedRefreshTokens {
            sealed: kept.clone(),
            vault: Arc::new(TokenVault::new(&key(7)).unwrap()),
            connection: ConnectionId::parse("a").unwrap(),
        };
        assert!(tokens.load().await.unwrap().is_none());
        tokens.store(SecretString::from("refresh-1")).await.unwrap();
        tokens.store(SecretString::from("refresh-2")).await.unwrap();
        let stored = kept.0.lock().await.clone();
        assert_eq!(stored.len(), 1);
        assert!(!String::from_utf8_lossy(&stored[0].1.ciphertext).contains("refresh-2"));
        assert_eq!(
            tokens.load().await.unwrap().unwrap().expose_secret(),
            "refresh-2"
        );
    }
}
