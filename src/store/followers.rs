//! Tickets and their followers: tickets and the people who follow them, distribution groups as
//! ticket followers (the service-desk records of the people a group reaches, a ticket's new
//! followers written all or none), and the addresses the mirror keeps for tracked groups.

use async_trait::async_trait;
use serde::Serialize;

use chrono::{DateTime, Utc};

use super::{StoreError, Ticket, TicketFollower};

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

/// Tickets and followers. Every method is one transaction.
#[async_trait]
pub trait Followers: Send + Sync + std::fmt::Debug {
    /// Inserts a ticket; returns its id.
    async fn insert_ticket(&self, ticket: &Ticket, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// A ticket by id.
    async fn ticket(&self, id: i64) -> Result<Ticket, StoreError>;

    /// Adds a follower to a ticket.
    async fn add_follower(
        &self,
        ticket_id: i64,
        follower: &TicketFollower,
    ) -> Result<(), StoreError>;

    /// A ticket's followers, in insertion order.
    async fn followers(&self, ticket_id: i64) -> Result<Vec<TicketFollower>, StoreError>;

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
