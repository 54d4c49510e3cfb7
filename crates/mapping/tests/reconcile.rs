//! Reconcile: plan + existing record → changes (roles, teams and CABs, matching keys, deactivation).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use mapping::{
    Action, Activation, EntraUser, ExistingCab, ExistingRecord, ExistingTeam, HaloField,
    LicenceType, Mapping, MatchingField, Plan, ReconcilePolicy, Site, Source, TeamFlags,
    normalise_key,
};
use serde_json::{Value, json};
use support::{FakeDirectory, mapping};

const COMPLETE_RUN: ReconcilePolicy = ReconcilePolicy {
    deactivate_out_of_scope: true,
};
const PARTIAL_RUN: ReconcilePolicy = ReconcilePolicy {
    deactivate_out_of_scope: false,
};

fn ada() -> EntraUser {
    EntraUser::new("ada")
        .with("displayName", "Ada Lovelace")
        .with("mail", "Ada@Contoso.com ")
        .with("userPrincipalName", "ada@contoso.com")
        .with("department", "Engineering")
        .with("manager", "grace")
        .with("accountEnabled", "true")
}

fn config(full_role_management: bool) -> Value {
    json!({
        "field_mapping": [{"target": "user", "entra": "department", "halo": "department"}],
        "site_mapping": [
            {"sequence": 5, "site": "*agent*", "group": "SG-Agents"},
            {"sequence": 10, "site": "Head Office", "user_role": "Standard User", "group": "SG-Staff"}
        ],
        "roles": {"agent": [{"group": "SG-L2", "role": "2nd Line"}], "full_role_management": full_role_management},
        "teams": [{"group": "SG-Infra", "team": "Infrastructure"}],
        "team_options": {"remove_agents_not_found": true},
        "cabs": [{"group": "SG-CAB", "cab": "Main CAB", "cab_role": "Approver"}],
        "options": {"matching_fields": ["email", "upn", "employee_number"]}
    })
}

fn planned(mapping: &Mapping, groups: &[&str], person: &EntraUser) -> Plan {
    mapping.plan(
        person,
        &FakeDirectory::new().member("ada", groups).agent("grace"),
    )
}

fn head_office() -> Site {
    Site {
        client: Arc::from("Contoso"),
        name: Arc::from("Head Office"),
    }
}

/// The user record the sync would have written for ada.
fn existing_user() -> ExistingRecord {
    let fields: BTreeMap<HaloField, Arc<str>> = [
        (HaloField::Name, "Ada Lovelace"),
        (HaloField::Emailaddress, "Ada@Contoso.com "),
        (HaloField::Login, "ada@contoso.com"),
        (HaloField::Department, "Engineering"),
    ]
    .into_iter()
    .map(|(field, value)| (field, Arc::from(value)))
    .collect();
    ExistingRecord {
        site: Some(head_office()),
        fields,
        roles: [(Arc::from("Standard User"), Source::Entra)]
            .into_iter()
            .collect(),
        ..ExistingRecord::default()
    }
}

fn existing_agent(roles: &[(&str, Source)]) -> ExistingRecord {
    ExistingRecord {
        fields: [
            (HaloField::Name, Arc::from("Ada Lovelace")),
            (HaloField::Emailaddress, Arc::from("Ada@Contoso.com ")),
        ]
        .into_iter()
        .collect(),
        roles: roles
            .iter()
            .map(|(role, source)| (Arc::from(*role), *source))
            .collect(),
        licence: Some(LicenceType::Named),
        ..ExistingRecord::default()
    }
}

#[test]
fn a_new_person_is_created_with_site_fields_roles_and_cabs() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff", "SG-CAB"], &ada());
    let changes = mapping.reconcile_user(&plan.user, None, COMPLETE_RUN);
    assert_eq!(changes.action, Action::Created);
    assert_eq!(
        changes
            .cabs_added
            .get("Main CAB")
            .cloned()
            .flatten()
            .as_deref(),
        Some("Approver")
    );
    insta::assert_json_snapshot!(changes);
}

#[test]
fn an_unchanged_person_has_no_changes() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff"], &ada());
    let changes = mapping.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Unchanged);
}

#[test]
fn only_changed_fields_are_written_before_and_after() {
    let mapping = mapping(config(false));
    let plan = planned(
        &mapping,
        &["SG-Staff"],
        &ada().with("department", "Research"),
    );
    let changes = mapping.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Updated);
    assert_eq!(changes.fields.len(), 1);
    insta::assert_json_snapshot!(changes);
}

#[test]
fn empty_values_keep_leaves_the_existing_value() {
    let mut keep = config(false);
    keep["options"]["empty_values"] = json!("keep");
    let mapping = mapping(keep);
    let plan = planned(&mapping, &["SG-Staff"], &ada().with("department", ""));
    let changes = mapping.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Unchanged);

    let clear = self::mapping(config(false));
    let plan = planned(&clear, &["SG-Staff"], &ada().with("department", ""));
    let changes = clear.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(changes.fields[&HaloField::Department].after, None);
}

#[test]
fn manual_roles_are_kept_without_full_role_management() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Agents", "SG-Staff"], &ada());
    let existing = existing_agent(&[("1st Line", Source::Entra), ("Managers", Source::Manual)]);
    let changes = mapping.reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN);
    let removed: Vec<&str> = changes.roles_removed.iter().map(|role| &**role).collect();
    assert_eq!(removed, ["1st Line"]);
    insta::assert_json_snapshot!(changes);
}

#[test]
fn manual_roles_are_removed_with_full_role_management() {
    let mapping = mapping(config(true));
    let plan = planned(&mapping, &["SG-Agents", "SG-L2"], &ada());
    let existing = existing_agent(&[("2nd Line", Source::Manual), ("Managers", Source::Manual)]);
    let changes = mapping.reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN);
    let removed: Vec<&str> = changes.roles_removed.iter().map(|role| &**role).collect();
    assert_eq!(removed, ["Managers"]);
    assert!(
        changes.roles_added.is_empty(),
        "a manually granted mapped role is kept as it is"
    );
    insta::assert_json_snapshot!(changes);
}

#[test]
fn an_agent_left_with_no_mapped_role_is_deactivated_under_full_role_management() {
    let mapping = mapping(config(true));
    let plan = planned(&mapping, &["SG-Agents"], &ada());
    let existing = existing_agent(&[("2nd Line", Source::Entra)]);
    let changes = mapping.reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Deactivated);
    insta::assert_json_snapshot!(changes);
}

#[test]
fn a_record_the_sync_deactivated_is_reactivated_when_back_in_scope() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff"], &ada());
    let existing = ExistingRecord {
        inactive: Some(Source::Entra),
        ..existing_user()
    };
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Reactivated);
    assert_eq!(changes.activation, Some(Activation::Reactivate));
}

#[test]
fn a_record_made_inactive_by_hand_is_never_reactivated() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff"], &ada());
    let existing = ExistingRecord {
        inactive: Some(Source::Manual),
        ..existing_user()
    };
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    assert_eq!(changes.activation, None);
    assert_eq!(changes.action, Action::Unchanged);
}

#[test]
fn a_keep_active_record_is_never_deactivated() {
    let mapping = mapping(config(false));
    let existing = ExistingRecord {
        keep_active: true,
        ..existing_user()
    };
    let disabled = planned(
        &mapping,
        &["SG-Staff"],
        &ada().with("accountEnabled", "false"),
    );
    assert_eq!(
        mapping
            .reconcile_user(&disabled.user, Some(&existing), COMPLETE_RUN)
            .activation,
        None
    );
    let gone = planned(&mapping, &[], &ada());
    assert_eq!(
        mapping
            .reconcile_user(&gone.user, Some(&existing), COMPLETE_RUN)
            .action,
        Action::OutOfScope
    );
}

#[test]
fn a_disabled_account_deactivates_an_active_record() {
    let mapping = mapping(config(false));
    let plan = planned(
        &mapping,
        &["SG-Staff"],
        &ada().with("accountEnabled", "false"),
    );
    let changes = mapping.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Deactivated);
    assert_eq!(
        changes.activation,
        Some(Activation::Deactivate {
            why: "account disabled in Entra".into()
        })
    );
}

#[test]
fn an_out_of_scope_record_is_deactivated_only_by_a_complete_run() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &[], &ada());
    let complete = mapping.reconcile_user(&plan.user, Some(&existing_user()), COMPLETE_RUN);
    assert_eq!(complete.action, Action::Deactivated);
    insta::assert_json_snapshot!(complete);
    let partial = mapping.reconcile_user(&plan.user, Some(&existing_user()), PARTIAL_RUN);
    assert_eq!(partial.action, Action::OutOfScope);
    assert_eq!(
        mapping
            .reconcile_user(&plan.user, None, COMPLETE_RUN)
            .action,
        Action::OutOfScope
    );
}

#[test]
fn remove_agents_not_found_removes_only_sync_granted_team_memberships() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Agents"], &ada());
    let flags = TeamFlags {
        can_be_assigned: true,
        sees_unassigned: true,
        sees_other_agents: false,
    };
    let mut existing = existing_agent(&[]);
    existing.teams.insert(
        Arc::from("Infrastructure"),
        ExistingTeam {
            flags,
            source: Source::Entra,
        },
    );
    existing.teams.insert(
        Arc::from("Service Desk"),
        ExistingTeam {
            flags,
            source: Source::Manual,
        },
    );
    let changes = mapping.reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN);
    let removed: Vec<&str> = changes.teams_removed.iter().map(|team| &**team).collect();
    assert_eq!(removed, ["Infrastructure"]);

    let mut keep = config(false);
    keep["team_options"]["remove_agents_not_found"] = json!(false);
    let keeping = self::mapping(keep);
    assert!(
        keeping
            .reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN)
            .teams_removed
            .is_empty()
    );
}

#[test]
fn team_flags_of_sync_granted_memberships_are_kept_in_step() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Agents", "SG-Infra"], &ada());
    let old = TeamFlags {
        can_be_assigned: false,
        sees_unassigned: false,
        sees_other_agents: false,
    };
    let mut existing = existing_agent(&[]);
    existing.teams.insert(
        Arc::from("Infrastructure"),
        ExistingTeam {
            flags: old,
            source: Source::Entra,
        },
    );
    let changes = mapping.reconcile_agent(&plan.agent, Some(&existing), COMPLETE_RUN);
    assert!(
        changes.teams_updated["Infrastructure"]
            .after
            .can_be_assigned
    );
}

#[test]
fn cab_memberships_follow_the_group_and_keep_manual_ones() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff"], &ada());
    let mut existing = existing_user();
    existing.cabs.insert(
        Arc::from("Main CAB"),
        ExistingCab {
            cab_role: Some(Arc::from("Member")),
            source: Source::Entra,
        },
    );
    existing.cabs.insert(
        Arc::from("Old CAB"),
        ExistingCab {
            cab_role: None,
            source: Source::Manual,
        },
    );
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    let removed: Vec<&str> = changes.cabs_removed.iter().map(|cab| &**cab).collect();
    assert_eq!(removed, ["Main CAB"]);

    let plan = planned(&mapping, &["SG-Staff", "SG-CAB"], &ada());
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    assert_eq!(
        changes.cabs_updated["Main CAB"].after.as_deref(),
        Some("Approver")
    );
}

#[test]
fn a_new_agent_without_a_licence_rule_is_concurrent_and_an_existing_one_keeps_its_type() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Agents"], &ada());
    let created = mapping.reconcile_agent(&plan.agent, None, COMPLETE_RUN);
    assert_eq!(
        created.licence.map(|change| change.after),
        Some(Some(LicenceType::Concurrent))
    );
    let kept = mapping.reconcile_agent(&plan.agent, Some(&existing_agent(&[])), COMPLETE_RUN);
    assert_eq!(kept.licence, None);
}

#[test]
fn matching_keys_follow_matching_fields_normalised_and_skip_empty_fields() {
    let mapping = mapping(config(false));
    let plan = planned(&mapping, &["SG-Staff"], &ada());
    let keys = mapping.matching_keys(&plan.user.desired().expect("user").fields);
    let keys: Vec<(MatchingField, &str)> = keys
        .iter()
        .map(|key| (key.field.clone(), key.value.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            (MatchingField::Email, "ada@contoso.com"),
            (MatchingField::Upn, "ada@contoso.com")
        ]
    );
    assert_eq!(normalise_key("  ÄDA@Contoso.COM "), "äda@contoso.com");
}
