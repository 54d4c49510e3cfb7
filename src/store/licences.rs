//! The tenant's licences (Graph's subscribed SKUs) and users' links to them. A SKU the tenant no
//! longer subscribes to is marked (`unsubscribed_at`), never deleted: its links and history stay.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Licence, StoreError};

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
}
