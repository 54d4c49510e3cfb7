//! One person through plan → match (§4.4) → reconcile → writes and an inbound-log row.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mapping::{
    Action, Activation, Changes, ExistingCab, ExistingRecord, ExistingTeam, HaloField, Mapping,
    MatchKey, MatchingField, OutOfScope, Plan, ReconcilePolicy, Scope, Site, normalise_key,
};
use serde_json::{Value, json};

use super::directory::RunDirectory;
use crate::mirror::{MirrorUser, Notification};
use crate::store::{
    AgentSnapshot, AgentWrite, InboundRow, LicenceType, NewRecordAgent, NewRecordUser, People,
    PersonWrite, RecordWrite, Source, TeamFlags, Unlinked, UserSnapshot, UserWrite,
};

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
}

/// Evaluation settings for a run.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The connection.
    pub connection_id: String,
    /// The run.
    pub run_id: Option<i64>,
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
}

/// Plans, matches and reconciles one mirrored person against the people snapshot.
pub fn evaluate(
    mapping: &Mapping,
    directory: &RunDirectory,
    people: &People,
    rules: &Rules,
    person: &MirrorUser,
    notification: Notification,
    now: DateTime<Utc>,
) -> Evaluation {
    let entra_id = person.entra_id.as_str();
    let plan = plan_person(mapping, directory, person);
    let policy = ReconcilePolicy {
        deactivate_out_of_scope: rules.deactivate_missing,
    };
    let mut log = InboundRow {
        id: 0,
        run_id: rules.run_id,
        connection_id: rules.connection_id.clone(),
        source: rules.source.to_owned(),
        logged_at: now,
        entra_id: Some(entra_id.to_owned()),
        upn: person.upn().map(str::to_owned),
        target: None,
        notification: notification.as_str().to_owned(),
        matched: matched(&plan),
        action: String::new(),
        changes: Value::Array(Vec::new()),
        message: None,
    };

    // §4.4: the Entra id first, then each matching field against unlinked records.
    let linked_user = people.users.get(entra_id);
    let mut user_record: Option<RecordWrite<NewRecordUser>> =
        linked_user.map(|u| RecordWrite::Existing(u.id));
    let mut adopted_user: Option<&Unlinked> = None;
    if linked_user.is_none()
        && let Scope::In(desired) = &plan.user
    {
        match find_candidate(
            mapping.matching_keys(&desired.fields),
            &people.unlinked_users,
        ) {
            Candidates::One(record) => {
                adopted_user = Some(record);
                user_record = Some(RecordWrite::Adopt(record.id));
            }
            Candidates::Several(field, ids) => {
                log.action = "conflict".to_owned();
                log.target = Some("user".to_owned());
                log.message = Some(format!(
                    "{} records without an Entra link share this person's {field}: users {}; nothing was created or merged",
                    ids.len(),
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Evaluation {
                    write: None,
                    log,
                    deactivates: false,
                    new_site: None,
                };
            }
            Candidates::None => {}
        }
    }
    let existing_user = linked_user
        .map(user_existing)
        .or_else(|| adopted_user.map(unlinked_existing));
    let mut user_changes = mapping.reconcile_user(&plan.user, existing_user.as_ref(), policy);
    // An in-scope agent keeps the user record it is linked to even when no user mapping matches.
    let agent_in_scope = plan.agent.desired().is_some();
    if agent_in_scope && plan.user.desired().is_none() && user_changes.activation.is_some() {
        user_changes.activation = None;
        user_changes.action = Action::Unchanged;
    }

    let linked_agent = people.agents.get(entra_id);
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
    let agent_changes = mapping.reconcile_agent(&plan.agent, existing_agent.as_ref(), policy);

    let deactivating = |c: &Changes| matches!(c.activation, Some(Activation::Deactivate { .. }));
    let deactivates = (deactivating(&user_changes) && user_record.is_some())
        || (deactivating(&agent_changes) && agent_record.is_some());

    let mut write = PersonWrite {
        entra_id: entra_id.to_owned(),
        user: None,
        agent: None,
    };
    let mut changes_log = Vec::new();
    let user_known = user_record.is_some() || user_changes.action == Action::Created;
    if user_known {
        let mut w = user_write(&user_changes, rules, person);
        changes_log.extend(describe("user", &user_changes));
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
        changes_log.extend(describe("agent", &agent_changes));
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
    log.action = if deactivates && !rules.allow_deactivations {
        "quarantined".to_owned()
    } else {
        action.to_owned()
    };
    log.target = Some(
        if agent_in_scope || linked_agent.is_some() {
            "agent"
        } else {
            "user"
        }
        .to_owned(),
    );
    log.changes = Value::Array(changes_log);
    log.message = message(&plan, &user_changes, &agent_changes, person, notification);
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
    Evaluation {
        write: has_writes.then_some(write),
        log,
        deactivates,
        new_site,
    }
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

/// The user columns the sync writes, by Halo field.
pub fn user_column(field: &HaloField) -> Option<&'static str> {
    Some(match field {
        HaloField::Name => "name",
        HaloField::Firstname => "firstname",
        HaloField::Surname => "surname",
        HaloField::Emailaddress => "emailaddress",
        HaloField::Login => "login",
        HaloField::Phonenumber => "phonenumber",
        HaloField::Mobilenumber => "mobilenumber",
        HaloField::Jobtitle => "jobtitle",
        HaloField::Department => "department",
        HaloField::EmployeeNumber => "employee_number",
        HaloField::Manager => "manager",
        HaloField::Creationtype => "creationtype",
        HaloField::LastSignIn => "last_sign_in",
        _ => return None,
    })
}

fn agent_column(field: &HaloField) -> Option<&'static str> {
    Some(match field {
        HaloField::Name => "name",
        HaloField::Emailaddress => "emailaddress",
        HaloField::Phonenumber => "phonenumber",
        HaloField::Jobtitle => "jobtitle",
        HaloField::Creationtype => "creationtype",
        _ => return None,
    })
}

fn source(s: Source) -> mapping::Source {
    match s {
        Source::Entra => mapping::Source::Entra,
        Source::Manual => mapping::Source::Manual,
    }
}

fn inactive(flag: bool, reason: Option<&str>) -> Option<mapping::Source> {
    flag.then(|| {
        if reason == Some("entra") {
            mapping::Source::Entra
        } else {
            mapping::Source::Manual
        }
    })
}

fn cabs(cabs: &BTreeMap<String, (Option<String>, Source)>) -> BTreeMap<Arc<str>, ExistingCab> {
    cabs.iter()
        .map(|(cab, (role, s))| {
            (
                Arc::from(cab.as_str()),
                ExistingCab {
                    cab_role: role.as_deref().map(Arc::from),
                    source: source(*s),
                },
            )
        })
        .collect()
}

fn roles(roles: &BTreeMap<String, Source>) -> BTreeMap<Arc<str>, mapping::Source> {
    roles
        .iter()
        .map(|(r, s)| (Arc::from(r.as_str()), source(*s)))
        .collect()
}

fn user_existing(u: &UserSnapshot) -> ExistingRecord {
    let f = &u.fields;
    let mut fields = BTreeMap::new();
    let mut put = |field: HaloField, value: Option<&String>| {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    };
    put(HaloField::Name, Some(&f.name));
    put(HaloField::Firstname, f.firstname.as_ref());
    put(HaloField::Surname, f.surname.as_ref());
    put(HaloField::Emailaddress, f.emailaddress.as_ref());
    put(HaloField::Login, f.login.as_ref());
    put(HaloField::Phonenumber, f.phonenumber.as_ref());
    put(HaloField::Mobilenumber, f.mobilenumber.as_ref());
    put(HaloField::Jobtitle, f.jobtitle.as_ref());
    put(HaloField::Department, f.department.as_ref());
    put(HaloField::EmployeeNumber, f.employee_number.as_ref());
    put(HaloField::Manager, f.manager.as_ref());
    put(HaloField::Creationtype, f.creationtype.as_ref());
    put(HaloField::LastSignIn, f.last_sign_in.as_ref());
    for (name, value) in &u.custom_fields {
        fields.insert(
            HaloField::Custom(Arc::from(name.as_str())),
            Arc::from(value.as_str()),
        );
    }
    ExistingRecord {
        site: u.site.as_ref().map(|(c, s)| Site {
            client: Arc::from(c.as_str()),
            name: Arc::from(s.as_str()),
        }),
        fields,
        roles: roles(&u.roles),
        teams: BTreeMap::new(),
        cabs: cabs(&u.cabs),
        inactive: inactive(u.inactive, u.inactive_reason.as_deref()),
        keep_active: u.keep_active,
        licence: None,
    }
}

fn unlinked_existing(u: &Unlinked) -> ExistingRecord {
    let mut fields = BTreeMap::new();
    fields.insert(HaloField::Name, Arc::from(u.name.as_str()));
    for (field, value) in [
        (HaloField::Emailaddress, &u.emailaddress),
        (HaloField::Login, &u.login),
        (HaloField::EmployeeNumber, &u.employee_number),
    ] {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    }
    // An adopted record's activity and roles were set by hand; the sync treats them as manual.
    ExistingRecord {
        fields,
        ..ExistingRecord::default()
    }
}

fn agent_existing(a: &AgentSnapshot) -> ExistingRecord {
    let mut fields = BTreeMap::new();
    fields.insert(HaloField::Name, Arc::from(a.name.as_str()));
    for (field, value) in [
        (HaloField::Emailaddress, &a.emailaddress),
        (HaloField::Phonenumber, &a.phonenumber),
        (HaloField::Jobtitle, &a.jobtitle),
        (HaloField::Creationtype, &a.creationtype),
        (HaloField::Linemanager, &a.linemanager_entra_id),
        (HaloField::Team, &a.default_team),
    ] {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    }
    let teams = a
        .teams
        .iter()
        .map(|(t, (flags, s))| {
            let flags = mapping::TeamFlags {
                can_be_assigned: flags.can_be_assigned,
                sees_unassigned: flags.sees_unassigned,
                sees_other_agents: flags.sees_other_agents,
            };
            (
                Arc::from(t.as_str()),
                ExistingTeam {
                    flags,
                    source: source(*s),
                },
            )
        })
        .collect();
    ExistingRecord {
        site: None,
        fields,
        roles: roles(&a.roles),
        teams,
        cabs: cabs(&a.cabs),
        inactive: inactive(a.inactive, a.inactive_reason.as_deref()),
        keep_active: a.keep_active,
        licence: Some(match a.licence_type {
            LicenceType::Named => mapping::LicenceType::Named,
            LicenceType::Concurrent => mapping::LicenceType::Concurrent,
        }),
    }
}

fn text(v: &Option<Arc<str>>) -> Option<String> {
    v.as_deref().map(str::to_owned)
}

fn user_write(changes: &Changes, rules: &Rules, person: &MirrorUser) -> UserWrite {
    let mut w = UserWrite::default();
    for (field, change) in &changes.fields {
        match field {
            HaloField::Custom(name) => w
                .custom_fields
                .push((name.to_string(), text(&change.after))),
            other => {
                if let Some(column) = user_column(other) {
                    w.fields.push((column, text(&change.after)));
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
    w.roles_added = changes.roles_added.iter().map(|r| r.to_string()).collect();
    w.roles_removed = changes
        .roles_removed
        .iter()
        .map(|r| r.to_string())
        .collect();
    w.cabs_set = changes
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
    w.cabs_removed = changes.cabs_removed.iter().map(|c| c.to_string()).collect();
    if rules.licences && changes.action != Action::OutOfScope && person.removed.is_none() {
        let mut skus: Vec<String> = person
            .attributes
            .get("assignedLicenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("skuId").and_then(Value::as_str).map(str::to_owned))
            .collect();
        skus.sort();
        w.licences = Some(skus);
    }
    w
}

fn agent_write(changes: &Changes, rules: &Rules, existing: Option<&AgentSnapshot>) -> AgentWrite {
    let mut w = AgentWrite::default();
    for (field, change) in &changes.fields {
        match field {
            HaloField::Linemanager => w.linemanager = Some(text(&change.after)),
            HaloField::Team => w.default_team = Some(text(&change.after)),
            other => {
                if let Some(column) = agent_column(other) {
                    w.fields.push((column, text(&change.after)));
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
    w.roles_added = changes.roles_added.iter().map(|r| r.to_string()).collect();
    w.roles_removed = changes
        .roles_removed
        .iter()
        .map(|r| r.to_string())
        .collect();
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
    w.cabs_set = changes
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
    w.cabs_removed = changes.cabs_removed.iter().map(|c| c.to_string()).collect();
    w
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

fn agent_identity(changes: &Changes) -> Vec<(&'static str, Option<String>)> {
    changes
        .fields
        .iter()
        .filter(|(f, _)| matches!(f, HaloField::Emailaddress))
        .filter_map(|(f, c)| Some((user_column(f)?, text(&c.after))))
        .collect()
}

fn name_of(changes: &Changes, person: &MirrorUser) -> String {
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

fn combined_action(user: &Changes, agent: &Changes, exists: bool) -> &'static str {
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
        Action::Deactivated => "deactivated",
        Action::Reactivated => "reactivated",
        Action::Created => "created",
        Action::Updated => "updated",
        Action::Unchanged => "unchanged",
        Action::OutOfScope if exists => "unchanged",
        Action::OutOfScope => "out-of-scope",
    }
}

fn describe(record: &str, changes: &Changes) -> Vec<Value> {
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

fn message(
    plan: &Plan,
    user: &Changes,
    agent: &Changes,
    person: &MirrorUser,
    notification: Notification,
) -> Option<String> {
    let mut parts: Vec<String> = plan.notes.clone();
    if person.removed.is_none()
        && let (Scope::Out(out_user), Scope::Out(out_agent)) = (&plan.user, &plan.agent)
    {
        parts.push(format!("out of scope: {out_user}"));
        let agent_reason = out_agent.to_string();
        if !agent_reason.is_empty() && agent_reason != out_user.to_string() {
            parts.push(format!("not an agent: {agent_reason}"));
        }
    }
    for changes in [user, agent] {
        if let Some(Activation::Deactivate { why }) = &changes.activation
            && !why.is_empty()
        {
            parts.push(format!("deactivated: {why}"));
        }
    }
    if parts.is_empty() && notification == Notification::FullPass {
        return None;
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
