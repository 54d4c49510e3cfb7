//! The compiled mapping: every name resolved, every regex built, groups indexed. Produced by
//! [`crate::compile`]; read by planning and by the daemon (what to select from Graph).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Attribute, HaloField, SYSTEM_ATTRIBUTES};
use crate::filter::Filter;
use crate::reference::Site;
use crate::spec::{AgentLicenceSpec, EmptyValues, ExternalUsers};

/// Index of a group display name in [`Mapping`]'s group table.
pub(crate) type GroupId = usize;

/// A mapping ready to plan people, built by [`crate::compile`].
#[derive(Debug, Clone)]
pub struct Mapping {
    pub(crate) user_fields: Vec<FieldRule>,
    pub(crate) agent_fields: Vec<FieldRule>,
    /// Written only when the sync creates the record: a dropped `name` default.
    pub(crate) user_create_fields: Vec<FieldRule>,
    /// As `user_create_fields`, for agents.
    pub(crate) agent_create_fields: Vec<FieldRule>,
    /// Site mappings placing users, in ascending sequence.
    pub(crate) user_mappings: Vec<SiteRule>,
    /// `*agent*` site mappings, in ascending sequence.
    pub(crate) agent_mappings: Vec<SiteRule>,
    pub(crate) user_roles: Vec<(GroupId, Arc<str>)>,
    pub(crate) agent_roles: Vec<(GroupId, Arc<str>)>,
    pub(crate) role_without_manager: Option<Arc<str>>,
    pub(crate) full_role_management: bool,
    pub(crate) teams: Vec<(GroupId, Arc<str>, TeamFlags)>,
    /// Flags of memberships granted by the agent `team` field.
    pub(crate) default_team_flags: TeamFlags,
    pub(crate) remove_agents_not_found: bool,
    pub(crate) cabs: Vec<(GroupId, Arc<str>, Option<Arc<str>>)>,
    pub(crate) licences: LicenceRules,
    pub(crate) nested_groups: bool,
    pub(crate) empty_values: EmptyValues,
    pub(crate) deactivate_disabled_users: bool,
    pub(crate) matching_fields: Vec<MatchingField>,
    /// Group display names, indexed by [`GroupId`].
    pub(crate) groups: Vec<Arc<str>>,
    pub(crate) group_ids: HashMap<Arc<str>, GroupId>,
    /// Attribute name → the key paths using it.
    pub(crate) attribute_uses: BTreeMap<String, (Attribute, Vec<String>)>,
}

/// A field mapping: the Entra attribute feeding a Halo field.
#[derive(Debug, Clone)]
pub(crate) struct FieldRule {
    pub(crate) field: HaloField,
    pub(crate) source: Attribute,
}

/// How a site mapping places the people it matches.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    /// kind `site`.
    Site(Site),
    /// kind `site` with `*agent*`.
    Agent,
    /// kind `organisation_by_field`.
    OrganisationByField {
        organisation: Arc<str>,
        site_from: Attribute,
    },
    /// kind `site_by_field`.
    SiteByField {
        site_field: Arc<str>,
        compared: Compared,
        default_site: Option<Site>,
    },
}

/// What a `site_by_field` mapping compares with the site field.
#[derive(Debug, Clone)]
pub(crate) enum Compared {
    /// `entra`: an Entra attribute's value.
    Entra(Attribute),
    /// `user_field`: the value the user field mappings give a Halo user field.
    UserField(HaloField),
}

/// A compiled site mapping.
#[derive(Debug, Clone)]
pub(crate) struct SiteRule {
    pub(crate) sequence: u32,
    pub(crate) name: Arc<str>,
    pub(crate) placement: Placement,
    pub(crate) user_role: Option<Arc<str>>,
    pub(crate) group: Option<GroupId>,
    pub(crate) external_users: ExternalUsers,
    pub(crate) filters: Vec<Filter>,
    pub(crate) set: Vec<(HaloField, Arc<str>)>,
    pub(crate) agent_licence: AgentLicenceSpec,
}

/// `[connection.agent_licences]`, resolved.
#[derive(Debug, Clone, Default)]
pub(crate) struct LicenceRules {
    pub(crate) enabled: bool,
    pub(crate) inactive_roles: Vec<Arc<str>>,
    pub(crate) named_licence_roles: Vec<Arc<str>>,
}

/// The three flags of a team membership: can be assigned, sees unassigned tickets of the team,
/// sees tickets of other agents of the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TeamFlags {
    /// Can be assigned the team's tickets.
    pub can_be_assigned: bool,
    /// Sees the team's unassigned tickets.
    pub sees_unassigned: bool,
    /// Sees tickets of the team's other agents.
    pub sees_other_agents: bool,
}

/// A fallback matching field, parsed from `sync.matching_fields`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchingField {
    /// `email`: the Halo `emailaddress`.
    Email,
    /// `upn`: the Halo `login`.
    Upn,
    /// `name`.
    Name,
    /// `employee_number`.
    EmployeeNumber,
    /// `custom.<name>`: a declared user custom field.
    Custom(Arc<str>),
}

impl MatchingField {
    /// Parses a `matching_fields` entry (custom fields are not checked against `[halo]` here).
    pub fn parse(name: &str) -> Option<MatchingField> {
        match name {
            "email" => Some(MatchingField::Email),
            "upn" => Some(MatchingField::Upn),
            "name" => Some(MatchingField::Name),
            "employee_number" => Some(MatchingField::EmployeeNumber),
            other => other
                .strip_prefix("custom.")
                .filter(|custom| !custom.is_empty())
                .map(|custom| MatchingField::Custom(Arc::from(custom))),
        }
    }

    /// The Halo field whose value is compared.
    pub fn halo_field(&self) -> HaloField {
        match self {
            MatchingField::Email => HaloField::Emailaddress,
            MatchingField::Upn => HaloField::Login,
            MatchingField::Name => HaloField::Name,
            MatchingField::EmployeeNumber => HaloField::EmployeeNumber,
            MatchingField::Custom(name) => HaloField::Custom(name.clone()),
        }
    }
}

impl fmt::Display for MatchingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchingField::Email => f.write_str("email"),
            MatchingField::Upn => f.write_str("upn"),
            MatchingField::Name => f.write_str("name"),
            MatchingField::EmployeeNumber => f.write_str("employee_number"),
            MatchingField::Custom(name) => write!(f, "custom.{name}"),
        }
    }
}

impl Serialize for MatchingField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An attribute the config uses that `users/delta` cannot track, and where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeUse {
    /// The attribute, e.g. `signInActivity.lastSignInDateTime`.
    pub attribute: String,
    /// The Graph property to select for it separately, e.g. `signInActivity`.
    pub graph_property: String,
    /// Key paths using it, e.g. `field_mapping[3].entra`.
    pub used_at: Vec<String>,
}

impl Mapping {
    /// The Entra attributes the config reads (field mappings with their defaults, filters,
    /// site fields, `manager` when a rule depends on it), by Graph name, sorted.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.attribute_uses.keys().map(String::as_str)
    }

    /// The `$select` list for `users/delta` with `delta_method = mapped_fields`: the system set
    /// (the system set) plus the top-level properties of the attributes the config uses, without
    /// those delta cannot track ([`Mapping::delta_incompatible`]). Sorted, distinct.
    pub fn graph_select(&self) -> Vec<String> {
        let used = self
            .attribute_uses
            .values()
            .filter(|(attribute, _)| attribute.delta_compatible())
            .map(|(attribute, _)| attribute.graph_property());
        let all: BTreeSet<String> = SYSTEM_ATTRIBUTES
            .iter()
            .map(|name| (*name).to_owned())
            .chain(used)
            .collect();
        all.into_iter().collect()
    }

    /// Used attributes that delta cannot track, with where the config uses them (for
    /// `entra-sync check` and for fetching them separately).
    pub fn delta_incompatible(&self) -> Vec<AttributeUse> {
        self.attribute_uses
            .iter()
            .filter(|(_, (attribute, _))| !attribute.delta_compatible())
            .map(|(name, (attribute, used_at))| AttributeUse {
                attribute: name.clone(),
                graph_property: attribute.graph_property(),
                used_at: used_at.clone(),
            })
            .collect()
    }

    /// Every Entra group display name the config uses (site mapping `group`, roles, teams,
    /// CABs), sorted and distinct: the names the daemon resolves to group ids each run.
    pub fn groups(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.groups.iter().map(|name| &**name).collect();
        names.sort_unstable();
        names
    }

    /// Whether group filters and group mappings use transitive membership.
    pub fn nested_groups(&self) -> bool {
        self.nested_groups
    }

    /// The fallback matching fields, in order (tried after the Entra object id).
    pub fn matching_fields(&self) -> &[MatchingField] {
        &self.matching_fields
    }

    /// `empty_values`: what an empty Entra value does to a mapped field.
    pub fn empty_values(&self) -> EmptyValues {
        self.empty_values
    }

    /// `roles.full_role_management`.
    pub fn full_role_management(&self) -> bool {
        self.full_role_management
    }

    /// `team_options.remove_agents_not_found`.
    pub fn remove_agents_not_found(&self) -> bool {
        self.remove_agents_not_found
    }

    /// Whether any `*agent*` site mapping exists.
    pub fn imports_agents(&self) -> bool {
        !self.agent_mappings.is_empty()
    }
}
