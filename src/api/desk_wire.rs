//! What the service-desk change routes send and receive: licence write-back and groups as ticket
//! followers (see [`super::wire`] for why wire types are kept apart from the store's rows).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::LicenceEntry;
use crate::service::{
    CopyKind, FollowMode, FollowOutcome, Follower, GroupChoice, LicenceWritten, Skipped,
    TicketFollower,
};

/// `POST /api/connections/{id}/users/{user}/licences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The licence: its SKU id or part number (`SPE_E3`).
    pub sku: String,
}

/// The answer to a licence assignment or removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenceDone {
    /// The user record.
    pub user_id: i64,
    /// The licence.
    pub licence: LicenceEntry,
    /// Assigned (`true`) or removed.
    pub assigned: bool,
    /// The user's licences now.
    pub licences: Vec<LicenceEntry>,
}

impl From<LicenceWritten> for LicenceDone {
    fn from(w: LicenceWritten) -> Self {
        LicenceDone {
            user_id: w.user_id,
            licence: w.licence.into(),
            assigned: w.assigned,
            licences: w.licences.into_iter().map(Into::into).collect(),
        }
    }
}

/// How a group joins a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One follower, the group's address: membership stays live in Exchange; grants no access.
    Address,
    /// One follower per person (a snapshot), capped by `max_members`.
    Expanded,
}

/// CC or BCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Copy {
    /// Carbon copy.
    #[default]
    Cc,
    /// Blind carbon copy.
    Bcc,
}

/// `POST …/tickets/{ticket}/followers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowBody {
    /// The group's Entra object id.
    pub group: String,
    /// `address` or `expanded`.
    pub mode: Mode,
    /// `cc` (the default) or `bcc`.
    #[serde(default)]
    pub copy: Copy,
}

impl From<Mode> for FollowMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Address => FollowMode::Address,
            Mode::Expanded => FollowMode::Expanded,
        }
    }
}

impl From<Copy> for CopyKind {
    fn from(copy: Copy) -> Self {
        match copy {
            Copy::Cc => CopyKind::Cc,
            Copy::Bcc => CopyKind::Bcc,
        }
    }
}

/// A follower added.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowerEntry {
    /// The linked user record, if any.
    pub user_id: Option<i64>,
    /// The linked agent record, if any.
    pub agent_id: Option<i64>,
    /// The address, when the follower is no record.
    pub email: Option<String>,
    /// `cc` or `bcc`.
    pub copy: Copy,
    /// The group it was expanded from.
    pub from_group: Option<String>,
}

impl From<TicketFollower> for FollowerEntry {
    fn from(f: TicketFollower) -> Self {
        let (user_id, agent_id, email) = match f.follower {
            Follower::User(id) => (Some(id), None, None),
            Follower::Agent(id) => (None, Some(id), None),
            Follower::Email(mail) => (None, None, Some(mail)),
        };
        FollowerEntry {
            user_id,
            agent_id,
            email,
            copy: match f.copy {
                CopyKind::Cc => Copy::Cc,
                CopyKind::Bcc => Copy::Bcc,
            },
            from_group: f.from_group,
        }
    }
}

/// A person an expansion left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEntry {
    /// Their Entra object id (or the follower already on the ticket).
    pub id: String,
    /// Their name.
    pub display_name: Option<String>,
    /// Why.
    pub reason: String,
}

impl From<Skipped> for SkippedEntry {
    fn from(s: Skipped) -> Self {
        SkippedEntry {
            id: s.id,
            display_name: s.display_name,
            reason: s.reason,
        }
    }
}

/// The answer to adding a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Followed {
    /// The group's Entra object id.
    pub group: String,
    /// Its name.
    pub display_name: Option<String>,
    /// How it was added.
    pub mode: Mode,
    /// An expansion is a snapshot of the group's membership.
    pub snapshot: bool,
    /// What that means for the ticket.
    pub note: String,
    /// The followers added.
    pub added: Vec<FollowerEntry>,
    /// The people left out.
    pub skipped: Vec<SkippedEntry>,
}

impl From<FollowOutcome> for Followed {
    fn from(o: FollowOutcome) -> Self {
        Followed {
            group: o.group.id,
            display_name: o.group.display_name,
            mode: match o.mode {
                FollowMode::Address => Mode::Address,
                FollowMode::Expanded => Mode::Expanded,
            },
            snapshot: o.mode == FollowMode::Expanded,
            note: o.note,
            added: o.added.into_iter().map(Into::into).collect(),
            skipped: o.skipped.into_iter().map(Into::into).collect(),
        }
    }
}

/// A group the picker offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupEntry {
    /// Its Entra object id.
    pub id: String,
    /// Its name.
    pub display_name: Option<String>,
    /// Its address.
    pub mail: Option<String>,
    /// The connection's mappings track it.
    pub tracked: bool,
}

impl From<GroupChoice> for GroupEntry {
    fn from(g: GroupChoice) -> Self {
        GroupEntry {
            id: g.id,
            display_name: g.display_name,
            mail: g.mail,
            tracked: g.tracked,
        }
    }
}

/// `GET /api/connections/{id}/followers/groups`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    /// Mail-enabled groups, by name.
    pub groups: Vec<GroupEntry>,
}
