//! The [`Access`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ObservedStore;
use crate::ids::ConnectionId;
use crate::store::{
    Access, AccessGrant, AgentAccess, ApiKeyRow, NewApiKey, NewSignIn, SignInRow, StoreError,
};
use crate::vocab::AccessLevel;

#[async_trait]
impl Access for ObservedStore {
    async fn create_api_key(&self, key: &NewApiKey, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.observed("create_api_key", self.inner.create_api_key(key, now))
            .await
    }
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        self.observed("api_keys", self.inner.api_keys()).await
    }
    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.observed("revoke_api_key", self.inner.revoke_api_key(id, now))
            .await
    }
    async fn use_api_key(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        self.observed("use_api_key", self.inner.use_api_key(digest, now))
            .await
    }
    async fn agent_by_email(&self, email: &str) -> Result<Option<(i64, bool)>, StoreError> {
        self.observed("agent_by_email", self.inner.agent_by_email(email))
            .await
    }
    async fn set_can_configure(&self, agent_id: i64, on: bool) -> Result<(), StoreError> {
        self.observed(
            "set_can_configure",
            self.inner.set_can_configure(agent_id, on),
        )
        .await
    }
    async fn agent_access(&self, agent_id: i64) -> Result<AgentAccess, StoreError> {
        self.observed("agent_access", self.inner.agent_access(agent_id))
            .await
    }
    async fn grant_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
        level: AccessLevel,
    ) -> Result<(), StoreError> {
        self.observed(
            "grant_access",
            self.inner.grant_access(connection, agent_id, level),
        )
        .await
    }
    async fn revoke_access(
        &self,
        connection: &ConnectionId,
        agent_id: i64,
    ) -> Result<bool, StoreError> {
        self.observed(
            "revoke_access",
            self.inner.revoke_access(connection, agent_id),
        )
        .await
    }
    async fn access_list(&self, connection: &ConnectionId) -> Result<Vec<AccessGrant>, StoreError> {
        self.observed("access_list", self.inner.access_list(connection))
            .await
    }
    async fn create_sign_in(
        &self,
        sign_in: &NewSignIn,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observed("create_sign_in", self.inner.create_sign_in(sign_in, now))
            .await
    }
    async fn use_sign_in(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SignInRow, bool)>, StoreError> {
        self.observed("use_sign_in", self.inner.use_sign_in(digest, now))
            .await
    }
    async fn finish_sign_in(&self, digest: &str, outcome: &str) -> Result<(), StoreError> {
        self.observed("finish_sign_in", self.inner.finish_sign_in(digest, outcome))
            .await
    }
    async fn sign_in(&self, digest: &str) -> Result<Option<SignInRow>, StoreError> {
        self.observed("sign_in", self.inner.sign_in(digest)).await
    }
}
