//! The [`PageSessions`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ObservedStore;
use crate::store::{NewPageSession, PageSessionRow, PageSessions, StoreError};

#[async_trait]
impl PageSessions for ObservedStore {
    async fn create_page_session(
        &self,
        session: &NewPageSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "create_page_session",
            self.inner.create_page_session(session, now),
        )
        .await
    }
    async fn page_session(&self, digest: &str) -> Result<Option<PageSessionRow>, StoreError> {
        self.observed("page_session", self.inner.page_session(digest))
            .await
    }
    async fn end_page_session(&self, digest: &str) -> Result<bool, StoreError> {
        self.observed("end_page_session", self.inner.end_page_session(digest))
            .await
    }
}
