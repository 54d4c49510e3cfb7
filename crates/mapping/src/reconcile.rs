//! Plan + existing service-desk record → the changes to write: only changed fields,
//! roles, teams and CABs the sync granted, deactivation and reactivation.
//!
//! Pure: the daemon loads the person's records, calls [`Mapping::reconcile_user`] /
//! [`Mapping::reconcile_agent`], and writes what comes back. Only changed fields appear.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalogue::HaloField;
use crate::mapping::{Mapping, TeamFlags};
use crate::plan::{CabGrant, DesiredAgent, DesiredUser, LicenceType, Scope, TeamGrant, Via};
use crate::reference::Site;

/// Who made a membership or an inactive flag: the sync, or a person by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Written by entra-sync.
    Entra,
    /// Written by hand in the service desk.
    Manual,
}

/// An existing team membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingTeam {
    /// Its flags.
    #[serde(flatten)]
    pub flags: TeamFlags,
    /// Who granted it.
    pub source: Source,
}

/// An existing CAB membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingCab {
    /// Its CAB role.
    pub cab_role: Option<Arc<str>>,
    /// Who granted it.
    pub source: Source,
}

/// A user or agent record as the service desk holds it. Fields absent from `fields` are empty;
/// `site` is for users, `teams` and `licence` for agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingRecord {
    /// The user's site.
    pub site: Option<Site>,
    /// Current non-empty field values.
    pub fields: BTreeMap<HaloField, Arc<str>>,
    /// Role memberships with their source.
    pub roles: BTreeMap<Arc<str>, Source>,
    /// Team memberships (agents).
    pub teams: BTreeMap<Arc<str>, ExistingTeam>,
    /// CAB memberships.
    pub cabs: BTreeMap<Arc<str>, ExistingCab>,
    /// `None` = active; `Some(Entra)` = made inactive by the sync; `Some(Manual)` = by hand.
    pub inactive: Option<Source>,
    /// Flagged keep-active: the sync never deactivates or reactivates it.
    pub keep_active: bool,
    /// The agent's licence type.
    pub licence: Option<LicenceType>,
}

/// What the daemon's run decides beyond the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcilePolicy {
    /// Make out-of-scope records inactive: `deactivate_missing_users` is on *and* the run is
    /// complete (a failed, partial or cancelled run deactivates nobody).
    pub deactivate_out_of_scope: bool,
}

/// A value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<T> {
    /// Current value.
    pub before: T,
    /// Value to write.
    pub after: T,
}

/// A change of active state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Make (or create) the record inactive with reason `entra`; `why` is for the log.
    Deactivate {
        /// Human reason.
        why: String,
    },
    /// Make a record the sync deactivated active again.
    Reactivate,
}

/// The inbound-log action a set of changes amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new record.
    Created,
    /// Some fields or memberships change.
    Updated,
    /// Nothing changes.
    Unchanged,
    /// The record becomes inactive.
    Deactivated,
    /// The record becomes active again.
    Reactivated,
    /// Out of scope and nothing to do.
    OutOfScope,
}

/// Everything to write for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// What this amounts to.
    pub action: Action,
    /// A user's site change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Change<Option<Site>>>,
    /// Changed fields only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<HaloField, Change<Option<Arc<str>>>>,
    /// Roles to add (source `entra`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub roles_added: BTreeSet<Arc<str>>,
    /// Roles to remove.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub roles_removed: BTreeSet<Arc<str>>,
    /// Team memberships to add (source `entra`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub teams_added: BTreeMap<Arc<str>, TeamFlags>,
    /// Sync-granted team memberships whose flags change.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub teams_updated: BTreeMap<Arc<str>, Change<TeamFlags>>,
    /// Team memberships to remove.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub teams_removed: BTreeSet<Arc<str>>,
    /// CAB memberships to add (source `entra`), with their CAB role.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cabs_added: BTreeMap<Arc<str>, Option<Arc<str>>>,
    /// Sync-granted CAB memberships whose CAB role changes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cabs_updated: BTreeMap<Arc<str>, Change<Option<Arc<str>>>>,
    /// CAB memberships to remove.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub cabs_removed: BTreeSet<Arc<str>>,
    /// An agent's licence type change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<Change<Option<LicenceType>>>,
    /// Deactivation or reactivation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

impl Changes {
    fn empty(action: Action) -> Changes {
        Changes {
            action,
            site: None,
            fields: BTreeMap::new(),
            roles_added: BTreeSet::new(),
            roles_removed: BTreeSet::new(),
            teams_added: BTreeMap::new(),
            teams_updated: BTreeMap::new(),
            teams_removed: BTreeSet::new(),
            cabs_added: BTreeMap::new(),
            cabs_updated: BTreeMap::new(),
            cabs_removed: BTreeSet::new(),
            licence: None,
            activation: None,
        }
    }

    fn has_updates(&self) -> bool {
        self.site.is_some()
            || !self.fields.is_empty()
            || !self.roles_added.is_empty()
            || !self.roles_removed.is_empty()
            || !self.teams_added.is_empty()
            || !self.teams_updated.is_empty()
            || !self.teams_removed.is_empty()
            || !self.cabs_added.is_empty()
            || !self.cabs_updated.is_empty()
            || !self.cabs_removed.is_empty()
            || self.licence.is_some()
    }

    /// Sets `action` from what changes, for a record that exists.
    fn settle(mut self) -> Changes {
        self.action = match (&self.activation, self.has_updates()) {
            (Some(Activation::Deactivate { .. }), _) => Action::Deactivated,
            (Some(Activation::Reactivate), _) => Action::Reactivated,
            (None, true) => Action::Updated,
            (None, false) => Action::Unchanged,
        };
        self
    }
}

/// The parts of a desired user or agent that reconcile alike.
struct Desired<'a> {
    fields: &'a BTreeMap<HaloField, Option<Arc<str>>>,
    /// Written only into a new record.
    create_fields: &'a BTreeMap<HaloField, Option<Arc<str>>>,
    roles: &'a BTreeMap<Arc<str>, Via>,
    cabs: &'a BTreeMap<Arc<str>, CabGrant>,
    inactive: Option<String>,
    /// Manual roles are removed too (full role management, agents).
    exact_roles: bool,
}

impl Mapping {
    /// The changes that bring an existing user record (or none) in line with the plan.
    pub fn reconcile_user(
        &self,
        planned: &Scope<DesiredUser>,
        existing: Option<&ExistingRecord>,
        policy: ReconcilePolicy,
    ) -> Changes {
        let user = match planned {
            Scope::In(user) => user,
            Scope::Out(out) => return out_of_scope(existing, policy, &out.to_string()),
        };
        let desired = Desired {
            fields: &user.fields,
            create_fields: &user.create_fields,
            roles: &user.roles,
            cabs: &user.cabs,
            inactive: user.inactive.as_ref().map(ToString::to_string),
            exact_roles: false,
        };
        let mut changes = common(&desired, existing);
        let current_site = existing.and_then(|record| record.site.clone());
        if current_site.as_ref() != Some(&user.site) {
            changes.site = Some(Change {
                before: current_site,
                after: Some(user.site.clone()),
            });
        }
        match existing {
            None => changes,
            Some(_) => changes.settle(),
        }
    }

    /// The changes that bring an existing agent record (or none) in line with the plan.
    pub fn reconcile_agent(
        &self,
        planned: &Scope<DesiredAgent>,
        existing: Option<&ExistingRecord>,
        policy: ReconcilePolicy,
    ) -> Changes {
        let agent = match planned {
            Scope::In(agent) => agent,
            Scope::Out(out) => return out_of_scope(existing, policy, &out.to_string()),
        };
        let desired = Desired {
            fields: &agent.fields,
            create_fields: &agent.create_fields,
            roles: &agent.roles,
            cabs: &agent.cabs,
            inactive: agent.inactive.as_ref().map(ToString::to_string),
            exact_roles: self.full_role_management,
        };
        let mut changes = common(&desired, existing);
        self.reconcile_teams(&agent.teams, existing, &mut changes);
        let current = existing.and_then(|record| record.licence);
        let wanted = match (agent.licence, existing) {
            (Some(licence), _) => Some(licence),
            // no_change: a new agent is concurrent, an existing one keeps its type.
            (None, None) => Some(LicenceType::Concurrent),
            (None, Some(_)) => current,
        };
        if wanted != current {
            changes.licence = Some(Change {
                before: current,
                after: wanted,
            });
        }
        match existing {
            None => changes,
            Some(_) => changes.settle(),
        }
    }

    fn reconcile_teams(
        &self,
        desired: &BTreeMap<Arc<str>, TeamGrant>,
        existing: Option<&ExistingRecord>,
        changes: &mut Changes,
    ) {
        let empty = BTreeMap::new();
        let current = existing.map_or(&empty, |record| &record.teams);
        for (team, grant) in desired {
            match current.get(team) {
                None => {
                    changes.teams_added.insert(team.clone(), grant.flags);
                }
                Some(held) if held.source == Source::Entra && held.flags != grant.flags => {
                    let change = Change {
                        before: held.flags,
                        after: grant.flags,
                    };
                    changes.teams_updated.insert(team.clone(), change);
                }
                Some(_) => {}
            }
        }
        if self.remove_agents_not_found {
            for (team, held) in current {
                if held.source == Source::Entra && !desired.contains_key(team) {
                    changes.teams_removed.insert(team.clone());
                }
            }
        }
    }
}

/// Fields, roles, CABs and activation, alike for users and agents. A new record gets
/// `Action::Created`.
fn common(desired: &Desired<'_>, existing: Option<&ExistingRecord>) -> Changes {
    let mut changes = Changes::empty(Action::Created);
    let fallback = ExistingRecord::default();
    let record = existing.unwrap_or(&fallback);

    let create_fields = existing.is_none().then_some(desired.create_fields);
    for (field, after) in desired
        .fields
        .iter()
        .chain(create_fields.into_iter().flatten())
    {
        let before = record.fields.get(field).filter(|value| !value.is_empty());
        let after = after.as_ref().filter(|value| !value.is_empty());
        if before != after {
            let change = Change {
                before: before.cloned(),
                after: after.cloned(),
            };
            changes.fields.insert(field.clone(), change);
        }
    }

    for role in desired.roles.keys() {
        if !record.roles.contains_key(role) {
            changes.roles_added.insert(role.clone());
        }
    }
    for (role, source) in &record.roles {
        let removable = *source == Source::Entra || desired.exact_roles;
        if removable && !desired.roles.contains_key(role) {
            changes.roles_removed.insert(role.clone());
        }
    }

    for (cab, grant) in desired.cabs {
        match record.cabs.get(cab) {
            None => {
                changes
                    .cabs_added
                    .insert(cab.clone(), grant.cab_role.clone());
            }
            Some(held) if held.source == Source::Entra && held.cab_role != grant.cab_role => {
                let change = Change {
                    before: held.cab_role.clone(),
                    after: grant.cab_role.clone(),
                };
                changes.cabs_updated.insert(cab.clone(), change);
            }
            Some(_) => {}
        }
    }
    for (cab, held) in &record.cabs {
        if held.source == Source::Entra && !desired.cabs.contains_key(cab) {
            changes.cabs_removed.insert(cab.clone());
        }
    }

    changes.activation = match (existing, &desired.inactive) {
        (None, Some(why)) => Some(Activation::Deactivate { why: why.clone() }),
        (None, None) => None,
        (Some(record), _) if !sync_may_toggle(record) => None,
        (Some(record), Some(why)) if record.inactive.is_none() => {
            Some(Activation::Deactivate { why: why.clone() })
        }
        (Some(record), None) if record.inactive == Some(Source::Entra) => {
            Some(Activation::Reactivate)
        }
        (Some(_), _) => None,
    };
    changes
}

/// Keep-active records and records made inactive by hand are never (de)activated by the sync.
fn sync_may_toggle(record: &ExistingRecord) -> bool {
    !record.keep_active && record.inactive != Some(Source::Manual)
}

fn out_of_scope(
    existing: Option<&ExistingRecord>,
    policy: ReconcilePolicy,
    reason: &str,
) -> Changes {
    match existing {
        Some(record)
            if policy.deactivate_out_of_scope
                && record.inactive.is_none()
                && sync_may_toggle(record) =>
        {
            let mut changes = Changes::empty(Action::Deactivated);
            changes.activation = Some(Activation::Deactivate {
                why: format!("out of scope: {reason}"),
            });
            changes
        }
        _ => Changes::empty(Action::OutOfScope),
    }
}
