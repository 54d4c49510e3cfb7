//! `MappingSpec` → [`Mapping`]: every name checked against the catalogue and `[halo]`, every
//! problem reported at once with its key path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::catalogue::{Attribute, CATALOGUE, HaloField, known};
use crate::filter::Filter;
use crate::mapping::{
    FieldRule, GroupId, LicenceRules, Mapping, MatchingField, Placement, SiteRule, TeamFlags,
};
use crate::problem::Problem;
use crate::reference::Reference;
use crate::spec::{
    AgentLicenceSpec, FieldMappingSpec, GroupRoleSpec, MappingSpec, NoMatchSpec, ReferenceSpec,
    SiteMappingKind, SiteMappingSpec, Target,
};

/// The `site` value that imports people as agents.
pub const AGENT_SITE: &str = "*agent*";

/// Default field mappings (BRIEF §3.1), applied per target where the field exists and the config
/// does not map the field itself.
const DEFAULT_FIELDS: [(usize, HaloField); 5] = [
    (known::DISPLAY_NAME, HaloField::Name),
    (known::GIVEN_NAME, HaloField::Firstname),
    (known::SURNAME, HaloField::Surname),
    (known::MAIL, HaloField::Emailaddress),
    (known::USER_PRINCIPAL_NAME, HaloField::Login),
];

/// Compiles a connection's mapping against the reference data, returning every problem at once.
///
/// Problems of `reference` itself (duplicates, undeclared clients) are [`crate::validate_reference`]'s
/// and are not repeated here; names are looked up as declared.
pub fn compile(spec: &MappingSpec, reference: &ReferenceSpec) -> Result<Mapping, Vec<Problem>> {
    let mut compiler = Compiler {
        reference: Reference::new(reference),
        problems: Vec::new(),
        groups: Vec::new(),
        group_ids: HashMap::new(),
        attribute_uses: BTreeMap::new(),
    };
    let user_fields = compiler.field_mappings(&spec.field_mapping, Target::User);
    let agent_fields = compiler.field_mappings(&spec.field_mapping, Target::Agent);
    let (user_mappings, agent_mappings) = compiler.site_mappings(&spec.site_mapping);
    let user_roles = compiler.group_roles(&spec.roles.user, "roles.user", Target::User);
    let agent_roles = compiler.group_roles(&spec.roles.agent, "roles.agent", Target::Agent);
    let role_without_manager = spec
        .roles
        .role_for_users_without_manager
        .as_deref()
        .and_then(|role| {
            compiler.manager_used("roles.role_for_users_without_manager");
            compiler.check(
                compiler.reference.user_role(role),
                "roles.role_for_users_without_manager".to_owned(),
            )?;
            Some(Arc::from(role))
        });

    let options = &spec.team_options;
    let default_team_flags = TeamFlags {
        can_be_assigned: options.can_be_assigned,
        sees_unassigned: options.sees_unassigned,
        sees_other_agents: options.sees_other_agents,
    };
    let mut teams = Vec::new();
    for (index, team) in spec.teams.iter().enumerate() {
        let path = format!("teams[{index}]");
        let group = compiler.group(&team.group, format!("{path}.group"));
        let declared = compiler.check(compiler.reference.team(&team.team), format!("{path}.team"));
        let flags = TeamFlags {
            can_be_assigned: team.can_be_assigned.unwrap_or(options.can_be_assigned),
            sees_unassigned: team.sees_unassigned.unwrap_or(options.sees_unassigned),
            sees_other_agents: team.sees_other_agents.unwrap_or(options.sees_other_agents),
        };
        if let (Some(group), Some(())) = (group, declared) {
            teams.push((group, Arc::from(team.team.as_str()), flags));
        }
    }

    let mut cabs = Vec::new();
    for (index, cab) in spec.cabs.iter().enumerate() {
        let path = format!("cabs[{index}]");
        let group = compiler.group(&cab.group, format!("{path}.group"));
        let Some(declared) =
            compiler.check(compiler.reference.cab(&cab.cab), format!("{path}.cab"))
        else {
            continue;
        };
        if let Some(role) = &cab.cab_role
            && !declared.roles.contains(role)
        {
            compiler.problems.push(Problem::new(
                format!("{path}.cab_role"),
                crate::reference::unknown(
                    &format!("CAB role of \"{}\"", declared.name),
                    role,
                    &declared.roles,
                    "that CAB's roles in halo.cabs",
                ),
            ));
            continue;
        }
        if let Some(group) = group {
            cabs.push((
                group,
                Arc::from(cab.cab.as_str()),
                cab.cab_role.as_deref().map(Arc::from),
            ));
        }
    }

    let licences = LicenceRules {
        enabled: spec.agent_licences.enabled,
        inactive_roles: compiler.agent_role_list(
            &spec.agent_licences.inactive_roles,
            "agent_licences.inactive_roles",
        ),
        named_licence_roles: compiler.agent_role_list(
            &spec.agent_licences.named_licence_roles,
            "agent_licences.named_licence_roles",
        ),
    };
    let matching_fields = compiler.matching_fields(&spec.options.matching_fields);

    if !compiler.problems.is_empty() {
        return Err(compiler.problems);
    }
    Ok(Mapping {
        user_fields,
        agent_fields,
        user_mappings,
        agent_mappings,
        user_roles,
        agent_roles,
        role_without_manager,
        full_role_management: spec.roles.full_role_management,
        teams,
        default_team_flags,
        remove_agents_not_found: spec.team_options.remove_agents_not_found,
        cabs,
        licences,
        nested_groups: spec.options.nested_groups,
        empty_values: spec.options.empty_values,
        deactivate_disabled_users: spec.options.deactivate_disabled_users,
        matching_fields,
        groups: compiler.groups,
        group_ids: compiler.group_ids,
        attribute_uses: compiler.attribute_uses,
    })
}

/// Parses an Entra attribute name at `path`, pushing a problem when it is not one a mapping may
/// name.
pub(crate) fn attribute_at(
    name: &str,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<Attribute> {
    let parsed = Attribute::parse(name);
    if parsed.is_none() {
        let hint = crate::catalogue::closest(name, CATALOGUE)
            .map(|near| format!(" (did you mean \"{near}\"?)"))
            .unwrap_or_default();
        problems.push(Problem::new(
            path,
            format!(
                "unknown Entra attribute \"{name}\"{hint}; expected one of the catalogue (BRIEF §3.1), an extension_<appid>_<name> attribute or onPremisesExtensionAttributes.extensionAttribute1..15"
            ),
        ));
    }
    parsed
}

struct Compiler<'a> {
    reference: Reference<'a>,
    problems: Vec<Problem>,
    groups: Vec<Arc<str>>,
    group_ids: HashMap<Arc<str>, GroupId>,
    attribute_uses: BTreeMap<String, (Attribute, Vec<String>)>,
}

impl Compiler<'_> {
    /// `Some(value)` when the lookup succeeded, else pushes its message at `path`.
    fn check<T>(&mut self, lookup: Result<T, String>, path: String) -> Option<T> {
        match lookup {
            Ok(value) => Some(value),
            Err(message) => {
                self.problems.push(Problem::new(path, message));
                None
            }
        }
    }

    /// Parses an attribute and records where it is used.
    fn attribute(&mut self, name: &str, path: String) -> Option<Attribute> {
        let attribute = attribute_at(name, &path, &mut self.problems)?;
        self.used(&attribute, path);
        Some(attribute)
    }

    fn used(&mut self, attribute: &Attribute, path: String) {
        self.attribute_uses
            .entry(attribute.name())
            .or_insert_with(|| (attribute.clone(), Vec::new()))
            .1
            .push(path);
    }

    fn manager_used(&mut self, path: &str) {
        self.used(&Attribute::Catalogue(known::MANAGER), path.to_owned());
    }

    /// Registers a group display name; an empty one is a problem.
    fn group(&mut self, name: &str, path: String) -> Option<GroupId> {
        if name.trim().is_empty() {
            self.problems.push(Problem::new(
                path,
                "group name is empty; give the exact display name of an Entra group",
            ));
            return None;
        }
        if let Some(id) = self.group_ids.get(name) {
            return Some(*id);
        }
        let id = self.groups.len();
        let name: Arc<str> = Arc::from(name);
        self.groups.push(name.clone());
        self.group_ids.insert(name, id);
        Some(id)
    }

    /// A Halo field name for `target`: it exists for the target, and custom fields are declared.
    fn halo_field(&mut self, name: &str, target: Target, path: String) -> Option<HaloField> {
        let target_name = match target {
            Target::User => "user",
            Target::Agent => "agent",
        };
        let Some(field) = HaloField::parse(name) else {
            self.problems.push(Problem::new(
                path,
                format!(
                    "unknown Halo {target_name} field \"{name}\"; expected one of: {}",
                    HaloField::names_for(target)
                ),
            ));
            return None;
        };
        if !field.exists_for(target) {
            let message = match &field {
                HaloField::Custom(_) => {
                    "custom fields exist on users only (target = \"user\")".to_owned()
                }
                _ => format!(
                    "\"{name}\" is not a Halo {target_name} field; {target_name} fields are: {}",
                    HaloField::names_for(target)
                ),
            };
            self.problems.push(Problem::new(path, message));
            return None;
        }
        if let HaloField::Custom(custom) = &field {
            self.check(self.reference.custom_field(custom), path)?;
        }
        Some(field)
    }

    /// The field mappings of one target, followed by the defaults for fields it leaves unmapped.
    fn field_mappings(&mut self, specs: &[FieldMappingSpec], target: Target) -> Vec<FieldRule> {
        let mut rules: Vec<FieldRule> = Vec::new();
        let mut mapped_at: HashMap<HaloField, usize> = HashMap::new();
        for (index, spec) in specs
            .iter()
            .enumerate()
            .filter(|(_, spec)| spec.target == target)
        {
            let path = format!("field_mapping[{index}]");
            let source = self.attribute(&spec.entra, format!("{path}.entra"));
            let field = self.halo_field(&spec.halo, target, format!("{path}.halo"));
            let Some(field) = field else { continue };
            if let Some(first) = mapped_at.insert(field.clone(), index) {
                self.problems.push(Problem::new(
                    format!("{path}.halo"),
                    format!(
                        "Halo field \"{field}\" is already mapped for target {} by field_mapping[{first}]; each Halo field takes one mapping per target",
                        spec.target_name()
                    ),
                ));
                continue;
            }
            if field == HaloField::Linemanager && spec.entra != "manager" {
                self.problems.push(Problem::new(
                    format!("{path}.entra"),
                    format!(
                        "linemanager takes only the Entra attribute \"manager\" (resolved to the manager's agent record), not \"{}\"",
                        spec.entra
                    ),
                ));
                continue;
            }
            if let Some(source) = source {
                rules.push(FieldRule { field, source });
            }
        }
        for (index, field) in DEFAULT_FIELDS {
            if field.exists_for(target) && !mapped_at.contains_key(&field) {
                let source = Attribute::Catalogue(index);
                let path = format!(
                    "field_mapping (default {} → {field} for {})",
                    source.name(),
                    target_label(target)
                );
                self.used(&source, path);
                rules.push(FieldRule { field, source });
            }
        }
        rules
    }

    /// Site mappings split into user and `*agent*` mappings, each in ascending sequence.
    fn site_mappings(&mut self, specs: &[SiteMappingSpec]) -> (Vec<SiteRule>, Vec<SiteRule>) {
        let mut sequences: HashMap<u32, usize> = HashMap::new();
        let mut users = Vec::new();
        let mut agents = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let path = format!("site_mapping[{index}]");
            if let Some(first) = sequences.insert(spec.sequence, index) {
                self.problems.push(Problem::new(
                    format!("{path}.sequence"),
                    format!(
                        "sequence {} is already used by site_mapping[{first}]; sequences are unique within a connection",
                        spec.sequence
                    ),
                ));
            }
            if let Some(rule) = self.site_mapping(spec, &path) {
                match rule.placement {
                    Placement::Agent => agents.push(rule),
                    _ => users.push(rule),
                }
            }
        }
        users.sort_by_key(|rule: &SiteRule| rule.sequence);
        agents.sort_by_key(|rule: &SiteRule| rule.sequence);
        (users, agents)
    }

    fn site_mapping(&mut self, spec: &SiteMappingSpec, path: &str) -> Option<SiteRule> {
        let problems_before = self.problems.len();
        let misplaced = |key: &str, set: bool, kind: &str| {
            set.then(|| {
                Problem::new(
                    format!("{path}.{key}"),
                    format!("`{key}` does not belong to kind {kind}"),
                )
            })
        };
        let default_site_set = matches!(spec.no_match, NoMatchSpec::DefaultSite { .. });
        let placement = match spec.kind {
            SiteMappingKind::Site => {
                let mut extra = vec![
                    misplaced("site_from", spec.site_from.is_some(), "site"),
                    misplaced("site_field", spec.site_field.is_some(), "site"),
                    misplaced("entra", spec.entra.is_some(), "site"),
                    misplaced("no_match", default_site_set, "site"),
                ];
                let placement = match spec.site.as_deref() {
                    None => {
                        self.problems.push(Problem::new(
                            format!("{path}.site"),
                            "kind site needs `site`: a site declared in halo.sites, or \"*agent*\" to import agents",
                        ));
                        None
                    }
                    Some(AGENT_SITE) => {
                        extra.push(misplaced(
                            "organisation",
                            spec.organisation.is_some(),
                            "site with \"*agent*\"",
                        ));
                        Some(Placement::Agent)
                    }
                    Some(site) => {
                        let site = self.reference.site(site, spec.organisation.as_deref());
                        self.check(site, format!("{path}.site"))
                            .map(Placement::Site)
                    }
                };
                self.problems.extend(extra.into_iter().flatten());
                placement
            }
            SiteMappingKind::OrganisationByField => {
                let kind = "organisation_by_field";
                let extra = [
                    misplaced("site", spec.site.is_some(), kind),
                    misplaced("site_field", spec.site_field.is_some(), kind),
                    misplaced("entra", spec.entra.is_some(), kind),
                    misplaced("no_match", default_site_set, kind),
                ];
                self.problems.extend(extra.into_iter().flatten());
                let organisation = self.required(
                    spec.organisation.as_deref(),
                    path,
                    "organisation",
                    kind,
                    "a client declared in halo.clients",
                );
                let organisation = organisation.and_then(|name| {
                    self.check(self.reference.client(name), format!("{path}.organisation"))?;
                    Some(Arc::from(name))
                });
                let site_from = self.required(
                    spec.site_from.as_deref(),
                    path,
                    "site_from",
                    kind,
                    "the Entra attribute whose value names the site",
                );
                let site_from =
                    site_from.and_then(|name| self.attribute(name, format!("{path}.site_from")));
                Some(Placement::OrganisationByField {
                    organisation: organisation?,
                    site_from: site_from?,
                })
            }
            SiteMappingKind::SiteByField => {
                let kind = "site_by_field";
                let extra = [
                    misplaced("site", spec.site.is_some(), kind),
                    misplaced("organisation", spec.organisation.is_some(), kind),
                    misplaced("site_from", spec.site_from.is_some(), kind),
                ];
                self.problems.extend(extra.into_iter().flatten());
                let site_field = self.required(
                    spec.site_field.as_deref(),
                    path,
                    "site_field",
                    kind,
                    "the Halo site field compared, \"name\"",
                );
                let site_field = site_field.and_then(|field| {
                    if field == "name" {
                        Some(Arc::from(field))
                    } else {
                        self.problems.push(Problem::new(
                            format!("{path}.site_field"),
                            format!("unknown Halo site field \"{field}\"; expected \"name\""),
                        ));
                        None
                    }
                });
                let entra = self.required(
                    spec.entra.as_deref(),
                    path,
                    "entra",
                    kind,
                    "the Entra attribute compared with the site field",
                );
                let entra = entra.and_then(|name| self.attribute(name, format!("{path}.entra")));
                let default_site = match &spec.no_match {
                    NoMatchSpec::Skip(_) => Some(None),
                    NoMatchSpec::DefaultSite { default_site } => {
                        let site = self.reference.site(default_site, None);
                        self.check(site, format!("{path}.no_match.default_site"))
                            .map(Some)
                    }
                };
                Some(Placement::SiteByField {
                    site_field: site_field?,
                    entra: entra?,
                    default_site: default_site?,
                })
            }
        };

        let is_agent = matches!(placement, Some(Placement::Agent));
        if spec.agent_licence != AgentLicenceSpec::NoChange
            && !is_agent
            && spec.site.as_deref() != Some(AGENT_SITE)
        {
            self.problems.push(Problem::new(
                format!("{path}.agent_licence"),
                "agent_licence applies only to mappings with site = \"*agent*\"",
            ));
        }
        let user_role = match (&spec.user_role, is_agent) {
            (None, _) => None,
            (Some(_), true) => {
                self.problems.push(Problem::new(
                    format!("{path}.user_role"),
                    "user_role does not apply to an \"*agent*\" mapping: agent roles come from roles.agent",
                ));
                None
            }
            (Some(role), false) => self
                .check(self.reference.user_role(role), format!("{path}.user_role"))
                .map(|()| Arc::from(role.as_str())),
        };
        let group = match &spec.group {
            Some(name) => self.group(name, format!("{path}.group")),
            None => None,
        };
        let mut filters = Vec::new();
        for (index, filter) in spec.filters.iter().enumerate() {
            let filter_path = format!("{path}.where[{index}]");
            if let Some(filter) = Filter::compile(filter, &filter_path, &mut self.problems) {
                self.used(&filter.attribute, format!("{filter_path}.entra"));
                filters.push(filter);
            }
        }
        let mut set = Vec::new();
        for (key, value) in &spec.set {
            let key_path = format!("{path}.set.{key}");
            if is_agent {
                self.problems.push(Problem::new(
                    key_path,
                    "`set` applies to users; an \"*agent*\" mapping imports agents (map agent fields with field_mapping target = \"agent\")",
                ));
                continue;
            }
            if let Some(field) = self.halo_field(key, Target::User, key_path) {
                set.push((field, Arc::from(value.as_str())));
            }
        }

        if self.problems.len() > problems_before {
            return None;
        }
        let placement = placement?;
        let name = spec.name.clone().unwrap_or_else(|| default_name(spec));
        Some(SiteRule {
            sequence: spec.sequence,
            name: Arc::from(name),
            placement,
            user_role,
            group,
            external_users: spec.external_users,
            filters,
            set,
            agent_licence: spec.agent_licence,
        })
    }

    /// A kind's required key; pushes "kind X needs `key`: what" when missing or blank.
    fn required<'s>(
        &mut self,
        value: Option<&'s str>,
        path: &str,
        key: &str,
        kind: &str,
        what: &str,
    ) -> Option<&'s str> {
        match value {
            Some(value) if !value.trim().is_empty() => Some(value),
            _ => {
                self.problems.push(Problem::new(
                    format!("{path}.{key}"),
                    format!("kind {kind} needs `{key}`: {what}"),
                ));
                None
            }
        }
    }

    fn group_roles(
        &mut self,
        specs: &[GroupRoleSpec],
        path: &str,
        target: Target,
    ) -> Vec<(GroupId, Arc<str>)> {
        let mut rules = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let group = self.group(&spec.group, format!("{path}[{index}].group"));
            let lookup = match target {
                Target::User => self.reference.user_role(&spec.role),
                Target::Agent => self.reference.agent_role(&spec.role),
            };
            let role = self.check(lookup, format!("{path}[{index}].role"));
            if let (Some(group), Some(())) = (group, role) {
                rules.push((group, Arc::from(spec.role.as_str())));
            }
        }
        rules
    }

    fn agent_role_list(&mut self, roles: &[String], path: &str) -> Vec<Arc<str>> {
        let mut resolved = Vec::new();
        for (index, role) in roles.iter().enumerate() {
            if self
                .check(self.reference.agent_role(role), format!("{path}[{index}]"))
                .is_some()
            {
                resolved.push(Arc::from(role.as_str()));
            }
        }
        resolved
    }

    fn matching_fields(&mut self, names: &[String]) -> Vec<MatchingField> {
        let mut fields: Vec<MatchingField> = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let path = format!("sync.matching_fields[{index}]");
            let Some(field) = MatchingField::parse(name) else {
                self.problems.push(Problem::new(
                    path,
                    format!("unknown matching field \"{name}\"; expected email, upn, name, employee_number or custom.<declared user custom field>"),
                ));
                continue;
            };
            if let MatchingField::Custom(custom) = &field
                && self
                    .check(self.reference.custom_field(custom), path.clone())
                    .is_none()
            {
                continue;
            }
            if fields.contains(&field) {
                self.problems.push(Problem::new(
                    path,
                    format!("matching field \"{name}\" is listed twice"),
                ));
                continue;
            }
            fields.push(field);
        }
        fields
    }
}

impl FieldMappingSpec {
    fn target_name(&self) -> &'static str {
        target_label(self.target)
    }
}

fn target_label(target: Target) -> &'static str {
    match target {
        Target::User => "user",
        Target::Agent => "agent",
    }
}

/// The label of a mapping without `name`: what it does, e.g. `site "Head Office"`.
fn default_name(spec: &SiteMappingSpec) -> String {
    let or_blank = |value: &Option<String>| value.clone().unwrap_or_default();
    match spec.kind {
        SiteMappingKind::Site if spec.site.as_deref() == Some(AGENT_SITE) => "*agent*".to_owned(),
        SiteMappingKind::Site => format!("site \"{}\"", or_blank(&spec.site)),
        SiteMappingKind::OrganisationByField => format!(
            "organisation \"{}\" by {}",
            or_blank(&spec.organisation),
            or_blank(&spec.site_from)
        ),
        SiteMappingKind::SiteByField => {
            format!(
                "site by {} = {}",
                or_blank(&spec.site_field),
                or_blank(&spec.entra)
            )
        }
    }
}
