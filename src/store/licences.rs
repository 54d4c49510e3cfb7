//! The tenant's licences (Graph's subscribed SKUs) and users' links to them. A SKU the tenant no
//! longer subscribes to is marked (`unsubscribed_at`), never deleted: its links and history stay.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{InboundRow, Licence, StoreError};

/// An imported user, as licence write-back needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// The user record.
    pub id: i64,
    /// The Entra object id.
    pub entra_id: String,
    /// Their user principal name (or login), for the inbound log.
    pub upn: Option<String>,
}

/// A licence Graph assigned or removed, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceChange<'a> {
    /// The user record.
    pub user_id: i64,
    /// The connection whose licence it is.
    pub connection_id: &'a str,
    /// The licence's SKU id.
    pub sku_id: &'a str,
    /// Assigned (linked) or removed (unlinked).
    pub assigned: bool,
    /// The inbound-log row that records it.
    pub log: &'a InboundRow,
}

/// Licences. Every method is one transaction.
#[async_trait]
pub trait Licences: Send + Sync + std::fmt::Debug {
    /// Creates or updates a licence (keyed by client and SKU id), subscribed again if it was
    /// marked; returns its id.
    async fn upsert_licence(
        &self,
        licence: &Licence,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Marks the licences of `client` from `connection_id` whose SKU id is not in `subscribed`
    /// as no longer subscribed (once: a marked one keeps its first date); returns how many it
    /// marked.
    async fn mark_unsubscribed(
        &self,
        client: &str,
        connection_id: &str,
        subscribed: &[String],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The licences imported by `connection_id`, sorted by SKU id.
    async fn licences(&self, connection_id: &str) -> Result<Vec<Licence>, StoreError>;

    /// Links a user to a licence (idempotent).
    async fn link_user_licence(&self, user_id: i64, licence_id: i64) -> Result<(), StoreError>;

    /// The licences a user is linked to, sorted by SKU id.
    async fn user_licences(&self, user_id: i64) -> Result<Vec<Licence>, StoreError>;

    /// The user record the Entra id `entra_id` has on `connection_id`, if any.
    async fn imported_user(
        &self,
        connection_id: &str,
        entra_id: &str,
    ) -> Result<Option<ImportedUser>, StoreError>;

    /// Links or unlinks the user and the licence, and writes the change's log row, together
    /// ([`StoreError::NotFound`] when the connection imported no such licence).
    async fn record_licence_change(&self, change: &LicenceChange<'_>) -> Result<(), StoreError>;
}
