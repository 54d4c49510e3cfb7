//! The plan for one person, which drives preview, manual import and the daemon alike: desired records, the mappings that matched, and
//! why a person is out of scope. It drives preview, manual import and the daemon alike, and is
//! stored in the inbound log, so it serialises with a stable order.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::catalogue::HaloField;
use crate::mapping::TeamFlags;
use crate::reference::Site;
use crate::spec::ExternalUsers;

/// What the mapping wants for one Entra person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The person's Entra object id.
    pub entra_id: Arc<str>,
    /// The end-user record, placed by the first matching non-agent site mapping.
    pub user: Scope<DesiredUser>,
    /// The agent record, placed by the first matching `*agent*` site mapping (evaluated
    /// separately, so a person can be both).
    pub agent: Scope<DesiredAgent>,
    /// Things worth logging that did not stop the plan (a manager not imported as an agent yet,
    /// a `team` value naming no team).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// In scope with a desired record, or out of scope with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope<T> {
    /// A site mapping matched.
    In(T),
    /// No site mapping matched.
    Out(OutOfScope),
}

impl<T> Scope<T> {
    /// The desired record when in scope.
    pub fn desired(&self) -> Option<&T> {
        match self {
            Scope::In(desired) => Some(desired),
            Scope::Out(_) => None,
        }
    }
}

/// A site mapping, as previews and the inbound log name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MappingRef {
    /// Its `sequence`.
    pub sequence: u32,
    /// Its `name`, or a label derived from its kind (`site "Head Office"`).
    pub name: Arc<str>,
}

impl fmt::Display for MappingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mapping {}", self.sequence)
    }
}

/// Why something is granted: which rule of the config produced it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The matched site mapping's `user_role`, by sequence.
    SiteMapping(u32),
    /// A group → role/team/CAB mapping, by group display name.
    Group(Arc<str>),
    /// `roles.role_for_users_without_manager`.
    WithoutManager,
    /// The agent `team` field mapping.
    TeamField,
}

/// A desired team membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamGrant {
    /// The membership's flags.
    #[serde(flatten)]
    pub flags: TeamFlags,
    /// Where it comes from.
    pub via: Via,
}

/// A desired CAB membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CabGrant {
    /// The CAB role, if the mapping gives one.
    pub cab_role: Option<Arc<str>>,
    /// The group that grants it.
    pub via: Via,
}

/// Why a desired record is inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveReason {
    /// `accountEnabled = false`.
    AccountDisabled,
    /// The agent holds one of `agent_licences.inactive_roles`.
    InactiveRole(Arc<str>),
    /// Full role management and no mapped agent role.
    NoMappedRole,
}

impl fmt::Display for InactiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InactiveReason::AccountDisabled => f.write_str("account disabled in Entra"),
            InactiveReason::InactiveRole(role) => write!(f, "holds inactive role \"{role}\""),
            InactiveReason::NoMappedRole => {
                f.write_str("no mapped agent role under full role management")
            }
        }
    }
}

/// An agent licence type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceType {
    /// Named licence.
    Named,
    /// Concurrent licence.
    Concurrent,
}

/// Desired Halo field values: `Some` sets, `None` clears, a missing key leaves the field as it is
/// (`empty_values = keep`, or an unresolved `team`).
pub type Fields = BTreeMap<HaloField, Option<Arc<str>>>;

/// The end-user record a plan wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredUser {
    /// The site mapping that placed the person.
    pub mapping: MappingRef,
    /// The site.
    pub site: Site,
    /// The site comes from `organisation_by_field`: create it under its client if missing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_site: bool,
    /// Field values.
    pub fields: Fields,
    /// Field values written only when the record is created (a dropped `name` default).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub create_fields: Fields,
    /// User roles with why each is granted.
    pub roles: BTreeMap<Arc<str>, Via>,
    /// CAB memberships (on the user record only when the person is not an agent).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cabs: BTreeMap<Arc<str>, CabGrant>,
    /// Why the record should be inactive; `None` = active.
    pub inactive: Option<InactiveReason>,
}

/// The agent record a plan wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredAgent {
    /// The `*agent*` site mapping that matched.
    pub mapping: MappingRef,
    /// Field values.
    pub fields: Fields,
    /// Field values written only when the record is created (a dropped `name` default).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub create_fields: Fields,
    /// Agent roles with why each is granted.
    pub roles: BTreeMap<Arc<str>, Via>,
    /// Team memberships with their flags.
    pub teams: BTreeMap<Arc<str>, TeamGrant>,
    /// CAB memberships.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cabs: BTreeMap<Arc<str>, CabGrant>,
    /// The licence type; `None` = no change (new agents get concurrent).
    pub licence: Option<LicenceType>,
    /// Why the record should be inactive; `None` = active.
    pub inactive: Option<InactiveReason>,
}

/// Why one site mapping did not place the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// There is no site mapping of this kind (`site mapping` / `*agent* mapping`).
    NoMappings(&'static str),
    /// A guest refused by the mapping's external-user policy.
    Guest(MappingRef, ExternalUsers),
    /// Not a member of the mapping's group.
    NotInGroup(MappingRef, Arc<str>),
    /// A `where` row failed (its description, e.g. `country eq "GB"`).
    Filter(MappingRef, Arc<str>),
    /// `organisation_by_field` with an empty attribute: falls through to the next mapping.
    EmptySiteName(MappingRef, String),
    /// `site_by_field` found no site and `no_match = skip`.
    NoSite(MappingRef, String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NoMappings(what) => write!(f, "no {what} is configured"),
            Miss::Guest(mapping, ExternalUsers::LicensedOnly) => {
                write!(f, "guest without licence; licensed_only on {mapping}")
            }
            Miss::Guest(mapping, _) => write!(f, "guest; external users excluded on {mapping}"),
            Miss::NotInGroup(mapping, group) => {
                write!(f, "not a member of \"{group}\" on {mapping}")
            }
            Miss::Filter(mapping, filter) => write!(f, "where {filter} not met on {mapping}"),
            Miss::EmptySiteName(mapping, attribute) => {
                write!(f, "{attribute} is empty on {mapping}")
            }
            Miss::NoSite(mapping, looked_for) => {
                write!(f, "no site with {looked_for}; no_match = skip on {mapping}")
            }
        }
    }
}

/// Why a person is out of scope: what each site mapping, in sequence, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfScope {
    /// One miss per mapping tried.
    pub misses: Vec<Miss>,
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, miss) in self.misses.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{miss}")?;
        }
        Ok(())
    }
}

impl Serialize for OutOfScope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("OutOfScope", 1)?;
        out.serialize_field("reason", &self.to_string())?;
        out.end()
    }
}
