//! Fixtures shared by the integration tests: the Contoso reference data, a config builder that
//! reads like the TOML, and an in-memory directory.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mapping::{Directory, Mapping, MappingSpec, ReferenceSpec, Site, compile};
use serde_json::{Value, json};

/// A `[halo]` section like config/example.toml's, with a second client and a few more names.
pub fn reference() -> ReferenceSpec {
    serde_json::from_value(json!({
        "clients": ["Contoso", "Fabrikam"],
        "sites": [
            {"name": "Head Office", "client": "Contoso"},
            {"name": "London", "client": "Contoso"},
            {"name": "Agents", "client": "Contoso"},
            {"name": "Reading", "client": "Fabrikam"}
        ],
        "agent_roles": ["1st Line", "2nd Line", "Leavers", "Managers"],
        "user_roles": ["Standard User", "Senior Staff", "No Manager"],
        "teams": ["Service Desk", "Infrastructure"],
        "cabs": [{"name": "Main CAB", "roles": ["Approver", "Member"]}],
        "user_custom_fields": ["CFEmployeeNumber", "CFCostCentre"]
    }))
    .expect("reference fixture")
}

/// A `MappingSpec` from JSON written like the connection's TOML sections: top-level keys replace
/// the defaults; `roles`, `team_options`, `agent_licences` and `options` merge key by key.
pub fn spec(overrides: Value) -> MappingSpec {
    let mut base = serde_json::to_value(MappingSpec::default()).expect("default spec serialises");
    if let (Value::Object(base), Value::Object(overrides)) = (&mut base, overrides) {
        for (key, value) in overrides {
            match (base.get_mut(&key), value) {
                (Some(Value::Object(section)), Value::Object(value)) => section.extend(value),
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
    }
    serde_json::from_value(base).expect("spec fixture")
}

/// Compiles `spec` against [`reference`], failing the test with every problem.
pub fn mapping(overrides: Value) -> Mapping {
    compile(&spec(overrides), &reference()).expect("the fixture compiles")
}

/// An in-memory directory. Groups are identified by `g:<display name>`.
#[derive(Debug, Default, Clone)]
pub struct FakeDirectory {
    /// member id (user or `g:<group>`) → group display names it is a direct member of.
    pub memberships: BTreeMap<String, BTreeSet<String>>,
    /// Entra ids imported as agents.
    pub agents: BTreeSet<String>,
    /// Existing sites.
    pub sites: Vec<Site>,
    /// Existing teams.
    pub teams: Vec<String>,
    /// How notes name people, by Entra id.
    pub names: BTreeMap<String, String>,
}

impl FakeDirectory {
    /// The sites and teams of [`reference`], no memberships, no agents.
    pub fn new() -> FakeDirectory {
        let reference = reference();
        FakeDirectory {
            memberships: BTreeMap::new(),
            agents: BTreeSet::new(),
            sites: reference
                .sites
                .iter()
                .map(|site| Site {
                    client: Arc::from(site.client.as_str()),
                    name: Arc::from(site.name.as_str()),
                })
                .collect(),
            teams: reference.teams.clone(),
            names: BTreeMap::new(),
        }
    }

    /// `member` (a user id, or `g:<group>` for a group) is a direct member of `groups`.
    pub fn member(mut self, member: &str, groups: &[&str]) -> FakeDirectory {
        let entry = self.memberships.entry(member.to_owned()).or_default();
        entry.extend(groups.iter().map(|group| (*group).to_owned()));
        self
    }

    /// Notes name `entra_id` as `name`.
    pub fn named(mut self, entra_id: &str, name: &str) -> FakeDirectory {
        self.names.insert(entra_id.to_owned(), name.to_owned());
        self
    }

    /// `entra_id` has been imported as an agent.
    pub fn agent(mut self, entra_id: &str) -> FakeDirectory {
        self.agents.insert(entra_id.to_owned());
        self
    }
}

impl Directory for FakeDirectory {
    fn groups_of(&self, member: &str, visit: &mut dyn FnMut(&str, &str)) {
        for group in self.memberships.get(member).into_iter().flatten() {
            visit(&format!("g:{group}"), group);
        }
    }

    fn has_agent(&self, entra_id: &str) -> bool {
        self.agents.contains(entra_id)
    }

    fn find_site(&self, field: &str, value: &str) -> Option<Site> {
        (field == "name").then_some(())?;
        self.sites
            .iter()
            .find(|site| site.name.eq_ignore_ascii_case(value))
            .cloned()
    }

    fn find_team(&self, name: &str) -> Option<Arc<str>> {
        self.teams
            .iter()
            .find(|team| team.eq_ignore_ascii_case(name))
            .map(|team| Arc::from(team.as_str()))
    }

    fn name_of(&self, entra_id: &str) -> Option<Arc<str>> {
        self.names
            .get(entra_id)
            .map(|name| Arc::from(name.as_str()))
    }
}
