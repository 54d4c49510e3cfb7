//! `MappingSpec` → [`Mapping`]: every name checked against the catalogue and `[halo]`, every
//! problem reported at once with its key path. Site mappings compile in `site_mapping`.

mod site_mapping;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::catalogue::{Attribute, CATALOGUE, HaloField, known};
use crate::mapping::{FieldRule, GroupId, LicenceRules, Mapping, MatchingField, TeamFlags};
use crate::problem::Problem;
use crate::reference::Reference;
use crate::spec::{FieldMappingSpec, GroupRoleSpec, MappingSpec, ReferenceSpec, Target};

/// The `site` value that imports people as agents.
pub const AGENT_SITE: &str = "*agent*";

/// Default field mappings (displayName → name, givenName → firstname, surname → surname, mail →
/// emailaddress, userPrincipalName → login), applied per target where the field exists and the config
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
    let user_fields = compiler.field_mappings(spec, Target::User);
    let agent_fields = compiler.field_mappings(spec, Target::Agent);
    let (user_mappings, agent_mappings) =
        compiler.site_mappings(&spec.site_mapping, &user_fields.rules);
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
    let matching_fields =
        compiler.matching_fields(&spec.options.matching_fields, &user_fields.dropped);

    if !compiler.problems.is_empty() {
        return Err(compiler.problems);
    }
    Ok(Mapping {
        user_fields: user_fields.rules,
        agent_fields: agent_fields.rules,
        user_create_fields: user_fields.create_only,
        agent_create_fields: agent_fields.create_only,
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
                "unknown Entra attribute \"{name}\"{hint}; expected one of the attribute catalogue (see config/example.toml), an extension_<appid>_<name> attribute or onPremisesExtensionAttributes.extensionAttribute1..15"
            ),
        ));
    }
    parsed
}

/// One target's compiled field mappings.
struct FieldRules {
    /// Written on every run: the mapped fields and the defaults not dropped.
    rules: Vec<FieldRule>,
    /// Written only when the record is created (a dropped `name`).
    create_only: Vec<FieldRule>,
    /// The defaults `drop_default_fields` drops.
    dropped: Vec<HaloField>,
}

/// The state of one compilation: lookups, the problems found so far, and what the mapping uses.
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

    /// The field mappings of one target, followed by the defaults for fields it leaves unmapped
    /// and does not drop.
    fn field_mappings(&mut self, spec: &MappingSpec, target: Target) -> FieldRules {
        let mut rules: Vec<FieldRule> = Vec::new();
        let mut mapped_at: HashMap<HaloField, usize> = HashMap::new();
        for (index, spec) in spec
            .field_mapping
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
        let dropped =
            self.dropped_defaults(spec.drop_default_fields.of(target), target, &mapped_at);
        let mut create_only = Vec::new();
        for (index, field) in DEFAULT_FIELDS {
            if !field.exists_for(target) || mapped_at.contains_key(&field) {
                continue;
            }
            let source = Attribute::Catalogue(index);
            let label = target_label(target);
            let rule = FieldRule {
                field: field.clone(),
                source: source.clone(),
            };
            if !dropped.contains(&field) {
                let path = format!(
                    "field_mapping (default {} → {field} for {label})",
                    source.name()
                );
                self.used(&source, path);
                rules.push(rule);
            } else if field == HaloField::Name {
                // A record cannot be created without a name: a dropped name is still written
                // when the sync creates the record, and never after.
                let path = format!("drop_default_fields.{label} (name when creating)");
                self.used(&source, path);
                create_only.push(rule);
            }
        }
        FieldRules {
            rules,
            create_only,
            dropped,
        }
    }

    /// Checks one target's `drop_default_fields` list: each entry a field of the target with a
    /// default mapping, listed once, and not mapped by `field_mapping` as well.
    fn dropped_defaults(
        &mut self,
        names: &[String],
        target: Target,
        mapped_at: &HashMap<HaloField, usize>,
    ) -> Vec<HaloField> {
        let label = target_label(target);
        let defaults = DEFAULT_FIELDS
            .iter()
            .filter(|(_, field)| field.exists_for(target))
            .map(|(_, field)| field.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut dropped: Vec<HaloField> = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let path = format!("drop_default_fields.{label}[{index}]");
            let field = HaloField::parse(name).filter(|field| field.exists_for(target));
            let message = match field {
                None => format!(
                    "unknown Halo {label} field \"{name}\"; the {label} fields with a default mapping are: {defaults}"
                ),
                Some(field) if !DEFAULT_FIELDS.iter().any(|(_, default)| *default == field) => {
                    format!(
                        "\"{name}\" has no default mapping to drop; the {label} fields with a default mapping are: {defaults}"
                    )
                }
                Some(field) if dropped.contains(&field) => {
                    format!("\"{name}\" is listed twice")
                }
                Some(field) => match mapped_at.get(&field) {
                    Some(at) => format!(
                        "\"{name}\" is mapped by field_mapping[{at}], which already replaces its default; remove it from one of the two"
                    ),
                    None => {
                        dropped.push(field);
                        continue;
                    }
                },
            };
            self.problems.push(Problem::new(path, message));
        }
        dropped
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

    /// `sync.matching_fields`; a field whose Halo user field is dropped cannot match anything.
    fn matching_fields(&mut self, names: &[String], dropped: &[HaloField]) -> Vec<MatchingField> {
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
            let halo = field.halo_field();
            if dropped.contains(&halo) {
                self.problems.push(Problem::new(
                    path,
                    format!(
                        "matching field \"{name}\" compares the user field {halo}, which drop_default_fields.user drops, so the sync has no value to match on; remove \"{name}\" here or keep its default"
                    ),
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
