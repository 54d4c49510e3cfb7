//! Sealed refresh tokens in the database: the store-backed [`SealedTokens`] the composition root
//! gives delegated connections. It sits beside `auth` and `store` so that neither names the
//! other: auth seals and opens, the store keeps bytes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::{AuthError, SealedRefreshTokens, SealedToken, SealedTokens, TokenVault};
use crate::clock::Clock;
use crate::config::secret::TokenKey;
use crate::ids::ConnectionId;
use crate::store::{self, Store};

/// Sealed refresh tokens in the `delegated_tokens` table.
#[derive(Debug)]
pub struct StoredRefreshTokens {
    /// The database.
    pub store: Arc<dyn Store>,
    /// For `updated_at`.
    pub clock: Arc<dyn Clock>,
}

impl StoredRefreshTokens {
    /// Sealed tokens kept in `store`, stamped by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

/// The refresh tokens of `connection`: sealed under `key`, kept in `store`.
pub fn sealed_refresh_tokens(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    key: &TokenKey,
    connection: &ConnectionId,
) -> Result<SealedRefreshTokens, AuthError> {
    Ok(SealedRefreshTokens {
        sealed: Arc::new(StoredRefreshTokens::new(store, clock)),
        vault: Arc::new(TokenVault::new(key)?),
        connection: connection.clone(),
    })
}

#[async_trait]
impl SealedTokens for StoredRefreshTokens {
    async fn load(&self, connection: &ConnectionId) -> Result<Option<SealedToken>, AuthError> {
        let stored = self
            .store
            .delegated_token(connection)
            .await
            .map_err(|e| AuthError::Unavailable(format!("reading the refresh token: {e}")))?;
        Ok(stored.map(|s| SealedToken {
            ciphertext: s.ciphertext,
            nonce: s.nonce,
            key_id: s.key_id,
        }))
    }

    async fn save(&self, connection: &ConnectionId, sealed: &SealedToken) -> Result<(), AuthError> {
        let stored = store::SealedToken {
            ciphertext: sealed.ciphertext.clone(),
            nonce: sealed.nonce.clone(),
            key_id: sealed.key_id.clone(),
        };
        self.store
            .save_delegated_token(connection, &stored, self.clock.now())
            .await
            .map_err(|e| AuthError::Unavailable(format!("storing the rotated refresh token: {e}")))
    }
}
