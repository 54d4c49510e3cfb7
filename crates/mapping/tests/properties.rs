//! Properties: planning is deterministic and never panics, whatever the attribute values.

mod support;

use mapping::{CATALOGUE, EntraUser, Mapping, ReconcilePolicy};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::{FakeDirectory, mapping};

/// A config that touches every rule: all three kinds, filters incl. a regex, agents, roles,
/// teams, CABs, licences, custom fields and set values.
fn busy_mapping() -> Mapping {
    mapping(json!({
        "field_mapping": [
            {"target": "user", "entra": "department", "halo": "department"},
            {"target": "user", "entra": "assignedLicenses", "halo": "jobtitle"},
            {"target": "user", "entra": "onPremisesExtensionAttributes.extensionAttribute1", "halo": "custom.CFCostCentre"},
            {"target": "user", "entra": "signInActivity.lastSignInDateTime", "halo": "last_sign_in"},
            {"target": "agent", "entra": "manager", "halo": "linemanager"},
            {"target": "agent", "entra": "department", "halo": "team"}
        ],
        "site_mapping": [
            {"sequence": 1, "site": "*agent*", "external_users": "licensed_only",
             "where": [{"entra": "jobTitle", "op": "matches", "value": "(?i)^agent"}]},
            {"sequence": 10, "site": "Head Office", "group": "SG-Staff", "external_users": "include",
             "where": [{"entra": "country", "op": "in", "value": ["GB", "ÉIRE"]}], "set": {"custom.CFEmployeeNumber": "x"}},
            {"sequence": 20, "kind": "organisation_by_field", "organisation": "Contoso", "site_from": "officeLocation",
             "where": [{"entra": "city", "op": "contains", "value": "ö"}]},
            {"sequence": 30, "kind": "site_by_field", "site_field": "name", "entra": "city", "no_match": "skip"},
            {"sequence": 40, "site": "London", "organisation": "Contoso",
             "where": [{"entra": "accountEnabled", "op": "ne", "value": false}, {"entra": "mail", "op": "ends_with", "value": ".COM"}]}
        ],
        "roles": {"agent": [{"group": "SG-L2", "role": "2nd Line"}], "user": [{"group": "SG-Staff", "role": "Senior Staff"}],
                  "full_role_management": true, "role_for_users_without_manager": "No Manager"},
        "teams": [{"group": "SG-L2", "team": "Service Desk"}],
        "cabs": [{"group": "SG-CAB", "cab": "Main CAB", "cab_role": "Member"}],
        "agent_licences": {"enabled": true, "inactive_roles": ["Leavers"], "named_licence_roles": ["2nd Line"]}
    }))
}

/// Any JSON value, nested a little: strings with unicode, empty and long ones, numbers, nulls.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".*".prop_map(Value::String),
        Just(Value::String(String::new())),
        Just(Value::String("  ".into())),
        "[a-zA-Zé ]{1,8}".prop_map(|s| Value::String(s.repeat(2000))),
        Just(Value::String("GB".into())),
        Just(Value::String("Guest".into())),
        Just(Value::String("London".into())),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z0-9]{1,20}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A Graph user object: an id and any values under catalogue names (and a few specials).
fn graph_user() -> impl Strategy<Value = Map<String, Value>> {
    let names: Vec<&'static str> = CATALOGUE
        .iter()
        .copied()
        .chain([
            "manager@delta",
            "signInActivity",
            "onPremisesExtensionAttributes",
            "extension_0123456789abcdef0123456789abcdef_x",
        ])
        .collect();
    (
        prop::collection::btree_map(prop::sample::select(names), any_json(), 0..20),
        ".{1,40}",
    )
        .prop_map(|(values, id)| {
            let mut object: Map<String, Value> = values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
            object.insert("id".into(), Value::String(id));
            object
        })
}

fn directory_for(id: &str, groups: &[&str]) -> FakeDirectory {
    FakeDirectory::new()
        .member(id, groups)
        .member("g:SG-CAB", &["SG-Staff"])
        .agent("m1")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn planning_never_panics_and_is_deterministic(object in graph_user(), groups in prop::sample::subsequence(vec!["SG-Staff", "SG-L2", "SG-CAB"], 0..3)) {
        let Ok(person) = EntraUser::from_graph(&object) else {
            return Ok(());
        };
        let mapping = busy_mapping();
        let directory = directory_for(person.id(), &groups);
        let first = mapping.plan(&person, &directory);
        let second = mapping.plan(&person.clone(), &directory.clone());
        prop_assert_eq!(&first, &second);
        let json = serde_json::to_string(&first).expect("a plan serialises");
        prop_assert_eq!(json, serde_json::to_string(&second).expect("a plan serialises"));

        let policy = ReconcilePolicy { deactivate_out_of_scope: true };
        let user = mapping.reconcile_user(&first.user, None, policy);
        prop_assert_eq!(user, mapping.reconcile_user(&second.user, None, policy));
        let agent = mapping.reconcile_agent(&first.agent, None, policy);
        prop_assert_eq!(agent, mapping.reconcile_agent(&second.agent, None, policy));
    }

    #[test]
    fn arbitrary_text_in_any_attribute_never_panics(values in prop::collection::vec((prop::sample::select(CATALOGUE.to_vec()), ".*"), 0..40)) {
        let mut person = EntraUser::new("p");
        for (name, value) in &values {
            person.set(name, Some(value));
        }
        let mapping = busy_mapping();
        let plan = mapping.plan(&person, &directory_for("p", &["SG-Staff", "SG-L2"]));
        prop_assert_eq!(&plan, &mapping.plan(&person, &directory_for("p", &["SG-Staff", "SG-L2"])));
        if let Some(user) = plan.user.desired() {
            let _ = mapping.matching_keys(&user.fields);
        }
    }
}
