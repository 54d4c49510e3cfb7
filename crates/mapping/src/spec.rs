//! The declarative mapping configuration, exactly as it appears in `entra-sync.toml`.
//!
//! These types are deserialised by the daemon's config loader (they are embedded in its
//! `[[connection]]` and `[halo]` sections) and turned into a [`crate::Mapping`] by
//! [`crate::compile`], which reports every problem at once with its key path. Nothing here is
//! validated beyond its shape: that is `compile`'s job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reference data of the service desk (`[halo]`): the names mappings may point at. Ensured in the
/// database at start-up; a mapping naming anything not declared here is a config error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// Organisations (customers). Names are unique.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Sites, each under a declared client. Names are unique within their client.
    #[serde(default)]
    pub sites: Vec<SiteRef>,
    /// Roles an agent can hold.
    #[serde(default)]
    pub agent_roles: Vec<String>,
    /// Roles an end user can hold.
    #[serde(default)]
    pub user_roles: Vec<String>,
    /// Agent teams.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Change advisory boards with their CAB roles.
    #[serde(default)]
    pub cabs: Vec<CabRef>,
    /// User custom fields that `custom.<name>` targets may name.
    #[serde(default)]
    pub user_custom_fields: Vec<String>,
}

/// A declared site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRef {
    /// Site name, unique within its client.
    pub name: String,
    /// The declared client the site belongs to.
    pub client: String,
}

/// A declared change advisory board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CabRef {
    /// CAB name, unique.
    pub name: String,
    /// CAB roles members may be given.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Everything one connection declares about mapping, gathered from its config sections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingSpec {
    /// `[[connection.field_mapping]]`. Halo fields not mapped here take the defaults
    /// (displayName→name, givenName→firstname, surname→surname, mail→emailaddress,
    /// userPrincipalName→login, for each target where the field exists), unless
    /// `drop_default_fields` drops them.
    pub field_mapping: Vec<FieldMappingSpec>,
    /// `[connection.drop_default_fields]`: the default field mappings this connection does
    /// without.
    #[serde(default)]
    pub drop_default_fields: DropDefaultFieldsSpec,
    /// `[[connection.site_mapping]]`, in file order (evaluated in ascending `sequence`).
    pub site_mapping: Vec<SiteMappingSpec>,
    /// `[connection.roles]`.
    pub roles: RolesSpec,
    /// `[[connection.teams]]`.
    pub teams: Vec<TeamMappingSpec>,
    /// `[connection.team_options]`.
    pub team_options: TeamOptionsSpec,
    /// `[[connection.cabs]]`.
    pub cabs: Vec<CabMappingSpec>,
    /// `[connection.agent_licences]`.
    pub agent_licences: AgentLicencesSpec,
    /// The mapping-relevant options of `[connection.sync]`.
    pub options: MappingOptions,
}

/// Which service-desk record a field mapping writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The end-user record.
    User,
    /// The agent record.
    Agent,
}

/// One `[[connection.field_mapping]]` row: an Entra attribute feeding a Halo field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMappingSpec {
    /// `user` or `agent`.
    pub target: Target,
    /// Entra attribute from the catalogue, e.g. `department`.
    pub entra: String,
    /// Halo field, e.g. `department` or `custom.CFCostCentre`.
    pub halo: String,
}

/// `[connection.drop_default_fields]`: per target, the Halo fields whose default field mapping
/// is dropped. The sync leaves a dropped field alone (neither writes nor clears it), except that
/// a dropped `name` is still written once, when the sync creates the record: a record cannot be
/// created without a name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropDefaultFieldsSpec {
    /// User fields, e.g. `["firstname", "surname"]`.
    #[serde(default)]
    pub user: Vec<String>,
    /// Agent fields, e.g. `["emailaddress"]`.
    #[serde(default)]
    pub agent: Vec<String>,
}

impl DropDefaultFieldsSpec {
    /// The dropped fields of `target`, as written.
    pub fn of(&self, target: Target) -> &[String] {
        match target {
            Target::User => &self.user,
            Target::Agent => &self.agent,
        }
    }
}

/// How a site mapping places the people it matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteMappingKind {
    /// A fixed site (`site`), or `*agent*` to import as an agent.
    #[default]
    Site,
    /// A site named by an attribute's value under a fixed organisation, created if missing.
    OrganisationByField,
    /// The existing site whose `site_field` equals an Entra attribute's value, or the value the
    /// person's field mappings give a Halo user field.
    SiteByField,
}

/// Which external (guest) users a site mapping accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalUsers {
    /// Guests never match.
    #[default]
    Exclude,
    /// Guests match like members.
    Include,
    /// Guests match only with at least one assigned licence.
    LicensedOnly,
}

/// The agent licence type an `*agent*` mapping gives (when agent licence management is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentLicenceSpec {
    /// Keep the current type; new agents are concurrent.
    #[default]
    NoChange,
    /// Named licence.
    Named,
    /// Concurrent licence.
    Concurrent,
}

/// What a `site_by_field` mapping does when no site matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NoMatchSpec {
    /// `no_match = "skip"`: the mapping does not match; the next one is tried.
    Skip(SkipKeyword),
    /// `no_match = { default_site = "Head Office" }`.
    DefaultSite {
        /// The declared site to use.
        default_site: String,
    },
}

/// The keyword `skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKeyword {
    /// Skip.
    Skip,
}

impl Default for NoMatchSpec {
    fn default() -> Self {
        NoMatchSpec::Skip(SkipKeyword::Skip)
    }
}

/// One `[[connection.site_mapping]]` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteMappingSpec {
    /// Evaluation order, ascending; unique within the connection.
    pub sequence: u32,
    /// Optional label shown in previews and the inbound log (default: derived from the kind).
    #[serde(default)]
    pub name: Option<String>,
    /// `site` (default), `organisation_by_field` or `site_by_field`.
    #[serde(default)]
    pub kind: SiteMappingKind,
    /// kind `site`: the declared site, or `*agent*` to import the person as an agent.
    #[serde(default)]
    pub site: Option<String>,
    /// kind `organisation_by_field`: the declared client sites are created under.
    #[serde(default)]
    pub organisation: Option<String>,
    /// kind `organisation_by_field`: the attribute whose value names the site.
    #[serde(default)]
    pub site_from: Option<String>,
    /// kind `site_by_field`: the Halo site field compared (`name`).
    #[serde(default)]
    pub site_field: Option<String>,
    /// kind `site_by_field`: the Entra attribute compared with `site_field` (this or
    /// `user_field`).
    #[serde(default)]
    pub entra: Option<String>,
    /// kind `site_by_field`: the Halo user field whose value, as the person's field mappings
    /// produce it (before this mapping's `set`), is compared with `site_field` (this or `entra`).
    #[serde(default)]
    pub user_field: Option<String>,
    /// kind `site_by_field`: `skip` (default) or `{ default_site = "…" }`.
    #[serde(default)]
    pub no_match: NoMatchSpec,
    /// User role given to people this mapping places.
    #[serde(default)]
    pub user_role: Option<String>,
    /// Exact display name of an Entra group the person must belong to.
    #[serde(default)]
    pub group: Option<String>,
    /// Guest policy: `exclude` (default), `include`, `licensed_only`.
    #[serde(default)]
    pub external_users: ExternalUsers,
    /// Attribute filters, ANDed together and with `group`.
    #[serde(default, rename = "where")]
    pub filters: Vec<FilterSpec>,
    /// Halo field values applied to people imported by this mapping (`"custom.X" = "v"`).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// `*agent*` mappings only: `no_change` (default), `named`, `concurrent`.
    #[serde(default)]
    pub agent_licence: AgentLicenceSpec,
}

/// A filter operator; case-insensitive unless `case_sensitive = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Substring.
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
    /// One of a list.
    In,
    /// Has a non-empty value.
    Present,
    /// Has no value or an empty one.
    Absent,
    /// Regular expression, compiled at start-up.
    Matches,
}

/// A filter's operand: a string, a list (for `in`) or a boolean (e.g. `accountEnabled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// `value = true`.
    Bool(bool),
    /// `value = 42`.
    Integer(i64),
    /// `value = "GB"`.
    Text(String),
    /// `value = ["GB", "IE"]`.
    List(Vec<String>),
}

/// One `where` row of a site mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// Entra attribute from the catalogue.
    pub entra: String,
    /// Operator.
    pub op: FilterOp,
    /// Operand; required except for `present` / `absent`.
    #[serde(default)]
    pub value: Option<FilterValue>,
    /// Compare case-sensitively (default false).
    #[serde(default)]
    pub case_sensitive: bool,
}

/// `[connection.roles]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesSpec {
    /// Group → agent role.
    #[serde(default)]
    pub agent: Vec<GroupRoleSpec>,
    /// Group → user role.
    #[serde(default)]
    pub user: Vec<GroupRoleSpec>,
    /// An agent's roles are exactly the mapped ones (manual roles removed); no role → inactive.
    #[serde(default)]
    pub full_role_management: bool,
    /// User role given to users that have no manager in Entra.
    #[serde(default)]
    pub role_for_users_without_manager: Option<String>,
}

/// Members of `group` get `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRoleSpec {
    /// Exact Entra group display name.
    pub group: String,
    /// Declared role name.
    pub role: String,
}

/// `[[connection.teams]]`: members of `group` join `team`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMappingSpec {
    /// Exact Entra group display name.
    pub group: String,
    /// Declared team name.
    pub team: String,
    /// Override of `team_options.can_be_assigned` for this team.
    #[serde(default)]
    pub can_be_assigned: Option<bool>,
    /// Override of `team_options.sees_unassigned` for this team.
    #[serde(default)]
    pub sees_unassigned: Option<bool>,
    /// Override of `team_options.sees_other_agents` for this team.
    #[serde(default)]
    pub sees_other_agents: Option<bool>,
}

/// `[connection.team_options]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamOptionsSpec {
    /// Remove sync-granted team memberships whose group membership ended (default false).
    #[serde(default)]
    pub remove_agents_not_found: bool,
    /// Sync-granted memberships can be assigned tickets of the team (default true).
    #[serde(default = "yes")]
    pub can_be_assigned: bool,
    /// Sync-granted members see the team's unassigned tickets (default true).
    #[serde(default = "yes")]
    pub sees_unassigned: bool,
    /// Sync-granted members see tickets of the team's other agents (default false).
    #[serde(default)]
    pub sees_other_agents: bool,
}

fn yes() -> bool {
    true
}

impl Default for TeamOptionsSpec {
    fn default() -> Self {
        Self {
            remove_agents_not_found: false,
            can_be_assigned: true,
            sees_unassigned: true,
            sees_other_agents: false,
        }
    }
}

/// `[[connection.cabs]]`: members of `group` join `cab`, optionally with a CAB role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CabMappingSpec {
    /// Exact Entra group display name.
    pub group: String,
    /// Declared CAB name.
    pub cab: String,
    /// One of the CAB's declared roles.
    #[serde(default)]
    pub cab_role: Option<String>,
}

/// `[connection.agent_licences]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentLicencesSpec {
    /// Manage agent licence type and activity from roles (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Agents holding any of these agent roles become inactive.
    #[serde(default)]
    pub inactive_roles: Vec<String>,
    /// Agents holding any of these agent roles get a named licence; others concurrent.
    #[serde(default)]
    pub named_licence_roles: Vec<String>,
}

/// What an empty Entra value does to a mapped Halo field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyValues {
    /// Clear the Halo field.
    #[default]
    Clear,
    /// Keep the Halo field's current value.
    Keep,
}

/// Mapping-relevant options from `[connection.sync]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingOptions {
    /// Group filters and group mappings use transitive membership.
    pub nested_groups: bool,
    /// `clear` or `keep`.
    pub empty_values: EmptyValues,
    /// `accountEnabled = false` makes users inactive (agents always).
    pub deactivate_disabled_users: bool,
    /// Fallback matching fields after the Entra object id, in order: `email`, `upn`, `name`,
    /// `employee_number`, `custom.<name>`.
    pub matching_fields: Vec<String>,
}

impl Default for MappingOptions {
    fn default() -> Self {
        Self {
            nested_groups: false,
            empty_values: EmptyValues::Clear,
            deactivate_disabled_users: true,
            matching_fields: vec!["email".to_owned(), "upn".to_owned()],
        }
    }
}
