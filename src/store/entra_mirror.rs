//! The Entra mirror half of the store: each connection's delta chains, the users and groups
//! Graph last reported, their group memberships, and the pending marks that say whom the next
//! evaluation must look at.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::ids::{ConnectionId, EntraId};
use crate::mirror::{GroupDelta, MirrorUser, Notification};

/// One delta chain's state: its checkpoint (`next_link`) while a round is under way, and the
/// link of the next round once it completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaState {
    /// Connection id.
    pub connection_id: ConnectionId,
    /// `users` or `groups:<n>`.
    pub chain: String,
    /// Hash of the `$select`/`$filter` the chain was created with.
    pub fingerprint: String,
    /// The next round's link, once a round completed.
    pub delta_link: Option<String>,
    /// The next page of the round under way.
    pub next_link: Option<String>,
    /// The run that started the round under way (or the last one).
    pub round_id: Option<i64>,
    /// Whether that round is an initial (full) one.
    pub round_initial: bool,
}

/// Whom a groups commit marks pending ([`EntraMirror::commit_groups_page`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberMarks {
    /// Everyone whose memberships the commit changes.
    Changed,
    /// Only the people a reset or a removal takes out of a group. The chain's other members
    /// are marked together once every group is in ([`EntraMirror::mark_group_members`]): a
    /// group-by-group initial read would otherwise mark the same people once per group, in
    /// concurrent transactions that wait on each other's marks.
    Later,
}

/// Which mirrored users a [`EntraMirror::mirror_page`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorScope {
    /// Those awaiting evaluation.
    Pending,
    /// Everyone a remap evaluates: present in Entra, or awaiting evaluation.
    Evaluable,
    /// Everyone, removed people included.
    All,
}

/// The Entra mirror. Every method is one transaction.
#[async_trait]
pub trait EntraMirror: Send + Sync + std::fmt::Debug {
    /// A chain's delta state.
    async fn delta_state(
        &self,
        connection_id: &ConnectionId,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError>;

    /// Writes a chain's state on its own (round start, reset to latest).
    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets every chain of a connection (the next run is a full one); returns how many.
    async fn clear_delta_states(&self, connection_id: &ConnectionId) -> Result<u64, StoreError>;

    /// The mirrored users among `ids`.
    async fn mirror_users(
        &self,
        connection_id: &ConnectionId,
        ids: &[EntraId],
    ) -> Result<Vec<MirrorUser>, StoreError>;

    /// One users page: merged people (with the notification each awaits, if any), marked seen
    /// by `round`, and the chain's checkpoint — in one transaction.
    async fn commit_users_page(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// After a complete initial round: everyone mirrored and present but not seen by `round` is
    /// marked missing and pending. Returns how many.
    async fn mark_missing(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// One groups page: group names, membership changes (an initial round first clears the
    /// memberships of `reset_groups`), pending marks for the members affected (as `marks`
    /// says), and the chain's checkpoint — in one transaction.
    async fn commit_groups_page(
        &self,
        connection_id: &ConnectionId,
        reset_groups: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks every mirrored, present member of `groups` pending (members of their member
    /// groups too), and saves the chain's checkpoint — in one transaction.
    async fn mark_group_members(
        &self,
        connection_id: &ConnectionId,
        groups: &[String],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every membership row of the connection: (group id, member id, member type).
    async fn memberships(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// Mirrored groups: id → display name.
    async fn mirror_groups(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<BTreeMap<String, String>, StoreError>;

    /// Up to `limit` mirrored users after `after` (by Entra id) in `scope`, with their pending
    /// notification if they have one.
    async fn mirror_page(
        &self,
        connection_id: &ConnectionId,
        after: &str,
        limit: u32,
        scope: MirrorScope,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError>;

    /// Every group-in-group membership (for nested groups).
    async fn group_links(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError>;

    /// The memberships of these people (user members): `(group, member, "user")`.
    async fn memberships_for(
        &self,
        connection_id: &ConnectionId,
        member_ids: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError>;
}
