//! The status page's sign-in sessions and their CSRF tokens.
//!
//! - **Sessions.** Signing in presents an API key once; the page then holds a session id
//!   (`ess_` and 43 characters of URL-safe base64, 32 random bytes) in a cookie. The database
//!   keeps only the id's SHA-256 digest and the key it acts as, so every request is the key's
//!   [`Caller`] as it is now: a revoked or expired key ends its sessions, a changed grant shows at
//!   once. A session lasts [`SESSION_HOURS`], never past its key's expiry.
//! - **CSRF.** Every form that changes something carries [`csrf_token`] of the session: a digest
//!   of the session id under its own label, so it names this session only, cannot be derived from
//!   the stored digest, and is checked in constant time ([`csrf_matches`]). The sign-in form,
//!   before any session, carries a [`sign_in_token`] that a cookie of its own must match.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Caller, Service, ServiceError};
use crate::store::NewPageSession;

/// What every session id starts with.
const SESSION_PREFIX: &str = "ess_";
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 8;
/// The label a CSRF token's digest is taken under, so it is no other digest of the id.
const CSRF_LABEL: &[u8] = b"entra-sync status page csrf\n";

/// A session just opened: the only time its id exists outside the browser.
#[derive(Debug)]
pub struct OpenedSession {
    /// The session id, for the cookie.
    pub id: SecretString,
    /// Who signed in.
    pub caller: Caller,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A session presented again, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSession {
    /// Who it acts as, as the key's grants are now.
    pub caller: Caller,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The digest the database keeps of a session id.
fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A fresh token for the sign-in form, which has no session yet to bind a token to: the form
/// carries it and a cookie holds it, so only a form this server handed out signs in.
pub fn sign_in_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(hex::encode(bytes))
}

/// Whether two tokens are the same (compared in constant time).
pub fn tokens_match(one: &str, other: &str) -> bool {
    one.as_bytes().ct_eq(other.as_bytes()).into()
}

/// The CSRF token of the session `id`: what its forms carry.
pub fn csrf_token(id: &SecretString) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CSRF_LABEL);
    hasher.update(id.expose_secret().as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `token` is the CSRF token of the session `id` (compared in constant time).
pub fn csrf_matches(id: &SecretString, token: &str) -> bool {
    tokens_match(&csrf_token(id), token)
}

impl Service {
    /// The service's time now (what pages measure "3 min ago" from).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Signs in to the status page with an API key: a new session acting as that key.
    pub async fn open_page_session(
        &self,
        key: &SecretString,
    ) -> Result<OpenedSession, ServiceError> {
        let caller = self.authenticate(key).await?;
        let now = self.clock.now();
        let key_expiry = self
            .store
            .api_keys()
            .await?
            .into_iter()
            .find(|k| k.id == caller.key_id())
            .and_then(|k| k.expires_at);
        let lasts = now + chrono::Duration::hours(SESSION_HOURS);
        let expires_at = key_expiry.map_or(lasts, |at| at.min(lasts));
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = format!(
            "{SESSION_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        self.store
            .create_page_session(
                &NewPageSession {
                    digest: digest(&id),
                    key_id: caller.key_id(),
                    expires_at,
                },
                now,
            )
            .await
            .map_err(ServiceError::database("recording the session"))?;
        Ok(OpenedSession {
            id: SecretString::from(id),
            caller,
            expires_at,
        })
    }

    /// The session `id` presents, or why it no longer works.
    pub async fn page_session(&self, id: &SecretString) -> Result<PageSession, ServiceError> {
        let refused = |why: &str| Err(ServiceError::Unauthenticated(why.to_owned()));
        let id = id.expose_secret();
        if !id.starts_with(SESSION_PREFIX) || id.len() != SESSION_PREFIX.len() + 43 {
            return refused("not a session of this server");
        }
        let Some(row) = self.store.page_session(&digest(id)).await? else {
            return refused("the session has ended");
        };
        if row.expires_at <= self.clock.now() {
            return refused("the session has expired");
        }
        Ok(PageSession {
            caller: self.caller_of_key(row.key_id).await?,
            expires_at: row.expires_at,
        })
    }

    /// Signs out: the session `id` stops working.
    pub async fn close_page_session(&self, id: &SecretString) -> Result<(), ServiceError> {
        self.store
            .end_page_session(&digest(id.expose_secret()))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn a_csrf_token_names_one_session_and_is_not_its_stored_digest() {
        let one = id("ess_0123456789012345678901234567890123456789012");
        let other = id("ess_2109876543210987654321098765432109876543210");
        let token = csrf_token(&one);
        assert!(csrf_matches(&one, &token));
        assert!(!csrf_matches(&other, &token));
        assert!(!csrf_matches(&one, ""));
        assert!(!csrf_matches(&one, &token[..63]));
        assert_ne!(token, digest(one.expose_secret()));
        assert_eq!(token.len(), 64);
    }
}
