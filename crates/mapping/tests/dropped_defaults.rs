//! `drop_default_fields`: a connection does without some default field mappings. A dropped field
//! is left alone by the sync (neither written nor cleared), except `name`, which a new record
//! still gets.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use mapping::{Action, EntraUser, ExistingRecord, HaloField, Problem, ReconcilePolicy, compile};
use serde_json::{Value, json};
use support::{FakeDirectory, mapping, reference, spec};

const COMPLETE_RUN: ReconcilePolicy = ReconcilePolicy {
    deactivate_out_of_scope: true,
};

fn ada() -> EntraUser {
    EntraUser::new("ada")
        .with("displayName", "Ada Lovelace")
        .with("givenName", "Ada")
        .with("surname", "Lovelace")
        .with("mail", "ada@contoso.com")
        .with("userPrincipalName", "ada@contoso.com")
        .with("userType", "Member")
        .with("accountEnabled", "true")
}

fn problems(config: Value) -> Vec<Problem> {
    compile(&spec(config), &reference())
        .err()
        .unwrap_or_default()
}

fn paths(found: &[Problem]) -> Vec<&str> {
    found.iter().map(|p| p.path.as_str()).collect()
}

/// A user and an agent mapping for everyone.
fn both(drop: Value) -> Value {
    json!({
        "site_mapping": [{"sequence": 5, "site": "*agent*"}, {"sequence": 10, "site": "Head Office"}],
        "drop_default_fields": drop,
        "options": {"matching_fields": []}
    })
}

fn names(fields: &BTreeMap<HaloField, Option<Arc<str>>>) -> Vec<String> {
    fields.keys().map(ToString::to_string).collect()
}

fn record(fields: &[(HaloField, &str)]) -> ExistingRecord {
    ExistingRecord {
        site: Some(mapping::Site {
            client: Arc::from("Contoso"),
            name: Arc::from("Head Office"),
        }),
        fields: fields
            .iter()
            .map(|(field, value)| (field.clone(), Arc::from(*value)))
            .collect(),
        ..ExistingRecord::default()
    }
}

#[test]
fn dropped_defaults_are_left_out_of_the_plan_for_their_target_only() {
    let mapping = mapping(both(
        json!({"user": ["firstname", "surname"], "agent": ["emailaddress"]}),
    ));
    let plan = mapping.plan(&ada(), &FakeDirectory::new());
    let user = plan.user.desired().expect("in scope as a user");
    assert_eq!(names(&user.fields), ["name", "emailaddress", "login"]);
    let agent = plan.agent.desired().expect("in scope as an agent");
    assert_eq!(names(&agent.fields), ["name"]);
}

#[test]
fn a_dropped_field_is_neither_written_nor_cleared() {
    let mapping = mapping(both(json!({"user": ["firstname", "surname"]})));
    // Entra has no given name: with empty_values = clear a mapped firstname would be cleared.
    let person = ada().with("givenName", "").with("surname", "Byron");
    let plan = mapping.plan(&person, &FakeDirectory::new());
    let existing = record(&[
        (HaloField::Name, "Ada Lovelace"),
        (HaloField::Firstname, "Augusta"),
        (HaloField::Surname, "King"),
        (HaloField::Emailaddress, "ada@contoso.com"),
        (HaloField::Login, "ada@contoso.com"),
    ]);
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Unchanged, "{changes:#?}");
    assert!(changes.fields.is_empty(), "{:#?}", changes.fields);

    let created = mapping.reconcile_user(&plan.user, None, COMPLETE_RUN);
    assert_eq!(
        created.fields.keys().cloned().collect::<Vec<_>>(),
        [HaloField::Name, HaloField::Emailaddress, HaloField::Login],
        "a new record gets no firstname or surname either"
    );
}

#[test]
fn a_dropped_name_is_written_when_the_record_is_created_and_never_after() {
    let mapping = mapping(both(json!({"user": ["name"], "agent": ["name"]})));
    let plan = mapping.plan(&ada(), &FakeDirectory::new());
    let user = plan.user.desired().expect("in scope");
    assert!(!user.fields.contains_key(&HaloField::Name));
    assert_eq!(
        user.create_fields.get(&HaloField::Name).cloned().flatten(),
        Some(Arc::from("Ada Lovelace"))
    );

    let created = mapping.reconcile_user(&plan.user, None, COMPLETE_RUN);
    assert_eq!(created.action, Action::Created);
    let name = created.fields.get(&HaloField::Name).expect("a name");
    assert_eq!(name.after.as_deref(), Some("Ada Lovelace"));
    let agent = mapping.reconcile_agent(&plan.agent, None, COMPLETE_RUN);
    let name = agent.fields.get(&HaloField::Name).expect("an agent name");
    assert_eq!(name.after.as_deref(), Some("Ada Lovelace"));

    // Renamed by hand in the service desk: the sync leaves the name as it is.
    let existing = record(&[
        (HaloField::Name, "Countess of Lovelace"),
        (HaloField::Firstname, "Ada"),
        (HaloField::Surname, "Lovelace"),
        (HaloField::Emailaddress, "ada@contoso.com"),
        (HaloField::Login, "ada@contoso.com"),
    ]);
    let changes = mapping.reconcile_user(&plan.user, Some(&existing), COMPLETE_RUN);
    assert_eq!(changes.action, Action::Unchanged, "{changes:#?}");
}

#[test]
fn a_dropped_field_must_be_a_default_field_of_its_target_listed_once() {
    let found = problems(both(json!({
        "user": ["firstname", "department", "town", "firstname"],
        "agent": ["firstname", "custom.CFCostCentre"]
    })));
    assert_eq!(
        paths(&found),
        [
            "drop_default_fields.user[1]",
            "drop_default_fields.user[2]",
            "drop_default_fields.user[3]",
            "drop_default_fields.agent[0]",
            "drop_default_fields.agent[1]",
        ],
        "{found:#?}"
    );
    let defaults = "name, firstname, surname, emailaddress, login";
    assert_eq!(
        found[0].message,
        format!(
            "\"department\" has no default mapping to drop; the user fields with a default mapping are: {defaults}"
        )
    );
    assert_eq!(
        found[1].message,
        format!(
            "unknown Halo user field \"town\"; the user fields with a default mapping are: {defaults}"
        )
    );
    assert_eq!(found[2].message, "\"firstname\" is listed twice");
    assert!(
        found[3]
            .message
            .ends_with("the agent fields with a default mapping are: name, emailaddress"),
        "{}",
        found[3]
    );
}

#[test]
fn a_field_cannot_be_both_mapped_and_dropped() {
    let mut config = both(json!({"user": ["emailaddress"]}));
    config["field_mapping"] = json!([
        {"target": "agent", "entra": "mail", "halo": "emailaddress"},
        {"target": "user", "entra": "otherMails", "halo": "emailaddress"}
    ]);
    let found = problems(config);
    assert_eq!(paths(&found), ["drop_default_fields.user[0]"], "{found:#?}");
    assert!(
        found[0]
            .message
            .contains("mapped by field_mapping[1], which already replaces its default"),
        "{}",
        found[0]
    );
}

#[test]
fn a_matching_field_on_a_dropped_field_is_an_error() {
    let mut config = both(json!({"user": ["login", "name"]}));
    config["options"] = json!({"matching_fields": ["email", "upn", "name"]});
    let found = problems(config);
    assert_eq!(
        paths(&found),
        ["sync.matching_fields[1]", "sync.matching_fields[2]"],
        "{found:#?}"
    );
    assert!(
        found[0].message.contains(
            "matching field \"upn\" compares the user field login, which drop_default_fields.user drops"
        ),
        "{}",
        found[0]
    );
}

#[test]
fn dropped_defaults_are_not_read_from_graph() {
    let mapping = mapping(both(json!({"user": ["firstname", "surname"]})));
    let attributes: Vec<&str> = mapping.attributes().collect();
    assert!(!attributes.contains(&"givenName"), "{attributes:?}");
    assert!(!attributes.contains(&"surname"), "{attributes:?}");
    assert!(attributes.contains(&"displayName"), "{attributes:?}");
}
