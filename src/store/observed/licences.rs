//! The [`Licences`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ObservedStore;
use crate::store::{ImportedUser, Licence, LicenceChange, Licences, StoreError};

#[async_trait]
impl Licences for ObservedStore {
    async fn upsert_licence(
        &self,
        licence: &Licence,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.observed("upsert_licence", self.inner.upsert_licence(licence, now))
            .await
    }
    async fn mark_unsubscribed(
        &self,
        client: &str,
        connection_id: &str,
        subscribed: &[String],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.observed(
            "mark_unsubscribed",
            self.inner
                .mark_unsubscribed(client, connection_id, subscribed, now),
        )
        .await
    }
    async fn licences(&self, connection_id: &str) -> Result<Vec<Licence>, StoreError> {
        self.observed("licences", self.inner.licences(connection_id))
            .await
    }
    async fn link_user_licence(&self, user_id: i64, licence_id: i64) -> Result<(), StoreError> {
        self.observed(
            "link_user_licence",
            self.inner.link_user_licence(user_id, licence_id),
        )
        .await
    }
    async fn user_licences(&self, user_id: i64) -> Result<Vec<Licence>, StoreError> {
        self.observed("user_licences", self.inner.user_licences(user_id))
            .await
    }
    async fn imported_user(
        &self,
        connection_id: &str,
        entra_id: &str,
    ) -> Result<Option<ImportedUser>, StoreError> {
        self.observed(
            "imported_user",
            self.inner.imported_user(connection_id, entra_id),
        )
        .await
    }
    async fn record_licence_change(&self, change: &LicenceChange<'_>) -> Result<(), StoreError> {
        self.observed(
            "record_licence_change",
            self.inner.record_licence_change(change),
        )
        .await
    }
}
