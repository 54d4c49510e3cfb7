//! The [`Schedule`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ObservedStore;
use crate::ids::ConnectionId;
use crate::store::{ConnectionHealth, Housekept, RunHistory, Schedule, StoreError, TakenTriggers};

#[async_trait]
impl Schedule for ObservedStore {
    async fn run_history(&self, connection: &ConnectionId) -> Result<RunHistory, StoreError> {
        self.observed("run_history", self.inner.run_history(connection))
            .await
    }
    async fn request_sync(
        &self,
        connection: &ConnectionId,
        full: bool,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.observed(
            "request_sync",
            self.inner.request_sync(connection, full, requested_by, now),
        )
        .await
    }
    async fn take_triggers(
        &self,
        connection: &ConnectionId,
    ) -> Result<Option<TakenTriggers>, StoreError> {
        self.observed("take_triggers", self.inner.take_triggers(connection))
            .await
    }
    async fn triggered(&self) -> Result<Vec<ConnectionId>, StoreError> {
        self.observed("triggered", self.inner.triggered()).await
    }
    async fn housekeep(
        &self,
        log_before: DateTime<Utc>,
        batch: u32,
        reason: &str,
        lease_grace: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Housekept, StoreError> {
        self.observed(
            "housekeep",
            self.inner
                .housekeep(log_before, batch, reason, lease_grace, now),
        )
        .await
    }
    async fn connection_health(
        &self,
        connection: &ConnectionId,
        lease: &str,
    ) -> Result<ConnectionHealth, StoreError> {
        self.observed(
            "connection_health",
            self.inner.connection_health(connection, lease),
        )
        .await
    }
    async fn set_credential_expiry(
        &self,
        connection: &ConnectionId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed(
            "set_credential_expiry",
            self.inner
                .set_credential_expiry(connection, expires_at, now),
        )
        .await
    }
    async fn set_needs_authorisation(
        &self,
        connection: &ConnectionId,
        needed: bool,
    ) -> Result<(), StoreError> {
        self.observed(
            "set_needs_authorisation",
            self.inner.set_needs_authorisation(connection, needed),
        )
        .await
    }
}
