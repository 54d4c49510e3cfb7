//! The status page's sign-in sessions. A session acts as the API key it was opened with; the
//! session id itself is never stored, only its digest, which the service layer computes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A session to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPageSession {
    /// The SHA-256 digest of the session id.
    pub digest: String,
    /// The API key the session acts as.
    pub key_id: i64,
    /// Refused from then on.
    pub expires_at: DateTime<Utc>,
}

/// A `page_sessions` row (without its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSessionRow {
    /// The API key the session acts as.
    pub key_id: i64,
    /// Opened then.
    pub created_at: DateTime<Utc>,
    /// Refused from then on.
    pub expires_at: DateTime<Utc>,
}

/// Status-page sessions. Every method is one transaction.
#[async_trait]
pub trait PageSessions: Send + Sync + std::fmt::Debug {
    /// Records a session opened at `now`, and forgets those expired before `now`.
    async fn create_page_session(
        &self,
        session: &NewPageSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The session with this digest, expired or not (the caller decides).
    async fn page_session(&self, digest: &str) -> Result<Option<PageSessionRow>, StoreError>;

    /// Forgets the session with this digest; `false` when there was none.
    async fn end_page_session(&self, digest: &str) -> Result<bool, StoreError>;
}
