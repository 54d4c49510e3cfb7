//! The `[halo]` reference data: checking it on its own ([`validate_reference`]) and looking
//! names up in it while compiling a connection's mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalogue::closest;
use crate::problem::Problem;
use crate::spec::{CabRef, ReferenceSpec};

/// A service-desk site: its client (organisation) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Site {
    /// The client the site belongs to.
    pub client: Arc<str>,
    /// The site's name, unique within the client.
    pub name: Arc<str>,
}

/// Every problem of the `[halo]` section: duplicate names, a site under an undeclared client,
/// empty names. Paths start with `halo.` (`halo.sites[1].client`).
pub fn validate_reference(reference: &ReferenceSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    unique_names(&mut problems, "halo.clients", "client", &reference.clients);
    unique_names(
        &mut problems,
        "halo.agent_roles",
        "agent role",
        &reference.agent_roles,
    );
    unique_names(
        &mut problems,
        "halo.user_roles",
        "user role",
        &reference.user_roles,
    );
    unique_names(&mut problems, "halo.teams", "team", &reference.teams);
    unique_names(
        &mut problems,
        "halo.user_custom_fields",
        "user custom field",
        &reference.user_custom_fields,
    );
    for (index, field) in reference.user_custom_fields.iter().enumerate() {
        if field.contains('.') || field.chars().any(char::is_whitespace) {
            problems.push(Problem::new(
                format!("halo.user_custom_fields[{index}]"),
                format!("custom field name \"{field}\" may not contain dots or spaces"),
            ));
        }
    }

    let mut sites: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (index, site) in reference.sites.iter().enumerate() {
        let path = format!("halo.sites[{index}]");
        if site.name.trim().is_empty() {
            problems.push(Problem::new(format!("{path}.name"), "site name is empty"));
        }
        if !reference.clients.contains(&site.client) {
            problems.push(Problem::new(
                format!("{path}.client"),
                unknown("client", &site.client, &reference.clients, "halo.clients"),
            ));
        }
        if let Some(first) = sites.insert((&site.client, &site.name), index) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!(
                    "site \"{}\" is already declared under client \"{}\" by halo.sites[{first}]; site names are unique within their client",
                    site.name, site.client
                ),
            ));
        }
    }

    let cab_names: Vec<String> = reference.cabs.iter().map(|cab| cab.name.clone()).collect();
    unique_names(&mut problems, "halo.cabs", "CAB", &cab_names);
    for (index, cab) in reference.cabs.iter().enumerate() {
        unique_names(
            &mut problems,
            &format!("halo.cabs[{index}].roles"),
            "CAB role",
            &cab.roles,
        );
    }
    problems
}

/// Names must be non-empty and unique; `path` is the array's key path.
fn unique_names(problems: &mut Vec<Problem>, path: &str, what: &str, names: &[String]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            problems.push(Problem::new(
                format!("{path}[{index}]"),
                format!("{what} name is empty"),
            ));
        } else if let Some(first) = seen.insert(name, index) {
            problems.push(Problem::new(
                format!("{path}[{index}]"),
                format!("{what} \"{name}\" is declared twice (first at {path}[{first}])"),
            ));
        }
    }
}

/// "unknown user role "X"; declared in halo.user_roles: "A", "B" (did you mean "x"?)".
pub(crate) fn unknown(what: &str, name: &str, declared: &[String], section: &str) -> String {
    let hint = closest(name, declared.iter().map(String::as_str))
        .map(|near| format!("; did you mean \"{near}\"?"))
        .unwrap_or_default();
    if declared.is_empty() {
        return format!(
            "unknown {what} \"{name}\"; {section} declares none: declare it there first"
        );
    }
    format!(
        "unknown {what} \"{name}\"; expected one declared in {section}: {}{hint}",
        quoted_list(declared)
    )
}

/// `"A", "B", "C"`, cut after ten names.
pub(crate) fn quoted_list(names: &[String]) -> String {
    let mut list: Vec<String> = names
        .iter()
        .take(10)
        .map(|name| format!("\"{name}\""))
        .collect();
    if names.len() > 10 {
        list.push(format!("… ({} more)", names.len() - 10));
    }
    list.join(", ")
}

/// Name lookups into `[halo]` while compiling; each check returns the message on failure.
pub(crate) struct Reference<'a> {
    spec: &'a ReferenceSpec,
}

impl<'a> Reference<'a> {
    pub(crate) fn new(spec: &'a ReferenceSpec) -> Reference<'a> {
        Reference { spec }
    }

    /// A declared site by name; `client` picks among same-named sites of several clients.
    pub(crate) fn site(&self, name: &str, client: Option<&str>) -> Result<Site, String> {
        let candidates: Vec<_> = self
            .spec
            .sites
            .iter()
            .filter(|site| site.name == name && client.is_none_or(|client| site.client == client))
            .collect();
        match candidates.as_slice() {
            [site] => Ok(Site {
                client: Arc::from(site.client.as_str()),
                name: Arc::from(site.name.as_str()),
            }),
            [] => {
                let names: Vec<String> = self
                    .spec
                    .sites
                    .iter()
                    .map(|site| site.name.clone())
                    .collect();
                match client {
                    Some(client) if names.iter().any(|n| n == name) => Err(format!(
                        "site \"{name}\" is not declared under client \"{client}\" in halo.sites"
                    )),
                    _ => Err(unknown("site", name, &names, "halo.sites")),
                }
            }
            several => Err(format!(
                "site \"{name}\" is declared under several clients ({}); add `organisation` to say which",
                several
                    .iter()
                    .map(|site| format!("\"{}\"", site.client))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    pub(crate) fn client(&self, name: &str) -> Result<(), String> {
        declared(name, &self.spec.clients, || {
            unknown("client", name, &self.spec.clients, "halo.clients")
        })
    }

    pub(crate) fn user_role(&self, name: &str) -> Result<(), String> {
        declared(name, &self.spec.user_roles, || {
            if self.spec.agent_roles.iter().any(|role| role == name) {
                format!(
                    "\"{name}\" is an agent role; a user role is expected (declared in halo.user_roles: {})",
                    quoted_list(&self.spec.user_roles)
                )
            } else {
                unknown("user role", name, &self.spec.user_roles, "halo.user_roles")
            }
        })
    }

    pub(crate) fn agent_role(&self, name: &str) -> Result<(), String> {
        declared(name, &self.spec.agent_roles, || {
            if self.spec.user_roles.iter().any(|role| role == name) {
                format!(
                    "\"{name}\" is a user role; an agent role is expected (declared in halo.agent_roles: {})",
                    quoted_list(&self.spec.agent_roles)
                )
            } else {
                unknown(
                    "agent role",
                    name,
                    &self.spec.agent_roles,
                    "halo.agent_roles",
                )
            }
        })
    }

    pub(crate) fn team(&self, name: &str) -> Result<(), String> {
        declared(name, &self.spec.teams, || {
            unknown("team", name, &self.spec.teams, "halo.teams")
        })
    }

    pub(crate) fn cab(&self, name: &str) -> Result<&'a CabRef, String> {
        self.spec
            .cabs
            .iter()
            .find(|cab| cab.name == name)
            .ok_or_else(|| {
                let names: Vec<String> =
                    self.spec.cabs.iter().map(|cab| cab.name.clone()).collect();
                unknown("CAB", name, &names, "halo.cabs")
            })
    }

    pub(crate) fn custom_field(&self, name: &str) -> Result<(), String> {
        declared(name, &self.spec.user_custom_fields, || {
            unknown(
                "user custom field",
                name,
                &self.spec.user_custom_fields,
                "halo.user_custom_fields",
            )
        })
    }
}

fn declared(name: &str, names: &[String], message: impl FnOnce() -> String) -> Result<(), String> {
    if names.iter().any(|declared| declared == name) {
        Ok(())
    } else {
        Err(message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SiteRef;

    fn site(name: &str, client: &str) -> SiteRef {
        SiteRef {
            name: name.to_owned(),
            client: client.to_owned(),
        }
    }

    #[test]
    fn a_site_under_an_undeclared_client_is_reported_at_its_client_key() {
        let reference = ReferenceSpec {
            clients: vec!["Contoso".to_owned()],
            sites: vec![site("Head Office", "Contoso"), site("London", "Contsoo")],
            ..ReferenceSpec::default()
        };
        let problems = validate_reference(&reference);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "halo.sites[1].client");
        assert!(
            problems[0].message.contains("did you mean \"Contoso\""),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn duplicate_names_are_reported_at_the_second_declaration() {
        let reference = ReferenceSpec {
            clients: vec!["A".to_owned(), "B".to_owned()],
            sites: vec![
                site("London", "A"),
                site("London", "B"),
                site("London", "A"),
            ],
            agent_roles: vec!["L1".to_owned(), "L1".to_owned()],
            user_roles: vec!["U".to_owned(), "".to_owned()],
            teams: vec!["T".to_owned(), "T".to_owned()],
            cabs: vec![
                CabRef {
                    name: "Main".to_owned(),
                    roles: vec!["Approver".to_owned(), "Approver".to_owned()],
                },
                CabRef {
                    name: "Main".to_owned(),
                    roles: vec![],
                },
            ],
            user_custom_fields: vec!["CF1".to_owned(), "CF1".to_owned(), "CF.2".to_owned()],
        };
        let paths: Vec<String> = validate_reference(&reference)
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(
            paths,
            [
                "halo.agent_roles[1]",
                "halo.user_roles[1]",
                "halo.teams[1]",
                "halo.user_custom_fields[1]",
                "halo.user_custom_fields[2]",
                "halo.sites[2].name",
                "halo.cabs[1]",
                "halo.cabs[0].roles[1]",
            ]
        );
    }

    #[test]
    fn a_site_name_shared_by_two_clients_needs_the_organisation() {
        let spec = ReferenceSpec {
            clients: vec!["A".to_owned(), "B".to_owned()],
            sites: vec![site("London", "A"), site("London", "B")],
            ..ReferenceSpec::default()
        };
        let reference = Reference::new(&spec);
        assert!(
            reference
                .site("London", None)
                .is_err_and(|m| m.contains("several clients"))
        );
        assert_eq!(
            reference
                .site("London", Some("B"))
                .map(|s| s.client.to_string()),
            Ok("B".to_owned())
        );
    }
}
