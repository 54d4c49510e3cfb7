//! The [`Followers`] calls of an [`ObservedStore`], told to its observer like every other call.

use async_trait::async_trait;

use super::ObservedStore;
use crate::store::{Followers, ImportedPerson, MirrorGroupMail, StoreError, TicketFollower};

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
}
