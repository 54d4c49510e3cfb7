//! What planning asks beyond the person (mapping's `Directory`), answered from the mirror's
//! memberships and names, the people snapshot and the reference data.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use mapping::{Directory, Site};
use serde_json::Value;

use super::sink::Sink;
use crate::ids::EntraId;
use crate::mirror::{MirrorUser, Notification};
use crate::store::{Reference, StoreError};

/// Member id → the groups it belongs to directly: (group id, display name).
type GroupsOf = HashMap<String, Vec<(Arc<str>, Arc<str>)>>;

/// A run's view of the directory.
#[derive(Debug, Default)]
pub struct RunDirectory {
    groups_of: GroupsOf,
    /// Entra ids with an agent record (grows as the run creates agents).
    agents: HashSet<EntraId>,
    /// Lower-cased site name → sites with that name.
    sites: HashMap<String, Vec<Site>>,
    /// Lower-cased team name → its declared name.
    teams: HashMap<String, Arc<str>>,
    /// How notes name people (line managers), by Entra id: the current batch's.
    names: HashMap<String, Arc<str>>,
}

impl RunDirectory {
    /// Builds the view. `memberships` are (group id, member id, member type) rows.
    pub fn new(
        memberships: &[(String, String, String)],
        group_names: &BTreeMap<String, String>,
        agents: impl IntoIterator<Item = EntraId>,
        reference: &Reference,
    ) -> Self {
        let groups_of = groups_of(memberships, group_names);
        let mut sites: HashMap<String, Vec<Site>> = HashMap::new();
        for (client, site) in &reference.sites {
            sites.entry(site.to_lowercase()).or_default().push(Site {
                client: Arc::from(client.as_str()),
                name: Arc::from(site.as_str()),
            });
        }
        let teams = reference
            .teams
            .iter()
            .map(|t| (t.to_lowercase(), Arc::from(t.as_str())))
            .collect();
        Self {
            groups_of,
            agents: agents.into_iter().collect(),
            sites,
            teams,
            names: HashMap::new(),
        }
    }

    /// Replaces the memberships (a batch brings its own members' rows).
    pub fn set_memberships(
        &mut self,
        memberships: &[(String, String, String)],
        group_names: &BTreeMap<String, String>,
    ) {
        self.groups_of = groups_of(memberships, group_names);
    }

    /// Replaces the names notes give people (a batch brings its line managers' names).
    pub fn set_names(&mut self, names: HashMap<String, Arc<str>>) {
        self.names = names;
    }

    /// Records an agent created during the run (line managers resolve to it from now on).
    pub fn add_agent(&mut self, entra_id: &str) {
        self.agents.insert(EntraId::from(entra_id));
    }

    /// Records a site created during the run.
    pub fn add_site(&mut self, site: &Site) {
        let entry = self.sites.entry(site.name.to_lowercase()).or_default();
        if !entry.contains(site) {
            entry.push(site.clone());
        }
    }
}

fn groups_of(
    memberships: &[(String, String, String)],
    group_names: &BTreeMap<String, String>,
) -> GroupsOf {
    let names: HashMap<&str, Arc<str>> = group_names
        .iter()
        .map(|(id, name)| (id.as_str(), Arc::from(name.as_str())))
        .collect();
    let mut groups_of = GroupsOf::new();
    for (group, member, _) in memberships {
        let name = names
            .get(group.as_str())
            .cloned()
            .unwrap_or_else(|| Arc::from(""));
        groups_of
            .entry(member.clone())
            .or_default()
            .push((Arc::from(group.as_str()), name));
    }
    groups_of
}

impl Directory for RunDirectory {
    fn groups_of(&self, member: &str, visit: &mut dyn FnMut(&str, &str)) {
        for (id, name) in self.groups_of.get(member).into_iter().flatten() {
            visit(id, name);
        }
    }

    fn has_agent(&self, entra_id: &str) -> bool {
        self.agents.contains(entra_id)
    }

    fn find_site(&self, field: &str, value: &str) -> Option<Site> {
        // Only `name` is a comparable site field (the mapping compiler enforces it).
        if field != "name" {
            return None;
        }
        match self.sites.get(&value.trim().to_lowercase())?.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    fn find_team(&self, name: &str) -> Option<Arc<str>> {
        self.teams.get(&name.trim().to_lowercase()).cloned()
    }

    fn name_of(&self, entra_id: &str) -> Option<Arc<str>> {
        self.names.get(entra_id).cloned()
    }
}

/// How the log names a mirrored person: the user principal name, else the display name.
pub fn name_in_log(person: &MirrorUser) -> Option<Arc<str>> {
    person
        .upn()
        .or_else(|| person.attributes.get("displayName").and_then(Value::as_str))
        .filter(|name| !name.trim().is_empty())
        .map(Arc::from)
}

/// The names of the line managers of `persons` (their managers, by Entra id), for the notes of a
/// batch's plans: from the batch itself where a manager is in it, else from the mirror.
pub async fn manager_names(
    sink: &dyn Sink,
    persons: &[(MirrorUser, Notification)],
) -> Result<HashMap<String, Arc<str>>, StoreError> {
    let in_batch: HashMap<&str, &MirrorUser> = persons
        .iter()
        .map(|(p, _)| (p.entra_id.as_str(), p))
        .collect();
    let mut names = HashMap::new();
    let mut elsewhere: BTreeSet<String> = BTreeSet::new();
    for manager in persons.iter().filter_map(|(p, _)| p.manager_id()) {
        match in_batch.get(manager) {
            Some(person) => {
                if let Some(name) = name_in_log(person) {
                    names.insert(manager.to_owned(), name);
                }
            }
            None => {
                elsewhere.insert(manager.to_owned());
            }
        }
    }
    if !elsewhere.is_empty() {
        let ids: Vec<EntraId> = elsewhere.into_iter().map(EntraId).collect();
        for person in sink.stored(&ids).await? {
            if let Some(name) = name_in_log(&person) {
                names.insert(person.entra_id.clone(), name);
            }
        }
    }
    Ok(names)
}
