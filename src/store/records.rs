//! Rows of the service-desk model as the rest of the daemon sees them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a role, team or CAB membership came from: the sync manages only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Granted by the sync from an Entra group.
    Entra,
    /// Granted by a person in the service desk.
    Manual,
}

impl Source {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Entra => "entra",
            Source::Manual => "manual",
        }
    }

    pub(crate) fn parse(raw: &str) -> Source {
        if raw == "entra" {
            Source::Entra
        } else {
            Source::Manual
        }
    }
}

/// Agent licence type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceType {
    /// Named licence.
    Named,
    /// Concurrent licence.
    Concurrent,
}

impl LicenceType {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceType::Named => "named",
            LicenceType::Concurrent => "concurrent",
        }
    }

    pub(crate) fn parse(raw: &str) -> LicenceType {
        if raw == "named" {
            LicenceType::Named
        } else {
            LicenceType::Concurrent
        }
    }
}

/// The reference data present in the database (what `[halo]` ensured plus mapping-made sites).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// Client names.
    pub clients: Vec<String>,
    /// `(client, site)` names.
    pub sites: Vec<(String, String)>,
    /// User role names.
    pub user_roles: Vec<String>,
    /// Agent role names.
    pub agent_roles: Vec<String>,
    /// Team names.
    pub teams: Vec<String>,
    /// CAB name → CAB role names.
    pub cabs: BTreeMap<String, Vec<String>>,
    /// Custom field names.
    pub custom_fields: Vec<String>,
}

/// How many reference rows `ensure_reference` created (all zero when nothing was missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReferenceReport {
    /// Rows inserted, all kinds together.
    pub created: u64,
}

/// A connection's row, written from the config at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    /// Stable key.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tenant GUID.
    pub tenant_id: String,
    /// Application GUID.
    pub client_id: String,
}

/// Where a synced record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntraLink {
    /// Connection id.
    pub connection_id: String,
    /// Entra object id.
    pub entra_id: String,
}

/// The mapped fields of an end user (the Halo user fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserFields {
    /// Display name.
    pub name: String,
    /// First name.
    pub firstname: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Email address.
    pub emailaddress: Option<String>,
    /// Login (UPN).
    pub login: Option<String>,
    /// Phone.
    pub phonenumber: Option<String>,
    /// Mobile.
    pub mobilenumber: Option<String>,
    /// Job title.
    pub jobtitle: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Employee number.
    pub employee_number: Option<String>,
    /// Manager (name).
    pub manager: Option<String>,
    /// How the record was created.
    pub creationtype: Option<String>,
    /// Last sign-in (ISO 8601 as Entra gives it).
    pub last_sign_in: Option<String>,
}

/// A new end user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// `(client, site)` the user belongs to.
    pub site: Option<(String, String)>,
    /// Mapped fields.
    pub fields: UserFields,
    /// Custom field values by declared name.
    pub custom_fields: BTreeMap<String, String>,
    /// Synced from Entra, or created by hand when `None`.
    pub entra: Option<EntraLink>,
    /// Never deactivated or reactivated by the sync.
    pub keep_active: bool,
}

/// An end user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    /// Row id.
    pub id: i64,
    /// `(client, site)`.
    pub site: Option<(String, String)>,
    /// Mapped fields.
    pub fields: UserFields,
    /// Custom field values.
    pub custom_fields: BTreeMap<String, String>,
    /// Inactive flag.
    pub inactive: bool,
    /// Why inactive (`entra` when the sync did it).
    pub inactive_reason: Option<String>,
    /// Keep-active override.
    pub keep_active: bool,
    /// Entra link.
    pub entra: Option<EntraLink>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last written.
    pub updated_at: DateTime<Utc>,
}

/// A new agent, linked to an existing user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    /// The user record the agent is.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub emailaddress: Option<String>,
    /// Phone.
    pub phonenumber: Option<String>,
    /// Job title.
    pub jobtitle: Option<String>,
    /// Line manager (another agent).
    pub linemanager_id: Option<i64>,
    /// Default team name.
    pub default_team: Option<String>,
    /// Named or concurrent.
    pub licence_type: LicenceType,
    /// How the record was created.
    pub creationtype: Option<String>,
    /// The *can configure Entra* permission: such an agent manages every connection.
    pub can_configure_entra: bool,
    /// Synced from Entra, or created by hand.
    pub entra: Option<EntraLink>,
    /// Keep-active override.
    pub keep_active: bool,
}

/// An agent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Row id.
    pub id: i64,
    /// Linked user record.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub emailaddress: Option<String>,
    /// Phone.
    pub phonenumber: Option<String>,
    /// Job title.
    pub jobtitle: Option<String>,
    /// Line manager agent id.
    pub linemanager_id: Option<i64>,
    /// Default team name.
    pub default_team: Option<String>,
    /// Named or concurrent.
    pub licence_type: LicenceType,
    /// How the record was created.
    pub creationtype: Option<String>,
    /// Inactive flag.
    pub inactive: bool,
    /// Why inactive.
    pub inactive_reason: Option<String>,
    /// Keep-active override.
    pub keep_active: bool,
    /// *Can configure Entra*.
    pub can_configure_entra: bool,
    /// Entra link.
    pub entra: Option<EntraLink>,
}

/// A role held by a user or agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RoleGrant {
    /// Role name.
    pub role: String,
    /// Who granted it.
    pub source: Source,
}

/// Who holds a role or sits on a CAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Person {
    /// An end user (row id).
    User(i64),
    /// An agent (row id).
    Agent(i64),
}

/// The three flags of a team membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TeamFlags {
    /// Can be assigned the team's tickets.
    pub can_be_assigned: bool,
    /// Sees the team's unassigned tickets.
    pub sees_unassigned: bool,
    /// Sees tickets of the team's other agents.
    pub sees_other_agents: bool,
}

/// An agent's membership of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamMembership {
    /// Team name.
    pub team: String,
    /// Flags.
    pub flags: TeamFlags,
    /// Who granted it.
    pub source: Source,
}

/// A CAB member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CabMember {
    /// The member.
    pub person: Person,
    /// CAB role name.
    pub cab_role: Option<String>,
    /// Who added them.
    pub source: Source,
}

/// A licence imported from an Entra SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Licence {
    /// Client the licence belongs to.
    pub client: String,
    /// Connection it came from.
    pub connection_id: Option<String>,
    /// Entra SKU id.
    pub sku_id: String,
    /// SKU part number (e.g. `ENTERPRISEPACK`).
    pub part_number: String,
    /// Display name.
    pub display_name: String,
    /// Enabled units (`prepaidUnits.enabled`).
    pub enabled_units: i64,
    /// Units in their grace period after the subscription lapsed (`prepaidUnits.warning`).
    pub warning_units: i64,
    /// Suspended units, no longer usable (`prepaidUnits.suspended`).
    pub suspended_units: i64,
    /// Consumed units.
    pub consumed_units: i64,
    /// `capabilityStatus`: `Enabled`, `Warning`, `Suspended`, `Deleted` or `LockedOut`.
    pub capability_status: String,
    /// When the tenant stopped listing the SKU (set by the store; ignored on writes).
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// Ticket status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

impl TicketStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
        }
    }
}

/// A ticket (minimal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// Row id (0 for a new ticket).
    pub id: i64,
    /// Summary.
    pub summary: String,
    /// Status.
    pub status: TicketStatus,
    /// Assigned agent.
    pub agent_id: Option<i64>,
    /// Team name.
    pub team: Option<String>,
}

/// Who follows a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Follower {
    /// A user record.
    User(i64),
    /// An agent record.
    Agent(i64),
    /// A bare address (e.g. a distribution group's).
    Email(String),
}

impl Follower {
    /// Its `ticket_followers` columns: `(user_id, agent_id, email)`, exactly one set.
    pub(crate) fn columns(&self) -> (Option<i64>, Option<i64>, Option<&str>) {
        match self {
            Follower::User(id) => (Some(*id), None, None),
            Follower::Agent(id) => (None, Some(*id), None),
            Follower::Email(email) => (None, None, Some(email.as_str())),
        }
    }
}

/// CC or BCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyKind {
    /// Carbon copy.
    Cc,
    /// Blind carbon copy.
    Bcc,
}

impl CopyKind {
    /// Its `ticket_followers.copy` text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CopyKind::Cc => "cc",
            CopyKind::Bcc => "bcc",
        }
    }
}

/// A ticket follower row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFollower {
    /// Who.
    pub follower: Follower,
    /// CC or BCC.
    pub copy: CopyKind,
    /// The distribution group this follower was expanded from (a snapshot), if any.
    pub from_group: Option<String>,
}

/// A delegated refresh token as stored: AES-256-GCM ciphertext, its nonce and the key's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedToken {
    /// Ciphertext with the authentication tag.
    pub ciphertext: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Which key sealed it.
    pub key_id: String,
}
