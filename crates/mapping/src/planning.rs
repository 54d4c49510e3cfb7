//! `Mapping::plan`: the mapping rules applied to one person: scope by the first matching site
//! mapping (agent mappings separately), fields, roles, teams and CABs, agent licences.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalogue::HaloField;
use crate::directory::Directory;
use crate::entra_user::EntraUser;
use crate::mapping::{Compared, FieldRule, Mapping, Placement, SiteRule};
use crate::membership::GroupSet;
use crate::plan::{
    CabGrant, DesiredAgent, DesiredUser, Fields, InactiveReason, LicenceType, MappingRef, Miss,
    OutOfScope, Plan, Scope, TeamGrant, Via,
};
use crate::reference::Site;
use crate::spec::{AgentLicenceSpec, EmptyValues, ExternalUsers};

/// The person being planned, as site mappings see them.
struct Person<'a> {
    user: &'a EntraUser,
    groups: &'a GroupSet,
    /// The values of the user field mappings, once something asked for them.
    user_fields: &'a OnceCell<Fields>,
}

/// The mapping that placed a person, and where.
struct Placed<'m> {
    rule: &'m SiteRule,
    site: Option<Site>,
    create_site: bool,
}

impl Mapping {
    /// Plans one person: which records they should have, with which values, and why.
    ///
    /// Pure and deterministic: the same person, directory answers and mapping give the same plan.
    pub fn plan(&self, user: &EntraUser, directory: &dyn Directory) -> Plan {
        let groups = self.memberships(user.id(), directory);
        // What Graph sent of an unexpected type, and how it was read, first.
        let mut notes = user.odd_types().to_vec();
        // The user field values, worked out once: by the first `site_by_field` mapping comparing
        // a user field, or else for the user record of a person in scope.
        let user_fields = OnceCell::new();
        let person = Person {
            user,
            groups: &groups,
            user_fields: &user_fields,
        };
        let user_placed = self.place(&self.user_mappings, &person, directory, "site mapping");
        let agent_placed = self.place(&self.agent_mappings, &person, directory, "*agent* mapping");
        let cabs = self.cabs(&groups);

        let agent = match agent_placed {
            Ok(placed) => {
                let cabs = cabs.clone();
                Scope::In(self.desired_agent(
                    placed.rule,
                    user,
                    &groups,
                    directory,
                    cabs,
                    &mut notes,
                ))
            }
            Err(out) => Scope::Out(out),
        };
        let user_cabs = if matches!(agent, Scope::In(_)) {
            BTreeMap::new()
        } else {
            cabs
        };
        let user_scope = match user_placed {
            Ok(placed) => {
                let fields = user_fields
                    .into_inner()
                    .unwrap_or_else(|| self.mapped_fields(&self.user_fields, user));
                Scope::In(self.desired_user(placed, user, fields, &groups, user_cabs))
            }
            Err(out) => Scope::Out(out),
        };
        Plan {
            entra_id: user.shared_id(),
            user: user_scope,
            agent,
            notes,
        }
    }

    /// The first of `rules` (ascending sequence) whose filter matches, or why none did.
    fn place<'m>(
        &self,
        rules: &'m [SiteRule],
        person: &Person<'_>,
        directory: &dyn Directory,
        what: &'static str,
    ) -> Result<Placed<'m>, OutOfScope> {
        if rules.is_empty() {
            return Err(OutOfScope {
                misses: vec![Miss::NoMappings(what)],
            });
        }
        let mut misses = Vec::new();
        for rule in rules {
            match self.try_rule(rule, person, directory) {
                Ok(placed) => return Ok(placed),
                Err(miss) => misses.push(miss),
            }
        }
        Err(OutOfScope { misses })
    }

    fn try_rule<'m>(
        &self,
        rule: &'m SiteRule,
        person: &Person<'_>,
        directory: &dyn Directory,
    ) -> Result<Placed<'m>, Miss> {
        let Person { user, groups, .. } = *person;
        let mapping = || MappingRef {
            sequence: rule.sequence,
            name: rule.name.clone(),
        };
        if user.is_guest() {
            let refused = match rule.external_users {
                ExternalUsers::Exclude => true,
                ExternalUsers::Include => false,
                ExternalUsers::LicensedOnly => user.assigned_licenses().is_empty(),
            };
            if refused {
                return Err(Miss::Guest(mapping(), rule.external_users));
            }
        }
        if let Some(group) = rule.group
            && !groups.contains(group)
        {
            let name = self
                .groups
                .get(group)
                .cloned()
                .unwrap_or_else(|| Arc::from(""));
            return Err(Miss::NotInGroup(mapping(), name));
        }
        if let Some(failed) = rule
            .filters
            .iter()
            .find(|filter| !filter.matches(user.value(&filter.attribute)))
        {
            return Err(Miss::Filter(mapping(), failed.description.clone()));
        }
        let placed = |site: Option<Site>, create_site: bool| Placed {
            rule,
            site,
            create_site,
        };
        match &rule.placement {
            Placement::Agent => Ok(placed(None, false)),
            Placement::Site(site) => Ok(placed(Some(site.clone()), false)),
            Placement::OrganisationByField {
                organisation,
                site_from,
            } => match user.value(site_from).as_text() {
                Some(name) => {
                    let site = Site {
                        client: organisation.clone(),
                        name: Arc::from(name.trim()),
                    };
                    Ok(placed(Some(site), true))
                }
                None => Err(Miss::EmptySiteName(mapping(), site_from.name())),
            },
            Placement::SiteByField {
                site_field,
                compared,
                default_site,
            } => {
                let value = match compared {
                    Compared::Entra(attribute) => user.value(attribute).as_text(),
                    Compared::UserField(field) => person
                        .user_fields
                        .get_or_init(|| self.mapped_fields(&self.user_fields, user))
                        .get(field)
                        .and_then(Option::as_deref),
                }
                .map(str::trim);
                let found = value.and_then(|value| directory.find_site(site_field, value));
                match (found, default_site) {
                    (Some(site), _) => Ok(placed(Some(site), false)),
                    (None, Some(default)) => Ok(placed(Some(default.clone()), false)),
                    (None, None) => {
                        let looked_for = match (value, compared) {
                            (Some(value), _) => format!("{site_field} \"{value}\""),
                            (None, Compared::Entra(attribute)) => {
                                format!("{site_field} from an empty {}", attribute.name())
                            }
                            (None, Compared::UserField(field)) => {
                                format!("{site_field} from an empty user {field}")
                            }
                        };
                        Err(Miss::NoSite(mapping(), looked_for))
                    }
                }
            }
        }
    }

    /// `fields` are the values of the user field mappings.
    fn desired_user(
        &self,
        placed: Placed<'_>,
        user: &EntraUser,
        mut fields: Fields,
        groups: &GroupSet,
        cabs: BTreeMap<Arc<str>, CabGrant>,
    ) -> DesiredUser {
        let rule = placed.rule;
        for (field, value) in &rule.set {
            fields.insert(field.clone(), Some(value.clone()));
        }
        let mut roles = BTreeMap::new();
        if let Some(role) = &rule.user_role {
            roles.insert(role.clone(), Via::SiteMapping(rule.sequence));
        }
        self.group_roles(&self.user_roles, groups, &mut roles);
        if let Some(role) = &self.role_without_manager
            && user.manager().is_none()
        {
            roles.entry(role.clone()).or_insert(Via::WithoutManager);
        }
        let inactive = (self.deactivate_disabled_users && user.is_disabled())
            .then_some(InactiveReason::AccountDisabled);
        DesiredUser {
            mapping: MappingRef {
                sequence: rule.sequence,
                name: rule.name.clone(),
            },
            site: placed.site.unwrap_or_else(|| Site {
                client: Arc::from(""),
                name: Arc::from(""),
            }),
            create_site: placed.create_site,
            fields,
            create_fields: self.mapped_fields(&self.user_create_fields, user),
            roles,
            cabs,
            inactive,
        }
    }

    fn desired_agent(
        &self,
        rule: &SiteRule,
        user: &EntraUser,
        groups: &GroupSet,
        directory: &dyn Directory,
        cabs: BTreeMap<Arc<str>, CabGrant>,
        notes: &mut Vec<String>,
    ) -> DesiredAgent {
        let mut fields = self.mapped_fields(&self.agent_fields, user);
        let mut teams = BTreeMap::new();
        for (group, team, flags) in &self.teams {
            if groups.contains(*group) {
                teams.entry(team.clone()).or_insert_with(|| TeamGrant {
                    flags: *flags,
                    via: Via::Group(self.group_name(*group)),
                });
            }
        }
        if let Some(team) = fields.get(&HaloField::Team).cloned().flatten() {
            match directory.find_team(&team) {
                Some(existing) => {
                    teams.entry(existing.clone()).or_insert(TeamGrant {
                        flags: self.default_team_flags,
                        via: Via::TeamField,
                    });
                    fields.insert(HaloField::Team, Some(existing));
                }
                None => {
                    notes.push(format!(
                        "team \"{team}\" does not exist; the default team is left unchanged"
                    ));
                    fields.remove(&HaloField::Team);
                }
            }
        } else {
            // An empty team value leaves the default team as it is, whatever empty_values says:
            // an agent is not left without a team by a blank attribute.
            fields.remove(&HaloField::Team);
        }
        // The line manager is the person's manager whatever order people are evaluated in: the
        // store links the record to the manager's agent as soon as that agent exists (this run
        // or a later one), so a manager not yet imported as an agent is only worth a note.
        if let Some(manager) = fields.get(&HaloField::Linemanager).cloned().flatten()
            && !directory.has_agent(&manager)
        {
            let who = directory.name_of(&manager).unwrap_or(manager);
            notes.push(format!(
                "line manager {who} is not imported as an agent yet; linked once they are"
            ));
        }

        let mut roles = BTreeMap::new();
        self.group_roles(&self.agent_roles, groups, &mut roles);

        let mut licence = match rule.agent_licence {
            AgentLicenceSpec::NoChange => None,
            AgentLicenceSpec::Named => Some(LicenceType::Named),
            AgentLicenceSpec::Concurrent => Some(LicenceType::Concurrent),
        };
        let mut inactive = None;
        if self.licences.enabled {
            let holds =
                |list: &[Arc<str>]| list.iter().find(|role| roles.contains_key(*role)).cloned();
            inactive = holds(&self.licences.inactive_roles).map(InactiveReason::InactiveRole);
            licence = Some(match holds(&self.licences.named_licence_roles) {
                Some(_) => LicenceType::Named,
                None => LicenceType::Concurrent,
            });
        }
        if self.full_role_management && roles.is_empty() {
            inactive = Some(InactiveReason::NoMappedRole);
        }
        if user.is_disabled() {
            inactive = Some(InactiveReason::AccountDisabled);
        }
        DesiredAgent {
            mapping: MappingRef {
                sequence: rule.sequence,
                name: rule.name.clone(),
            },
            fields,
            create_fields: self.mapped_fields(&self.agent_create_fields, user),
            roles,
            teams,
            cabs,
            licence,
            inactive,
        }
    }

    /// Field values from the field mappings; empty values clear or are left out per
    /// `empty_values`.
    fn mapped_fields(&self, rules: &[FieldRule], user: &EntraUser) -> Fields {
        let mut fields = Fields::new();
        for rule in rules {
            match user.text(&rule.source) {
                Some(text) => {
                    fields.insert(rule.field.clone(), Some(text));
                }
                None if self.empty_values == EmptyValues::Clear => {
                    fields.insert(rule.field.clone(), None);
                }
                None => {}
            }
        }
        fields
    }

    fn group_roles(
        &self,
        rules: &[(usize, Arc<str>)],
        groups: &GroupSet,
        roles: &mut BTreeMap<Arc<str>, Via>,
    ) {
        for (group, role) in rules {
            if groups.contains(*group) {
                roles
                    .entry(role.clone())
                    .or_insert_with(|| Via::Group(self.group_name(*group)));
            }
        }
    }

    fn cabs(&self, groups: &GroupSet) -> BTreeMap<Arc<str>, CabGrant> {
        let mut cabs = BTreeMap::new();
        for (group, cab, cab_role) in &self.cabs {
            if groups.contains(*group) {
                cabs.entry(cab.clone()).or_insert_with(|| CabGrant {
                    cab_role: cab_role.clone(),
                    via: Via::Group(self.group_name(*group)),
                });
            }
        }
        cabs
    }

    fn group_name(&self, group: usize) -> Arc<str> {
        self.groups
            .get(group)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }
}
