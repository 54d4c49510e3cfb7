//! What a run writes: one person's record writes, the typed fields they change, and the batch
//! one [`Integration::apply`](super::Integration::apply) transaction writes.
//!
//! The sync names fields by [`UserField`] and [`AgentField`]; only the store knows their columns
//! (`column`, private to the store), so no SQL text or column name crosses the boundary.

use std::collections::BTreeMap;

use super::records::{LicenceType, TeamFlags};
use super::run_log::InboundRow;
use crate::ids::{ConnectionId, EntraId};

/// A user record's field the sync writes as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserField {
    /// Display name.
    Name,
    /// First name.
    Firstname,
    /// Surname.
    Surname,
    /// Email address.
    Emailaddress,
    /// Login.
    Login,
    /// Phone number.
    Phonenumber,
    /// Mobile number.
    Mobilenumber,
    /// Job title.
    Jobtitle,
    /// Department.
    Department,
    /// Employee number.
    EmployeeNumber,
    /// Manager's name.
    Manager,
    /// How the record was created.
    Creationtype,
    /// Last sign-in.
    LastSignIn,
}

impl UserField {
    /// Every field, in the order a new user row lists its columns.
    pub(super) const ALL: [UserField; 13] = [
        UserField::Name,
        UserField::Firstname,
        UserField::Surname,
        UserField::Emailaddress,
        UserField::Login,
        UserField::Phonenumber,
        UserField::Mobilenumber,
        UserField::Jobtitle,
        UserField::Department,
        UserField::EmployeeNumber,
        UserField::Manager,
        UserField::Creationtype,
        UserField::LastSignIn,
    ];

    /// The `users` column the field is stored in.
    pub(super) fn column(self) -> &'static str {
        match self {
            UserField::Name => "name",
            UserField::Firstname => "firstname",
            UserField::Surname => "surname",
            UserField::Emailaddress => "emailaddress",
            UserField::Login => "login",
            UserField::Phonenumber => "phonenumber",
            UserField::Mobilenumber => "mobilenumber",
            UserField::Jobtitle => "jobtitle",
            UserField::Department => "department",
            UserField::EmployeeNumber => "employee_number",
            UserField::Manager => "manager",
            UserField::Creationtype => "creationtype",
            UserField::LastSignIn => "last_sign_in",
        }
    }
}

/// An agent record's field the sync writes as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentField {
    /// Display name.
    Name,
    /// Email address.
    Emailaddress,
    /// Phone number.
    Phonenumber,
    /// Job title.
    Jobtitle,
    /// How the record was created.
    Creationtype,
}

impl AgentField {
    /// The `agents` column the field is stored in.
    pub(super) fn column(self) -> &'static str {
        match self {
            AgentField::Name => "name",
            AgentField::Emailaddress => "emailaddress",
            AgentField::Phonenumber => "phonenumber",
            AgentField::Jobtitle => "jobtitle",
            AgentField::Creationtype => "creationtype",
        }
    }
}

/// What to do with one record's Halo fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordWrite<T> {
    /// Create it.
    Create(T),
    /// Link an unlinked record (adoption by fallback matching), then apply `FieldWrites`.
    Adopt(i64),
    /// Update an existing one.
    Existing(i64),
}

/// Changes to a user record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserWrite {
    /// `Some(None)` clears the site.
    pub site: Option<Option<(String, String)>>,
    /// Changed fields and their new values (`None` clears).
    pub fields: Vec<(UserField, Option<String>)>,
    /// Changed custom fields (`None` removes).
    pub custom_fields: Vec<(String, Option<String>)>,
    /// `Some(true)`: deactivate (reason `entra`); `Some(false)`: reactivate.
    pub inactive: Option<bool>,
    /// Roles granted by the sync.
    pub roles_added: Vec<String>,
    /// Sync-granted roles removed.
    pub roles_removed: Vec<String>,
    /// CABs joined or re-roled: (CAB, CAB role).
    pub cabs_set: Vec<(String, Option<String>)>,
    /// CABs left.
    pub cabs_removed: Vec<String>,
    /// Licences (SKU ids) the user holds now, when licences are imported.
    pub licences: Option<Vec<String>>,
}

/// Changes to an agent record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentWrite {
    /// Changed fields and their new values (`None` clears).
    pub fields: Vec<(AgentField, Option<String>)>,
    /// `Some(Some(id))` sets the line manager to the agent linked to that Entra id.
    pub linemanager: Option<Option<String>>,
    /// `Some(Some(team))` sets the default team.
    pub default_team: Option<Option<String>>,
    /// New licence type.
    pub licence_type: Option<LicenceType>,
    /// `Some(true)`: deactivate; `Some(false)`: reactivate.
    pub inactive: Option<bool>,
    /// Unassign the agent's open tickets (when deactivated).
    pub unassign_tickets: bool,
    /// Roles granted by the sync.
    pub roles_added: Vec<String>,
    /// Roles removed (sync-granted, or any under full role management).
    pub roles_removed: Vec<String>,
    /// Teams joined or with changed flags.
    pub teams_set: Vec<(String, TeamFlags)>,
    /// Teams left.
    pub teams_removed: Vec<String>,
    /// CABs joined or re-roled.
    pub cabs_set: Vec<(String, Option<String>)>,
    /// CABs left.
    pub cabs_removed: Vec<String>,
}

/// All writes for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonWrite {
    /// Entra object id.
    pub entra_id: EntraId,
    /// The user record.
    pub user: Option<(RecordWrite<NewRecordUser>, UserWrite)>,
    /// The agent record (linked to the user record above, or to `user_id`).
    pub agent: Option<(RecordWrite<NewRecordAgent>, AgentWrite)>,
}

/// A user record to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecordUser {
    /// Name (required).
    pub name: String,
    /// Created inactive (e.g. a disabled account).
    pub inactive: bool,
}

/// An agent record to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecordAgent {
    /// Name (required).
    pub name: String,
    /// The existing user record to link, when the person's user record is not written here.
    pub user_id: Option<i64>,
    /// Created inactive.
    pub inactive: bool,
}

/// One transaction of a run: people's writes, their inbound-log rows, and the pending marks
/// they clear.
#[derive(Debug, Clone)]
pub struct ApplyBatch {
    /// Connection.
    pub connection_id: ConnectionId,
    /// Writes.
    pub people: Vec<PersonWrite>,
    /// Inbound-log rows.
    pub log: Vec<InboundRow>,
    /// Entra ids whose `pending` mark is cleared.
    pub evaluated: Vec<EntraId>,
    /// Sites to create first: (client, site).
    pub new_sites: Vec<(String, String)>,
}

impl ApplyBatch {
    /// A batch of `connection` with nothing in it yet.
    pub fn new(connection_id: ConnectionId) -> Self {
        Self {
            connection_id,
            people: Vec::new(),
            log: Vec::new(),
            evaluated: Vec::new(),
            new_sites: Vec::new(),
        }
    }
}

/// Ids assigned by an [`ApplyBatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Entra id → user row id, for records created or adopted.
    pub users: BTreeMap<EntraId, i64>,
    /// Entra id → agent row id.
    pub agents: BTreeMap<EntraId, i64>,
    /// Tickets unassigned: (ticket id, agent Entra id).
    pub unassigned_tickets: Vec<(i64, EntraId)>,
}
