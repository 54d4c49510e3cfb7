//! Compiling `[[connection.site_mapping]]` rows: the three kinds, `*agent*`, `where` and `set`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{AGENT_SITE, Compiler};
use crate::filter::Filter;
use crate::mapping::{Compared, FieldRule, Placement, SiteRule};
use crate::problem::Problem;
use crate::spec::{AgentLicenceSpec, NoMatchSpec, SiteMappingKind, SiteMappingSpec, Target};

impl Compiler<'_> {
    /// Site mappings split into user and `*agent*` mappings, each in ascending sequence.
    /// `user_fields` are the user field mappings a `site_by_field` `user_field` may compare.
    pub(super) fn site_mappings(
        &mut self,
        specs: &[SiteMappingSpec],
        user_fields: &[FieldRule],
    ) -> (Vec<SiteRule>, Vec<SiteRule>) {
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
            if let Some(rule) = self.site_mapping(spec, &path, user_fields) {
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

    fn site_mapping(
        &mut self,
        spec: &SiteMappingSpec,
        path: &str,
        user_fields: &[FieldRule],
    ) -> Option<SiteRule> {
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
                    misplaced("user_field", spec.user_field.is_some(), "site"),
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
                    misplaced("user_field", spec.user_field.is_some(), kind),
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
                let compared = self.compared(spec, path, user_fields);
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
                    compared: compared?,
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

    /// What a `site_by_field` mapping compares with its site field: exactly one of `entra` (an
    /// Entra attribute) or `user_field` (a Halo user field some user field mapping writes).
    fn compared(
        &mut self,
        spec: &SiteMappingSpec,
        path: &str,
        user_fields: &[FieldRule],
    ) -> Option<Compared> {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .filter(|value| !value.trim().is_empty())
                .map(str::to_owned)
        };
        match (given(&spec.entra), given(&spec.user_field)) {
            (Some(_), Some(_)) => {
                self.problems.push(Problem::new(
                    format!("{path}.user_field"),
                    "kind site_by_field compares the site field with exactly one of `entra` (an Entra attribute) or `user_field` (a Halo user field); this mapping sets both",
                ));
                None
            }
            (None, None) => {
                let key = if spec.user_field.is_some() {
                    "user_field"
                } else {
                    "entra"
                };
                self.problems.push(Problem::new(
                    format!("{path}.{key}"),
                    "kind site_by_field needs `entra` (the Entra attribute compared with the site field) or `user_field` (the Halo user field compared with it)",
                ));
                None
            }
            (Some(entra), None) => self
                .attribute(&entra, format!("{path}.entra"))
                .map(Compared::Entra),
            (None, Some(name)) => {
                let key_path = format!("{path}.user_field");
                let field = self.halo_field(&name, Target::User, key_path.clone())?;
                if !user_fields.iter().any(|rule| rule.field == field) {
                    self.problems.push(Problem::new(
                        key_path,
                        format!(
                            "no user field mapping writes \"{field}\", so it has no value to compare; map it with a [[connection.field_mapping]] (target = \"user\", halo = \"{field}\"), or compare an Entra attribute with `entra`"
                        ),
                    ));
                    return None;
                }
                Some(Compared::UserField(field))
            }
        }
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
        SiteMappingKind::SiteByField => match &spec.user_field {
            Some(field) => format!("site by {} = user {field}", or_blank(&spec.site_field)),
            None => format!(
                "site by {} = {}",
                or_blank(&spec.site_field),
                or_blank(&spec.entra)
            ),
        },
    }
}
