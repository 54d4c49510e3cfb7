//! Distribution groups as ticket followers: the service-desk records of the people a group
//! reaches, a ticket's new followers written all or none, and the addresses the mirror keeps for
//! tracked groups.

use async_trait::async_trait;
use serde::Serialize;

use super::{StoreError, TicketFollower};

/// An imported person: the records one Entra id has on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    /// The Entra object id.
    pub entra_id: String,
    /// The user record, if any.
    pub user_id: Option<i64>,
    /// The agent record, if any.
    pub agent_id: Option<i64>,
}

/// A tracked group as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorGroupMail {
    /// The group's Entra id.
    pub entra_id: String,
    /// Its name.
    pub display_name: Option<String>,
    /// Its SMTP address.
    pub mail: Option<String>,
    /// Whether it is mail-enabled (`None` until a round said).
    pub mail_enabled: Option<bool>,
}

/// Followers. Every method is one transaction.
#[async_trait]
pub trait Followers: Send + Sync + std::fmt::Debug {
    /// The records the Entra ids `ids` have on `connection_id`; ids with none are left out.
    async fn imported_people(
        &self,
        connection_id: &str,
        ids: &[String],
    ) -> Result<Vec<ImportedPerson>, StoreError>;

    /// Adds `followers` to the ticket `ticket_id`, all or none ([`StoreError::NotFound`] when
    /// there is no such ticket).
    async fn add_followers(
        &self,
        ticket_id: i64,
        followers: &[TicketFollower],
    ) -> Result<(), StoreError>;

    /// The tracked groups of `connection_id` (not removed), by Entra id.
    async fn mirror_mail_groups(
        &self,
        connection_id: &str,
    ) -> Result<Vec<MirrorGroupMail>, StoreError>;
}
