//! One person through plan → match (Entra id, then `matching_fields`) → reconcile → writes and an inbound-log row.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use mapping::{
    Action, Activation, Changes, HaloField, Mapping, MatchKey, MatchingField, OutOfScope, Plan,
    ReconcilePolicy, Scope, Site, normalise_key,
};
use serde_json::{Value, json};

use super::directory::RunDirectory;
use super::existing::{agent_existing, unlinked_existing, user_existing};
use super::message::Message;
use super::record_writes::{agent_identity, agent_write, describe, name_of, user_write};
use crate::config::{ConnectionSettings, Entity};
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::mirror::{MirrorUser, Notification};
use crate::store::{
    AgentWrite, InboundRow, NewRecordAgent, NewRecordUser, People, PersonWrite, RecordWrite,
    Unlinked, UserWrite,
};
use crate::vocab::{self, RecordKind};

/// What evaluating one person produced.
#[derive(Debug)]
pub struct Evaluation {
    /// The writes, when there is anything to write.
    pub write: Option<PersonWrite>,
    /// The inbound-log row.
    pub log: InboundRow,
    /// The sync would deactivate this person (user or agent).
    pub deactivates: bool,
    /// A site the plan creates.
    pub new_site: Option<Site>,
    /// The person's pending mark stays: the run wrote only some of the records the connection
    /// syncs for them (`import --users` for a person who is also an agent), so a later run
    /// still has to evaluate them.
    pub keeps_mark: bool,
}

/// Which of a person's records a run writes: the user record, the agent record, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Targets {
    /// User records (their sites, fields, roles, CABs, licence links and activation).
    pub users: bool,
    /// Agent records.
    pub agents: bool,
}

impl Targets {
    /// Users and agents.
    pub const BOTH: Targets = Targets {
        users: true,
        agents: true,
    };
    /// User records only.
    pub const USERS: Targets = Targets {
        users: true,
        agents: false,
    };
    /// Agent records only (with the user record each agent is linked to).
    pub const AGENTS: Targets = Targets {
        users: false,
        agents: true,
    };

    /// The records `[connection.sync].entities` names (`licences` is no record of its own).
    pub fn of_entities(entities: &[Entity]) -> Targets {
        Targets {
            users: entities.contains(&Entity::Users),
            agents: entities.contains(&Entity::Agents),
        }
    }

    /// What both name.
    pub fn and(self, other: Targets) -> Targets {
        Targets {
            users: self.users && other.users,
            agents: self.agents && other.agents,
        }
    }

    /// Whether `other` names everything `self` names.
    pub fn within(self, other: Targets) -> bool {
        self.and(other) == self
    }

    /// Whether it names any record.
    pub fn any(self) -> bool {
        self.users || self.agents
    }
}

/// Whether the connection imports licences (`licences` among its entities, and
/// `licences.import`): SKUs, and users' links to them.
pub fn syncs_licences(connection: &ConnectionSettings) -> bool {
    connection.licences.import && connection.sync.entities().contains(&Entity::Licences)
}

/// Evaluation settings for a run.
#[derive(Debug, Clone)]
pub struct EvaluationRules {
    /// The connection.
    pub connection_id: ConnectionId,
    /// The run.
    pub run_id: Option<RunId>,
    /// `integrator` or `import`.
    pub source: &'static str,
    /// People who left scope are deactivated (`deactivate_missing_users`).
    pub deactivate_missing: bool,
    /// Whether deactivations may be written now (else they are reported and deferred).
    pub allow_deactivations: bool,
    /// Unassign open tickets of agents the sync deactivates.
    pub reassign_tickets: bool,
    /// Link users to their SKUs.
    pub licences: bool,
    /// Write inbound-log rows for people re-evaluated without a notification whose records did
    /// not change (unchanged, or out of scope with no record). A remap leaves them out: its log
    /// shows what it changed.
    pub log_unchanged: bool,
    /// The records the connection syncs (`[connection.sync].entities`).
    pub syncs: Targets,
    /// The records this run writes: the run's selection within `syncs`.
    pub targets: Targets,
}

/// Plans, matches and reconciles one mirrored person against the people snapshot. `None`: the
/// run leaves the person alone, because they have (or would get) only records the run does not
/// write; nothing is written or logged and their pending mark stays.
///
/// A record the run does not write is left exactly as it is: without agents, no agent is
/// created, updated, deactivated or reactivated (and a user record linked to an agent is not
/// deactivated for want of a user mapping); without users, the only user record written is the
/// one a new agent is linked to (an unlinked record matching the agent, linked as it is, else a
/// bare one with its name and email, outside any site), and a linked user record is neither
/// updated, deactivated nor relinked to licences.
pub fn evaluate(
    mapping: &Mapping,
    directory: &RunDirectory,
    people: &People,
    rules: &EvaluationRules,
    person: &MirrorUser,
    notification: Notification,
    now: DateTime<Utc>,
) -> Option<Evaluation> {
    let entra_id = person.entra_id.as_str();
    let mut plan = plan_person(mapping, directory, person);
    let linked_user = people.users.get(entra_id);
    let linked_agent = people.agents.get(entra_id);
    // The records the connection syncs that the person has, or that a mapping gives them.
    let concerns = Targets {
        users: rules.syncs.users && (plan.user.desired().is_some() || linked_user.is_some()),
        agents: rules.syncs.agents && (plan.agent.desired().is_some() || linked_agent.is_some()),
    };
    if !concerns.and(rules.targets).any() && (concerns.any() || rules.targets != rules.syncs) {
        return None;
    }
    let keeps_mark = !concerns.within(rules.targets);
    // A user record linked to an agent stays active without a user mapping; whether the person
    // is an agent is the `*agent*` mappings' to say where the connection syncs agents.
    let agent_keeps_user = if rules.syncs.agents {
        plan.agent.desired().is_some()
    } else {
        linked_agent.is_some()
    };
    let mut message = Message::default();
    for (synced, matched, what) in [
        (rules.syncs.users, plan.user.desired().is_some(), "users"),
        (rules.syncs.agents, plan.agent.desired().is_some(), "agents"),
    ] {
        if !synced && matched {
            message.note(&format!(
                "a {} mapping matches, but [connection.sync].entities leaves out {what}",
                if what == "users" { "site" } else { "*agent*" }
            ));
        }
    }
    if !rules.targets.users {
        plan.user = not_applied();
    }
    if !rules.targets.agents {
        plan.agent = not_applied();
    }
    let linked_agent = linked_agent.filter(|_| rules.targets.agents);
    let policy = ReconcilePolicy {
        deactivate_out_of_scope: rules.deactivate_missing,
    };
    let matched = matched(&plan);
    // The person's inbound-log row, once what happened is known.
    let log_row = |action: vocab::Action, target: RecordKind, changes, message| InboundRow {
        id: 0,
        run_id: rules.run_id,
        connection_id: rules.connection_id.clone(),
        source: rules.source.to_owned(),
        logged_at: now,
        entra_id: Some(EntraId::from(entra_id)),
        upn: person.upn().map(str::to_owned),
        target: Some(target),
        notification: notification.into(),
        matched,
        action,
        changes: Value::Array(changes),
        message,
        agent_id: None,
    };

    // Matching: the Entra id first, then each matching field against unlinked records: the user
    // mapping's fields, or, where the run does not write users, the fields of the agent who
    // needs a user record (it is then linked as it is).
    let mut user_record: Option<RecordWrite<NewRecordUser>> =
        linked_user.map(|u| RecordWrite::Existing(u.id));
    let mut adopted_user: Option<&Unlinked> = None;
    let matching_fields = match (&plan.user, &plan.agent) {
        (Scope::In(user), _) => Some(&user.fields),
        (Scope::Out(_), Scope::In(agent)) if !rules.targets.users => Some(&agent.fields),
        _ => None,
    };
    if linked_user.is_none()
        && let Some(fields) = matching_fields
    {
        match find_candidate(mapping.matching_keys(fields), &people.unlinked_users) {
            Candidates::One(record) => {
                adopted_user = Some(record);
                user_record = Some(RecordWrite::Adopt(record.id));
            }
            Candidates::Several(field, ids) => {
                let message = Message::of(&format!(
                    "{} records without an Entra link share this person's {field}: users {}; nothing was created or merged",
                    ids.len(),
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .finish();
                return Some(Evaluation {
                    write: None,
                    log: log_row(
                        vocab::Action::Conflict,
                        RecordKind::User,
                        Vec::new(),
                        message,
                    ),
                    deactivates: false,
                    new_site: None,
                    keeps_mark,
                });
            }
            Candidates::None => {}
        }
    }
    let existing_user = linked_user
        .map(user_existing)
        .or_else(|| adopted_user.map(unlinked_existing));
    let mut user_changes = if rules.targets.users {
        mapping.reconcile_user(&plan.user, existing_user.as_ref(), policy)
    } else {
        no_changes(mapping, policy, linked_user.is_some())
    };
    if agent_keeps_user && plan.user.desired().is_none() && user_changes.activation.is_some() {
        user_changes.activation = None;
        user_changes.action = Action::Unchanged;
    }

    let agent_in_scope = plan.agent.desired().is_some();
    let mut agent_record: Option<RecordWrite<NewRecordAgent>> =
        linked_agent.map(|a| RecordWrite::Existing(a.id));
    if linked_agent.is_none() && agent_in_scope {
        // An agent already linked to the person's (adopted) user record, else one matching by email.
        let user_id = match &user_record {
            Some(RecordWrite::Existing(id) | RecordWrite::Adopt(id)) => Some(*id),
            _ => None,
        };
        let by_user = user_id.and_then(|id| people.unlinked_agents.iter().find(|(_, u)| *u == id));
        let by_email = || {
            let email = plan
                .agent
                .desired()?
                .fields
                .get(&HaloField::Emailaddress)?
                .as_deref()
                .map(normalise_key)?;
            let hits: Vec<_> = people
                .unlinked_agents
                .iter()
                .filter(|(a, _)| {
                    a.emailaddress.as_deref().map(normalise_key).as_deref() == Some(email.as_str())
                })
                .collect();
            (hits.len() == 1).then(|| hits[0])
        };
        if let Some((agent, _)) = by_user.or_else(by_email) {
            agent_record = Some(RecordWrite::Adopt(agent.id));
        }
    }
    let existing_agent = linked_agent.map(agent_existing);
    let agent_changes = if rules.targets.agents {
        mapping.reconcile_agent(&plan.agent, existing_agent.as_ref(), policy)
    } else {
        no_changes(mapping, policy, false)
    };

    let deactivating = |c: &Changes| matches!(c.activation, Some(Activation::Deactivate { .. }));
    let deactivates = (deactivating(&user_changes) && user_record.is_some())
        || (deactivating(&agent_changes) && agent_record.is_some());

    let mut write = PersonWrite {
        entra_id: EntraId::from(entra_id),
        user: None,
        agent: None,
    };
    let mut changes_log = Vec::new();
    let user_known = user_record.is_some() || user_changes.action == Action::Created;
    if user_known {
        let mut w = if rules.targets.users {
            user_write(
                &user_changes,
                rules,
                person,
                linked_user.map(|u| &u.licences),
            )
        } else {
            UserWrite::default()
        };
        changes_log.extend(describe(RecordKind::User, &user_changes));
        if deactivating(&user_changes) && !rules.allow_deactivations {
            w.inactive = None;
        }
        let record = user_record.clone().unwrap_or_else(|| {
            RecordWrite::Create(NewRecordUser {
                name: name_of(&user_changes, person),
                inactive: plan.user.desired().is_some_and(|u| u.inactive.is_some()),
            })
        });
        write.user = Some((record, w));
    } else if agent_in_scope {
        // The agent needs a user record to be linked to: a bare one, outside any site.
        let w = UserWrite {
            fields: agent_identity(&agent_changes),
            ..UserWrite::default()
        };
        write.user = Some((
            RecordWrite::Create(NewRecordUser {
                name: name_of(&agent_changes, person),
                inactive: false,
            }),
            w,
        ));
    }
    if agent_record.is_some() || agent_changes.action == Action::Created {
        let mut w = agent_write(&agent_changes, rules, linked_agent);
        changes_log.extend(describe(RecordKind::Agent, &agent_changes));
        if deactivating(&agent_changes) && !rules.allow_deactivations {
            w.inactive = None;
            w.unassign_tickets = false;
        }
        let record = agent_record.clone().unwrap_or_else(|| {
            RecordWrite::Create(NewRecordAgent {
                name: name_of(&agent_changes, person),
                user_id: None,
                inactive: plan.agent.desired().is_some_and(|a| a.inactive.is_some()),
            })
        });
        write.agent = Some((record, w));
    }

    let action = combined_action(
        &user_changes,
        &agent_changes,
        user_record.is_some() || agent_record.is_some(),
    );
    let action = if deactivates && !rules.allow_deactivations {
        vocab::Action::Quarantined
    } else {
        action
    };
    let target = if agent_in_scope || linked_agent.is_some() {
        RecordKind::Agent
    } else {
        RecordKind::User
    };
    compose(&mut message, &plan, &user_changes, &agent_changes, person);
    let log = log_row(action, target, changes_log, message.finish());
    let new_site = plan
        .user
        .desired()
        .filter(|u| u.create_site)
        .map(|u| u.site.clone());
    let has_writes =
        write.user.as_ref().is_some_and(|(r, w)| {
            !matches!(r, RecordWrite::Existing(_)) || *w != UserWrite::default()
        }) || write.agent.as_ref().is_some_and(|(r, w)| {
            !matches!(r, RecordWrite::Existing(_)) || *w != AgentWrite::default()
        });
    Some(Evaluation {
        write: has_writes.then_some(write),
        log,
        deactivates,
        new_site,
        keeps_mark,
    })
}

/// The changes of a record the run does not write: none (`Unchanged` when the record exists).
fn no_changes(mapping: &Mapping, policy: ReconcilePolicy, exists: bool) -> Changes {
    // Reconciling "out of scope" against no record changes nothing.
    let mut changes = mapping.reconcile_user(&not_applied(), None, policy);
    if exists {
        changes.action = Action::Unchanged;
    }
    changes
}

/// The scope of a record the run does not write: no mapping is applied to it.
fn not_applied<T>() -> Scope<T> {
    Scope::Out(OutOfScope { misses: Vec::new() })
}

fn plan_person(mapping: &Mapping, directory: &RunDirectory, person: &MirrorUser) -> Plan {
    let removed = |why: &str| Plan {
        entra_id: Arc::from(person.entra_id.as_str()),
        user: Scope::Out(OutOfScope { misses: Vec::new() }),
        agent: Scope::Out(OutOfScope { misses: Vec::new() }),
        notes: vec![why.to_owned()],
    };
    if let Some(removal) = person.removed {
        return removed(match removal {
            crate::mirror::Removal::Changed => {
                "deleted in Entra (soft delete, restorable for 30 days)"
            }
            crate::mirror::Removal::Deleted => "deleted in Entra permanently",
            crate::mirror::Removal::Missing => "not returned by a complete full read of the tenant",
        });
    }
    let mut object = person.attributes.clone();
    object.insert("id".to_owned(), Value::String(person.entra_id.clone()));
    match mapping::EntraUser::from_graph(&object) {
        Ok(user) => mapping.plan(&user, directory),
        Err(_) => removed("the mirrored object has no id"),
    }
}

enum Candidates<'a> {
    None,
    One(&'a Unlinked),
    Several(String, Vec<i64>),
}

fn find_candidate(keys: Vec<MatchKey>, unlinked: &[Unlinked]) -> Candidates<'_> {
    for key in keys {
        let hits: Vec<&Unlinked> = unlinked
            .iter()
            .filter(|u| {
                unlinked_value(u, &key.field).is_some_and(|v| normalise_key(v) == key.value)
            })
            .collect();
        match hits.as_slice() {
            [] => continue,
            [one] => return Candidates::One(one),
            several => {
                return Candidates::Several(
                    key.field.halo_field().to_string(),
                    several.iter().map(|u| u.id).collect(),
                );
            }
        }
    }
    Candidates::None
}

fn unlinked_value<'a>(record: &'a Unlinked, field: &MatchingField) -> Option<&'a str> {
    match field {
        MatchingField::Email => record.emailaddress.as_deref(),
        MatchingField::Upn => record.login.as_deref(),
        MatchingField::Name => Some(record.name.as_str()),
        MatchingField::EmployeeNumber => record.employee_number.as_deref(),
        MatchingField::Custom(name) => record.custom_fields.get(&**name).map(String::as_str),
    }
}

/// What the inbound log says happened to a person: the weightier of their two records' actions
/// (out of scope with a record is `unchanged`).
fn combined_action(user: &Changes, agent: &Changes, exists: bool) -> vocab::Action {
    let rank = |a: Action| match a {
        Action::Deactivated => 6,
        Action::Reactivated => 5,
        Action::Created => 4,
        Action::Updated => 3,
        Action::Unchanged => 2,
        Action::OutOfScope => 1,
    };
    let best = if rank(agent.action) > rank(user.action) {
        agent.action
    } else {
        user.action
    };
    match best {
        Action::Deactivated => vocab::Action::Deactivated,
        Action::Reactivated => vocab::Action::Reactivated,
        Action::Created => vocab::Action::Created,
        Action::Updated => vocab::Action::Updated,
        Action::Unchanged => vocab::Action::Unchanged,
        Action::OutOfScope if exists => vocab::Action::Unchanged,
        Action::OutOfScope => vocab::Action::OutOfScope,
    }
}

fn matched(plan: &Plan) -> Value {
    let mut out = serde_json::Map::new();
    if let Scope::In(user) = &plan.user {
        out.insert(
            "site_mapping".into(),
            json!({"sequence": user.mapping.sequence, "name": &*user.mapping.name}),
        );
        out.insert(
            "site".into(),
            json!(format!("{}/{}", user.site.client, user.site.name)),
        );
        out.insert(
            "user_roles".into(),
            json!(user.roles.keys().map(|r| &**r).collect::<Vec<_>>()),
        );
        if !user.cabs.is_empty() {
            out.insert(
                "cabs".into(),
                json!(user.cabs.keys().map(|c| &**c).collect::<Vec<_>>()),
            );
        }
    }
    if let Scope::In(agent) = &plan.agent {
        out.insert(
            "agent_mapping".into(),
            json!({"sequence": agent.mapping.sequence, "name": &*agent.mapping.name}),
        );
        out.insert(
            "agent_roles".into(),
            json!(agent.roles.keys().map(|r| &**r).collect::<Vec<_>>()),
        );
        out.insert(
            "teams".into(),
            json!(agent.teams.keys().map(|t| &**t).collect::<Vec<_>>()),
        );
        if !agent.cabs.is_empty() {
            out.insert(
                "agent_cabs".into(),
                json!(agent.cabs.keys().map(|c| &**c).collect::<Vec<_>>()),
            );
        }
    }
    Value::Object(out)
}

/// The row's message: the plan's notes, why the person is out of scope, why a record is
/// deactivated (for a person removed from Entra, the removal).
fn compose(
    message: &mut Message,
    plan: &Plan,
    user: &Changes,
    agent: &Changes,
    person: &MirrorUser,
) {
    for note in &plan.notes {
        message.note(note);
    }
    if person.removed.is_none()
        && let (Scope::Out(out_user), Scope::Out(out_agent)) = (&plan.user, &plan.agent)
    {
        let user_reason = out_user.to_string();
        message.reason("out of scope", &user_reason);
        let agent_reason = out_agent.to_string();
        if agent_reason != user_reason {
            message.reason("not an agent", &agent_reason);
        }
    }
    for changes in [user, agent] {
        if let Some(Activation::Deactivate { why }) = &changes.activation {
            // A removed person is out of every mapping's scope; the removal is the reason.
            match (person.removed, plan.notes.first()) {
                (Some(_), Some(removal)) => message.reason("deactivated", removal),
                _ => message.reason("deactivated", why),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_entities_and_narrow_a_run() {
        let users_only = Targets::of_entities(&[Entity::Users, Entity::Licences]);
        assert_eq!(users_only, Targets::USERS);
        assert!(!Targets::of_entities(&[Entity::Licences]).any());
        assert!(!Targets::AGENTS.and(users_only).any());
        assert_eq!(Targets::BOTH.and(users_only), Targets::USERS);
        assert!(Targets::USERS.within(Targets::BOTH));
        assert!(!Targets::BOTH.within(Targets::USERS));
    }
}
