//! The mapping engine's `Changes`, as store writes and inbound-log change entries.

use std::collections::BTreeSet;
use std::sync::Arc;

use mapping::{Action, Activation, Changes, HaloField, Site};
use serde_json::{Value, json};

use super::evaluate::EvaluationRules;
use crate::mirror::MirrorUser;
use crate::store::{
    AgentField, AgentSnapshot, AgentWrite, LicenceType, TeamFlags, UserField, UserWrite,
};
use crate::vocab::RecordKind;

/// The user record's text field a mapped Halo field writes, if it is one.
fn user_field(field: &HaloField) -> Option<UserField> {
    Some(match field {
        HaloField::Name => UserField::Name,
        HaloField::Firstname => UserField::Firstname,
        HaloField::Surname => UserField::Surname,
        HaloField::Emailaddress => UserField::Emailaddress,
        HaloField::Login => UserField::Login,
        HaloField::Phonenumber => UserField::Phonenumber,
        HaloField::Mobilenumber => UserField::Mobilenumber,
        HaloField::Jobtitle => UserField::Jobtitle,
        HaloField::Department => UserField::Department,
        HaloField::EmployeeNumber => UserField::EmployeeNumber,
        HaloField::Manager => UserField::Manager,
        HaloField::Creationtype => UserField::Creationtype,
        HaloField::LastSignIn => UserField::LastSignIn,
        _ => return None,
    })
}

/// The agent record's text field a mapped Halo field writes, if it is one.
fn agent_field(field: &HaloField) -> Option<AgentField> {
    Some(match field {
        HaloField::Name => AgentField::Name,
        HaloField::Emailaddress => AgentField::Emailaddress,
        HaloField::Phonenumber => AgentField::Phonenumber,
        HaloField::Jobtitle => AgentField::Jobtitle,
        HaloField::Creationtype => AgentField::Creationtype,
        _ => return None,
    })
}

fn text(v: &Option<Arc<str>>) -> Option<String> {
    v.as_deref().map(str::to_owned)
}

/// The user record's writes. Licence links are rewritten only when the person's SKUs differ
/// from `linked` (the SKUs linked now; `None` for a record not created yet).
pub fn user_write(
    changes: &Changes,
    rules: &EvaluationRules,
    person: &MirrorUser,
    linked: Option<&BTreeSet<String>>,
) -> UserWrite {
    let mut w = UserWrite::default();
    for (field, change) in &changes.fields {
        match field {
            HaloField::Custom(name) => w
                .custom_fields
                .push((name.to_string(), text(&change.after))),
            other => {
                if let Some(field) = user_field(other) {
                    w.fields.push((field, text(&change.after)));
                }
            }
        }
    }
    if let Some(site) = &changes.site {
        w.site = Some(
            site.after
                .as_ref()
                .map(|s| (s.client.to_string(), s.name.to_string())),
        );
    }
    w.inactive = activation(&changes.activation);
    (w.roles_added, w.roles_removed) = role_changes(changes);
    (w.cabs_set, w.cabs_removed) = cab_changes(changes);
    if rules.licences && changes.action != Action::OutOfScope && person.removed.is_none() {
        let skus: BTreeSet<String> = person
            .attributes
            .get("assignedLicenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("skuId").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if linked != Some(&skus) {
            w.licences = Some(skus.into_iter().collect());
        }
    }
    w
}

pub fn agent_write(
    changes: &Changes,
    rules: &EvaluationRules,
    existing: Option<&AgentSnapshot>,
) -> AgentWrite {
    let mut w = AgentWrite::default();
    for (field, change) in &changes.fields {
        match field {
            HaloField::Linemanager => w.linemanager = Some(text(&change.after)),
            HaloField::Team => w.default_team = Some(text(&change.after)),
            other => {
                if let Some(field) = agent_field(other) {
                    w.fields.push((field, text(&change.after)));
                }
            }
        }
    }
    if let Some(licence) = &changes.licence {
        w.licence_type = licence.after.map(|l| match l {
            mapping::LicenceType::Named => LicenceType::Named,
            mapping::LicenceType::Concurrent => LicenceType::Concurrent,
        });
        if existing.is_none() && w.licence_type == Some(LicenceType::Concurrent) {
            w.licence_type = None; // new agents are created concurrent
        }
    }
    w.inactive = activation(&changes.activation);
    w.unassign_tickets = w.inactive == Some(true) && rules.reassign_tickets;
    (w.roles_added, w.roles_removed) = role_changes(changes);
    w.teams_set = changes
        .teams_added
        .iter()
        .map(|(t, f)| (t.to_string(), flags(f)))
        .chain(
            changes
                .teams_updated
                .iter()
                .map(|(t, ch)| (t.to_string(), flags(&ch.after))),
        )
        .collect();
    w.teams_removed = changes
        .teams_removed
        .iter()
        .map(|t| t.to_string())
        .collect();
    (w.cabs_set, w.cabs_removed) = cab_changes(changes);
    w
}

/// Roles granted and removed, by name (users and agents alike).
fn role_changes(changes: &Changes) -> (Vec<String>, Vec<String>) {
    let names =
        |set: &std::collections::BTreeSet<Arc<str>>| set.iter().map(|r| r.to_string()).collect();
    (names(&changes.roles_added), names(&changes.roles_removed))
}

/// CABs joined or re-roled (with the CAB role), and CABs left (users and agents alike).
fn cab_changes(changes: &Changes) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let set = changes
        .cabs_added
        .iter()
        .map(|(c, r)| (c.to_string(), r.as_deref().map(str::to_owned)))
        .chain(
            changes
                .cabs_updated
                .iter()
                .map(|(c, ch)| (c.to_string(), text(&ch.after))),
        )
        .collect();
    (
        set,
        changes.cabs_removed.iter().map(|c| c.to_string()).collect(),
    )
}

fn flags(f: &mapping::TeamFlags) -> TeamFlags {
    TeamFlags {
        can_be_assigned: f.can_be_assigned,
        sees_unassigned: f.sees_unassigned,
        sees_other_agents: f.sees_other_agents,
    }
}

fn activation(a: &Option<Activation>) -> Option<bool> {
    match a {
        Some(Activation::Deactivate { .. }) => Some(true),
        Some(Activation::Reactivate) => Some(false),
        None => None,
    }
}

pub fn agent_identity(changes: &Changes) -> Vec<(UserField, Option<String>)> {
    changes
        .fields
        .iter()
        .filter(|(f, _)| matches!(f, HaloField::Emailaddress))
        .filter_map(|(f, c)| Some((user_field(f)?, text(&c.after))))
        .collect()
}

pub fn name_of(changes: &Changes, person: &MirrorUser) -> String {
    changes
        .fields
        .get(&HaloField::Name)
        .and_then(|c| c.after.as_deref().map(str::to_owned))
        .or_else(|| {
            person
                .attributes
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| person.upn().map(str::to_owned))
        .unwrap_or_else(|| person.entra_id.clone())
}

pub fn describe(record: RecordKind, changes: &Changes) -> Vec<Value> {
    let mut out = Vec::new();
    for (field, change) in &changes.fields {
        out.push(json!({"record": record, "field": field.to_string(), "before": change.before.as_deref(), "after": change.after.as_deref()}));
    }
    if let Some(site) = &changes.site {
        let show = |s: &Option<Site>| s.as_ref().map(|s| format!("{}/{}", s.client, s.name));
        out.push(json!({"record": record, "field": "site", "before": show(&site.before), "after": show(&site.after)}));
    }
    for role in &changes.roles_added {
        out.push(json!({"record": record, "field": "role", "before": null, "after": &**role}));
    }
    for role in &changes.roles_removed {
        out.push(json!({"record": record, "field": "role", "before": &**role, "after": null}));
    }
    for team in changes.teams_added.keys() {
        out.push(json!({"record": record, "field": "team", "before": null, "after": &**team}));
    }
    for team in &changes.teams_removed {
        out.push(json!({"record": record, "field": "team", "before": &**team, "after": null}));
    }
    for cab in changes.cabs_added.keys() {
        out.push(json!({"record": record, "field": "cab", "before": null, "after": &**cab}));
    }
    for cab in &changes.cabs_removed {
        out.push(json!({"record": record, "field": "cab", "before": &**cab, "after": null}));
    }
    if let Some(licence) = &changes.licence {
        out.push(json!({"record": record, "field": "licence_type", "before": licence.before, "after": licence.after}));
    }
    match &changes.activation {
        Some(Activation::Deactivate { .. }) => {
            out.push(json!({"record": record, "field": "inactive", "before": false, "after": true}))
        }
        Some(Activation::Reactivate) => {
            out.push(json!({"record": record, "field": "inactive", "before": true, "after": false}))
        }
        None => {}
    }
    out
}
