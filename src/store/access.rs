//! Who may use the admin API: API keys, agents' access to single connections, and the
//! can-configure permission that grants every connection.
//!
//! A key is stored only as its digest (`api_keys.hash`), which the service layer computes; the
//! store never sees a key, and a digest presented as a key digests to something else.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{SealedToken, StoreError};
use crate::ids::ConnectionId;
use crate::vocab::AccessLevel;

/// A key to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The agent the key acts as; `None` for an admin key.
    pub agent_id: Option<i64>,
    /// An admin key manages every connection and the access list.
    pub is_admin: bool,
    /// What listings show of the key.
    pub prefix: String,
    /// The key's digest.
    pub digest: String,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An `api_keys` row (without its digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRow {
    /// Row id.
    pub id: i64,
    /// The agent the key acts as.
    pub agent_id: Option<i64>,
    /// That agent's email.
    pub agent_email: Option<String>,
    /// An admin key.
    pub is_admin: bool,
    /// What listings show of the key.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Stops working then.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked then.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last presented then.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What an agent may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAccess {
    /// The agent has `can_configure_entra`: every connection, and the access list.
    pub can_configure: bool,
    /// Its grants, one per connection.
    pub grants: Vec<(ConnectionId, AccessLevel)>,
}

/// One agent's grant on a connection, as the access list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessGrant {
    /// The agent.
    pub agent_id: i64,
    /// Its email.
    pub agent_email: Option<String>,
    /// What it may do.
    pub level: AccessLevel,
}

/// A delegated sign-in under way, as recorded when its `/authorize` URL is handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignIn {
    /// The SHA-256 digest of the `state` sent to Entra (the state itself is never stored).
    pub digest: String,
    /// The connection being authorised.
    pub connection: ConnectionId,
    /// The API key that asked; `None` for the command line.
    pub key_id: Option<i64>,
    /// Who asked, for the records (`api key 7`, `cli`).
    pub caller: String,
    /// The connection's tenant and app when it was asked (a changed connection refuses the code).
    pub tenant_id: String,
    /// See `tenant_id`.
    pub client_id: String,
    /// Where Entra sends the code.
    pub redirect_uri: String,
    /// The PKCE verifier, sealed by the caller.
    pub verifier: SealedToken,
    /// Refused after this.
    pub expires_at: DateTime<Utc>,
}

/// A `sign_ins` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRow {
    /// What was recorded.
    pub sign_in: NewSignIn,
    /// Recorded then.
    pub created_at: DateTime<Utc>,
    /// Its callback came then (a second callback is a replay).
    pub used_at: Option<DateTime<Utc>>,
    /// `signed_in`, or why it failed, once the callback has run.
    pub outcome: Option<String>,
}

/// Keys and access. Every method is one transaction.
#[async_trait]
pub trait Access: Send + Sync + std::fmt::Debug {
    /// Records a key; returns its id.
    async fn create_api_key(&self, key: &NewApiKey, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// Every key, newest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError>;

    /// Revokes the key `id`; `false` when there is no such key or it was revoked already.
    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The key with this digest, its last use set to `now` (whether or not it may still be used:
    /// the caller decides). The last use is recorded to the minute: a key used less than a
    /// minute after its recorded last use keeps that one, so calls do not each write.
    async fn use_api_key(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, StoreError>;

    /// The agent record with this email (case-insensitive), and whether it can configure Entra.
    async fn agent_by_email(&self, email: &str) -> Result<Option<(i64, bool)>, StoreError>;

    /// Sets or clears an agent's `can_configure_entra`.
    async fn set_can_configure(&self, agent_id: i64, on: bool) -> Result<(), StoreError>;

    /// What the agent may reach.
    async fn agent_access(&self, agent_id: i64) -> Result<AgentAccess, StoreError>;

    /// Grants (or changes) an agent's access to a connection.
    async fn grant_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
        level: AccessLevel,
    ) -> Result<(), StoreError>;

    /// Removes an agent's access to a connection; `false` when it had none.
    async fn revoke_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
    ) -> Result<bool, StoreError>;

    /// The grants on a connection, by agent email.
    async fn access_list(&self, connection: &ConnectionId) -> Result<Vec<AccessGrant>, StoreError>;

    /// Records a sign-in under way, and forgets those that expired a day before `now`.
    async fn create_sign_in(
        &self,
        sign_in: &NewSignIn,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The sign-in with this digest, marked used at `now` if it was not: `Some((row, true))` for
    /// its first use (the row as it was before), `Some((row, false))` when it was used already.
    async fn use_sign_in(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SignInRow, bool)>, StoreError>;

    /// Records how a used sign-in ended.
    async fn finish_sign_in(&self, digest: &str, outcome: &str) -> Result<(), StoreError>;

    /// The sign-in with this digest, as it is now.
    async fn sign_in(&self, digest: &str) -> Result<Option<SignInRow>, StoreError>;
}
