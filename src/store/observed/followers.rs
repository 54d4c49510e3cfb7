//! The [`Followers`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;

use super::ObservedStore;
use chrono::{DateTime, Utc};

use crate::store::{
    Followers, ImportedPerson, MirrorGroupMail, StoreError, Ticket, TicketFollower,
};

#[async_trait]
impl Followers for ObservedStore {
    async fn imported_people(
        &self,
        connection_id: &str,
        ids: &[String],
    ) -> Result<Vec<ImportedPerson>, StoreError> {
        self.observed(
            "imported_people",
            self.inner.imported_people(connection_id, ids),
        )
        .await
    }
    async fn add_followers(
        &self,
        ticket_id: i64,
        followers: &[TicketFollower],
    ) -> Result<(), StoreError> {
        self.observed(
            "add_followers",
            self.inner.add_followers(ticket_id, followers),
        )
        .await
    }
    async fn mirror_mail_groups(
        &self,
        connection_id: &str,
    ) -> Result<Vec<MirrorGroupMail>, StoreError> {
        self.observed(
            "mirror_mail_groups",
            self.inner.mirror_mail_groups(connection_id),
        )
        .await
    }
    async fn insert_ticket(&self, ticket: &Ticket, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.observed("insert_ticket", self.inner.insert_ticket(ticket, now))
            .await
    }
    async fn ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        self.observed("ticket", self.inner.ticket(id)).await
    }
    async fn add_follower(
        &self,
        ticket_id: i64,
        follower: &TicketFollower,
    ) -> Result<(), StoreError> {
        self.observed("add_follower", self.inner.add_follower(ticket_id, follower))
            .await
    }
    async fn followers(&self, ticket_id: i64) -> Result<Vec<TicketFollower>, StoreError> {
        self.observed("followers", self.inner.followers(ticket_id))
            .await
    }
}
