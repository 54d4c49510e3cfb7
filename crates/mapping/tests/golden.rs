//! Golden plans: one scenario per mapping rule, snapshotted with insta. Each test also
//! asserts the value that makes its point, so a wrong snapshot cannot be accepted unnoticed.

mod support;

use mapping::{EntraUser, InactiveReason, LicenceType, Plan, Scope};
use serde_json::{Value, json};
use support::{FakeDirectory, mapping};

/// A member of staff with every usual attribute.
fn ada() -> EntraUser {
    EntraUser::new("ada")
        .with("displayName", "Ada Lovelace")
        .with("givenName", "Ada")
        .with("surname", "Lovelace")
        .with("mail", "ada@contoso.com")
        .with("userPrincipalName", "ada@contoso.com")
        .with("department", "Engineering")
        .with("jobTitle", "Analyst")
        .with("officeLocation", "Manchester")
        .with("city", "London")
        .with("country", "GB")
        .with("userType", "Member")
        .with("accountEnabled", "true")
        .with("manager", "grace")
}

/// A guest from a partner tenant.
fn guest() -> EntraUser {
    EntraUser::new("gus")
        .with("displayName", "Gus Guest")
        .with("mail", "gus@partner.example")
        .with(
            "userPrincipalName",
            "gus_partner.example#EXT#@contoso.onmicrosoft.com",
        )
        .with("userType", "Guest")
        .with("accountEnabled", "true")
}

fn user_fields() -> Value {
    json!([
        {"target": "user", "entra": "department", "halo": "department"},
        {"target": "user", "entra": "jobTitle", "halo": "jobtitle"},
        {"target": "agent", "entra": "jobTitle", "halo": "jobtitle"}
    ])
}

fn plan(config: Value, person: &EntraUser, directory: &FakeDirectory) -> Plan {
    mapping(config).plan(person, directory)
}

fn user_site(plan: &Plan) -> Option<(u32, String)> {
    plan.user
        .desired()
        .map(|user| (user.mapping.sequence, user.site.name.to_string()))
}

fn out_reason<T>(scope: &Scope<T>) -> String {
    match scope {
        Scope::Out(out) => out.to_string(),
        Scope::In(_) => "in scope".to_owned(),
    }
}

// --- Scope: site mappings in sequence -----------------------------------------------------------

#[test]
fn two_site_mappings_match_and_the_lowest_sequence_wins() {
    let config = json!({
        "field_mapping": user_fields(),
        "site_mapping": [
            {"sequence": 20, "site": "London", "organisation": "Contoso"},
            {"sequence": 10, "site": "Head Office", "user_role": "Standard User"}
        ]
    });
    let plan = plan(config, &ada(), &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((10, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_group_filter_passes_over_a_non_member_to_the_next_mapping() {
    let config = json!({
        "site_mapping": [
            {"sequence": 10, "name": "Helpdesk users", "site": "Head Office", "group": "SG-Helpdesk-Users"},
            {"sequence": 20, "site": "London"}
        ]
    });
    let plan = plan(config, &ada(), &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((20, "London".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn where_filters_are_anded_with_the_group() {
    let config = json!({
        "site_mapping": [
            {"sequence": 10, "site": "Head Office", "group": "SG-Users",
             "where": [{"entra": "country", "op": "eq", "value": "gb"},
                       {"entra": "department", "op": "starts_with", "value": "Sales"}]},
            {"sequence": 20, "site": "London", "group": "SG-Users",
             "where": [{"entra": "country", "op": "in", "value": ["GB", "IE"]},
                       {"entra": "userPrincipalName", "op": "matches", "value": "^[a-z]+@contoso\\.com$"},
                       {"entra": "employeeId", "op": "absent"}]}
        ]
    });
    let directory = FakeDirectory::new().member("ada", &["SG-Users"]);
    let plan = plan(config, &ada(), &directory);
    assert_eq!(user_site(&plan), Some((20, "London".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn no_matching_mapping_puts_the_person_out_of_scope_with_every_reason() {
    let config = json!({
        "site_mapping": [
            {"sequence": 10, "site": "Head Office", "group": "SG-Users"},
            {"sequence": 20, "site": "London", "where": [{"entra": "country", "op": "ne", "value": "GB"}]},
            {"sequence": 30, "kind": "organisation_by_field", "organisation": "Fabrikam", "site_from": "companyName"}
        ]
    });
    let plan = plan(config, &ada(), &FakeDirectory::new());
    assert_eq!(
        out_reason(&plan.user),
        "not a member of \"SG-Users\" on mapping 10; where country ne \"GB\" not met on mapping 20; companyName is empty on mapping 30"
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn organisation_by_field_creates_a_site_named_by_the_attribute() {
    let config = json!({
        "site_mapping": [
            {"sequence": 10, "kind": "organisation_by_field", "organisation": "Contoso", "site_from": "officeLocation"}
        ]
    });
    let plan = plan(config, &ada(), &FakeDirectory::new());
    let user = plan.user.desired().expect("in scope");
    assert_eq!(&*user.site.name, "Manchester");
    assert!(user.create_site);
    insta::assert_json_snapshot!(plan);
}

#[test]
fn organisation_by_field_falls_through_on_an_empty_value() {
    let config = json!({
        "site_mapping": [
            {"sequence": 10, "kind": "organisation_by_field", "organisation": "Contoso", "site_from": "officeLocation"},
            {"sequence": 20, "site": "Head Office"}
        ]
    });
    let person = ada().with("officeLocation", "   ");
    let plan = plan(config, &person, &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((20, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn site_by_field_places_the_person_at_the_existing_site_named_by_the_attribute() {
    let config = json!({
        "site_mapping": [
            {"sequence": 30, "kind": "site_by_field", "site_field": "name", "entra": "city", "no_match": "skip"}
        ]
    });
    let plan = plan(config, &ada().with("city", "LONDON"), &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((30, "London".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn site_by_field_uses_the_default_site_when_no_site_matches() {
    let config = json!({
        "site_mapping": [
            {"sequence": 30, "kind": "site_by_field", "site_field": "name", "entra": "city",
             "no_match": {"default_site": "Head Office"}}
        ]
    });
    let plan = plan(config, &ada().with("city", "Paris"), &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((30, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn site_by_field_skips_when_no_site_matches() {
    let config = json!({
        "site_mapping": [
            {"sequence": 30, "kind": "site_by_field", "site_field": "name", "entra": "city", "no_match": "skip"}
        ]
    });
    let plan = plan(config, &ada().with("city", "Paris"), &FakeDirectory::new());
    assert_eq!(
        out_reason(&plan.user),
        "no site with name \"Paris\"; no_match = skip on mapping 30"
    );
    insta::assert_json_snapshot!(plan);
}

/// A site named by the user record's department, which the field mappings take from
/// `companyName` rather than Entra's own department.
fn site_by_user_department(no_match: Value) -> Value {
    json!({
        "field_mapping": [{"target": "user", "entra": "companyName", "halo": "department"}],
        "site_mapping": [
            {"sequence": 30, "kind": "site_by_field", "site_field": "name", "user_field": "department",
             "no_match": no_match, "set": {"department": "Head Office"}}
        ]
    })
}

#[test]
fn site_by_field_places_the_person_at_the_site_named_by_a_user_field() {
    let person = ada().with("companyName", " london ");
    let plan = plan(
        site_by_user_department(json!("skip")),
        &person,
        &FakeDirectory::new(),
    );
    assert_eq!(user_site(&plan), Some((30, "London".to_owned())));
    let user = plan.user.desired().expect("in scope");
    assert_eq!(&*user.mapping.name, "site by name = user department");
    insta::assert_json_snapshot!(plan);
}

#[test]
fn site_by_field_on_a_user_field_skips_when_no_site_matches() {
    // Entra's department is "Engineering" and the mapping's `set` names "Head Office": neither
    // is the user field's mapped value, which alone is compared.
    let paris = plan(
        site_by_user_department(json!("skip")),
        &ada().with("companyName", "Paris"),
        &FakeDirectory::new(),
    );
    assert_eq!(
        out_reason(&paris.user),
        "no site with name \"Paris\"; no_match = skip on mapping 30"
    );
    let empty = plan(
        site_by_user_department(json!("skip")),
        &ada(),
        &FakeDirectory::new(),
    );
    assert_eq!(
        out_reason(&empty.user),
        "no site with name from an empty user department; no_match = skip on mapping 30"
    );
}

#[test]
fn site_by_field_on_a_user_field_uses_the_default_site_when_no_site_matches() {
    let person = ada().with("companyName", "Paris");
    let plan = plan(
        site_by_user_department(json!({"default_site": "Head Office"})),
        &person,
        &FakeDirectory::new(),
    );
    assert_eq!(user_site(&plan), Some((30, "Head Office".to_owned())));
    let user = plan.user.desired().expect("in scope");
    assert_eq!(
        user.fields
            .get(&mapping::HaloField::Department)
            .cloned()
            .flatten()
            .as_deref(),
        Some("Head Office"),
        "the mapping's set still applies to the record it places"
    );
    insta::assert_json_snapshot!(plan);
}

// --- External users ------------------------------------------------------------------------------

fn guest_policy(policy: &str) -> Value {
    json!({"site_mapping": [{"sequence": 10, "site": "Head Office", "external_users": policy}]})
}

#[test]
fn a_guest_is_out_of_scope_when_external_users_are_excluded() {
    let plan = plan(guest_policy("exclude"), &guest(), &FakeDirectory::new());
    assert_eq!(
        out_reason(&plan.user),
        "guest; external users excluded on mapping 10"
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_guest_is_in_scope_when_external_users_are_included() {
    let plan = plan(guest_policy("include"), &guest(), &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((10, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_guest_without_licence_is_out_of_scope_when_licensed_only() {
    let plan = plan(
        guest_policy("licensed_only"),
        &guest(),
        &FakeDirectory::new(),
    );
    assert_eq!(
        out_reason(&plan.user),
        "guest without licence; licensed_only on mapping 10"
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_licensed_guest_is_in_scope_when_licensed_only() {
    let person = guest().with("assignedLicenses", "6fd2c87f-b296-42f0-b197-1e91e994b900");
    let plan = plan(
        guest_policy("licensed_only"),
        &person,
        &FakeDirectory::new(),
    );
    assert_eq!(user_site(&plan), Some((10, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

// --- Agents ---------------------------------------------------------------------------------------

fn agents_config() -> Value {
    json!({
        "field_mapping": [
            {"target": "user", "entra": "department", "halo": "department"},
            {"target": "agent", "entra": "jobTitle", "halo": "jobtitle"},
            {"target": "agent", "entra": "manager", "halo": "linemanager"},
            {"target": "agent", "entra": "department", "halo": "team"}
        ],
        "site_mapping": [
            {"sequence": 5, "site": "*agent*", "group": "SG-Agents"},
            {"sequence": 10, "site": "Head Office", "user_role": "Standard User"}
        ],
        "roles": {"agent": [{"group": "SG-Agents-L2", "role": "2nd Line"}, {"group": "SG-Agents", "role": "1st Line"}]},
        "teams": [{"group": "SG-Infra", "team": "Infrastructure", "sees_other_agents": true}]
    })
}

#[test]
fn a_person_can_be_both_agent_and_user() {
    let person = ada().with("department", "Service Desk");
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents", "SG-Agents-L2", "SG-Infra"])
        .agent("grace");
    let plan = plan(agents_config(), &person, &directory);
    assert!(plan.user.desired().is_some() && plan.agent.desired().is_some());
    insta::assert_json_snapshot!(plan);
}

#[test]
fn an_agent_mapping_is_evaluated_separately_from_user_mappings() {
    let mut config = agents_config();
    config["site_mapping"][1]["group"] = json!("SG-Staff");
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(
        config,
        &ada().with("department", "Service Desk"),
        &directory,
    );
    assert!(plan.agent.desired().is_some());
    assert_eq!(
        out_reason(&plan.user),
        "not a member of \"SG-Staff\" on mapping 10"
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn the_team_field_naming_an_unknown_team_leaves_the_default_team_unchanged() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(
        agents_config(),
        &ada().with("department", "Payroll"),
        &directory,
    );
    let agent = plan.agent.desired().expect("agent");
    assert!(!agent.fields.contains_key(&mapping::HaloField::Team));
    assert_eq!(
        plan.notes,
        ["team \"Payroll\" does not exist; the default team is left unchanged"]
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn the_linemanager_is_the_managers_agent_record() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(agents_config(), &ada(), &directory);
    let agent = plan.agent.desired().expect("agent");
    assert_eq!(
        agent.fields.get(&mapping::HaloField::Linemanager),
        Some(&Some("grace".into()))
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_linemanager_whose_manager_is_not_an_agent_yet_is_kept_and_noted() {
    // The store links it once the manager's agent exists, whatever the evaluation order.
    let directory = FakeDirectory::new().member("ada", &["SG-Agents"]);
    let plan = plan(agents_config(), &ada(), &directory);
    let agent = plan.agent.desired().expect("agent");
    assert_eq!(
        agent.fields.get(&mapping::HaloField::Linemanager),
        Some(&Some("grace".into()))
    );
    assert!(
        plan.notes.iter().any(|note| note
            == "line manager grace is not imported as an agent yet; linked once they are")
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_line_manager_the_directory_can_name_is_noted_by_name() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .named("grace", "grace.hopper@contoso.example");
    let plan = plan(agents_config(), &ada(), &directory);
    assert!(
        plan.notes.iter().any(|note| note
            == "line manager grace.hopper@contoso.example is not imported as an agent yet; linked once they are"),
        "{:?}",
        plan.notes
    );
    assert!(!plan.notes.iter().any(|note| note.contains("grace ")));
}

#[test]
fn team_mappings_grant_memberships_with_the_three_flags() {
    let mut config = agents_config();
    config["team_options"] = json!({"can_be_assigned": false});
    config["teams"] = json!([
        {"group": "SG-Infra", "team": "Infrastructure", "sees_other_agents": true},
        {"group": "SG-Agents", "team": "Service Desk"}
    ]);
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents", "SG-Infra"])
        .agent("grace");
    let plan = plan(config, &ada(), &directory);
    let agent = plan.agent.desired().expect("agent");
    let infra = &agent.teams["Infrastructure"];
    assert!(
        !infra.flags.can_be_assigned
            && infra.flags.sees_unassigned
            && infra.flags.sees_other_agents
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn an_agent_with_no_mapped_role_is_inactive_under_full_role_management() {
    let mut config = agents_config();
    config["roles"]["full_role_management"] = json!(true);
    config["roles"]["agent"] = json!([{"group": "SG-Agents-L2", "role": "2nd Line"}]);
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(config, &ada(), &directory);
    let agent = plan.agent.desired().expect("agent");
    assert!(agent.roles.is_empty());
    assert_eq!(agent.inactive, Some(InactiveReason::NoMappedRole));
    insta::assert_json_snapshot!(plan);
}

fn licence_config() -> Value {
    let mut config = agents_config();
    config["agent_licences"] = json!({"enabled": true, "inactive_roles": ["Leavers"], "named_licence_roles": ["2nd Line"]});
    config["roles"]["agent"]
        .as_array_mut()
        .expect("list")
        .push(json!({"group": "SG-Leavers", "role": "Leavers"}));
    config
}

#[test]
fn an_agent_holding_a_named_licence_role_gets_a_named_licence() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents", "SG-Agents-L2"])
        .agent("grace");
    let plan = plan(licence_config(), &ada(), &directory);
    assert_eq!(
        plan.agent.desired().and_then(|agent| agent.licence),
        Some(LicenceType::Named)
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn an_agent_without_a_named_licence_role_gets_a_concurrent_licence() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(licence_config(), &ada(), &directory);
    assert_eq!(
        plan.agent.desired().and_then(|agent| agent.licence),
        Some(LicenceType::Concurrent)
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn an_agent_holding_an_inactive_role_is_inactive() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents", "SG-Leavers"])
        .agent("grace");
    let plan = plan(licence_config(), &ada(), &directory);
    let agent = plan.agent.desired().expect("agent");
    assert_eq!(
        agent.inactive,
        Some(InactiveReason::InactiveRole("Leavers".into()))
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn without_licence_management_the_agent_mapping_gives_the_licence_type() {
    let mut config = agents_config();
    config["site_mapping"][0]["agent_licence"] = json!("named");
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(config, &ada(), &directory);
    assert_eq!(
        plan.agent.desired().and_then(|agent| agent.licence),
        Some(LicenceType::Named)
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_disabled_account_makes_both_records_inactive() {
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(
        agents_config(),
        &ada().with("accountEnabled", "false"),
        &directory,
    );
    assert_eq!(
        plan.user.desired().and_then(|user| user.inactive.clone()),
        Some(InactiveReason::AccountDisabled)
    );
    assert_eq!(
        plan.agent
            .desired()
            .and_then(|agent| agent.inactive.clone()),
        Some(InactiveReason::AccountDisabled)
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_disabled_user_stays_active_when_deactivate_disabled_users_is_off_but_the_agent_does_not() {
    let mut config = agents_config();
    config["options"] = json!({"deactivate_disabled_users": false});
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents"])
        .agent("grace");
    let plan = plan(config, &ada().with("accountEnabled", "false"), &directory);
    assert_eq!(
        plan.user.desired().and_then(|user| user.inactive.clone()),
        None
    );
    assert_eq!(
        plan.agent
            .desired()
            .and_then(|agent| agent.inactive.clone()),
        Some(InactiveReason::AccountDisabled)
    );
    insta::assert_json_snapshot!(plan);
}

// --- Fields ---------------------------------------------------------------------------------------

#[test]
fn unmapped_fields_take_the_defaults_for_each_target() {
    let config = json!({"site_mapping": [{"sequence": 5, "site": "*agent*"}, {"sequence": 10, "site": "Head Office"}]});
    let plan = plan(config, &ada(), &FakeDirectory::new());
    let agent = plan.agent.desired().expect("agent");
    let names: Vec<String> = agent.fields.keys().map(ToString::to_string).collect();
    assert_eq!(names, ["name", "emailaddress"]);
    insta::assert_json_snapshot!(plan);
}

#[test]
fn custom_fields_come_from_extension_attributes_and_set_values_override() {
    let config = json!({
        "field_mapping": [
            {"target": "user", "entra": "onPremisesExtensionAttributes.extensionAttribute3", "halo": "custom.CFCostCentre"},
            {"target": "user", "entra": "extension_0123456789abcdef0123456789abcdef_employeeNo", "halo": "custom.CFEmployeeNumber"},
            {"target": "user", "entra": "displayName", "halo": "name"},
            {"target": "user", "entra": "businessPhones", "halo": "phonenumber"}
        ],
        "site_mapping": [{"sequence": 10, "site": "Head Office",
                          "set": {"custom.CFCostCentre": "100", "department": "Contractors"}}]
    });
    let person = ada()
        .with(
            "onPremisesExtensionAttributes.extensionAttribute3",
            "CC-900",
        )
        .with(
            "extension_0123456789abcdef0123456789abcdef_employeeNo",
            "E-42",
        )
        .with("businessPhones", "+44 20 7946 0000");
    let plan = plan(config, &person, &FakeDirectory::new());
    let user = plan.user.desired().expect("user");
    let custom = |name: &str| {
        user.fields
            .get(&mapping::HaloField::parse(name).expect("field"))
            .cloned()
            .flatten()
    };
    assert_eq!(custom("custom.CFCostCentre").as_deref(), Some("100"));
    assert_eq!(custom("custom.CFEmployeeNumber").as_deref(), Some("E-42"));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn empty_values_clear_mapped_fields_by_default() {
    let config = json!({"field_mapping": user_fields(), "site_mapping": [{"sequence": 10, "site": "Head Office"}]});
    let person = EntraUser::new("bare").with("displayName", "Bare Person");
    let plan = plan(config, &person, &FakeDirectory::new());
    let user = plan.user.desired().expect("user");
    assert_eq!(
        user.fields.get(&mapping::HaloField::Department),
        Some(&None)
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn empty_values_keep_leaves_mapped_fields_out_of_the_plan() {
    let config = json!({
        "field_mapping": user_fields(),
        "site_mapping": [{"sequence": 10, "site": "Head Office"}],
        "options": {"empty_values": "keep"}
    });
    let person = EntraUser::new("bare").with("displayName", "Bare Person");
    let plan = plan(config, &person, &FakeDirectory::new());
    let user = plan.user.desired().expect("user");
    assert!(!user.fields.contains_key(&mapping::HaloField::Department));
    insta::assert_json_snapshot!(plan);
}

// --- Roles and CABs -------------------------------------------------------------------------------

#[test]
fn user_roles_come_from_the_site_mapping_and_groups() {
    let config = json!({
        "site_mapping": [{"sequence": 10, "site": "Head Office", "user_role": "Standard User"}],
        "roles": {"user": [{"group": "SG-Seniors", "role": "Senior Staff"}, {"group": "SG-Other", "role": "No Manager"}],
                  "role_for_users_without_manager": "No Manager"}
    });
    let directory = FakeDirectory::new().member("ada", &["SG-Seniors"]);
    let plan = plan(config, &ada(), &directory);
    let roles: Vec<String> = plan
        .user
        .desired()
        .expect("user")
        .roles
        .keys()
        .map(ToString::to_string)
        .collect();
    assert_eq!(roles, ["Senior Staff", "Standard User"]);
    insta::assert_json_snapshot!(plan);
}

#[test]
fn a_user_without_a_manager_gets_the_role_for_users_without_manager() {
    let config = json!({
        "site_mapping": [{"sequence": 10, "site": "Head Office"}],
        "roles": {"role_for_users_without_manager": "No Manager"}
    });
    let person = ada().with("manager", "");
    let plan = plan(config, &person, &FakeDirectory::new());
    assert!(
        plan.user
            .desired()
            .expect("user")
            .roles
            .contains_key("No Manager")
    );
    insta::assert_json_snapshot!(plan);
}

#[test]
fn cab_memberships_go_to_the_agent_record_of_an_agent() {
    let mut config = agents_config();
    config["cabs"] = json!([{"group": "SG-CAB", "cab": "Main CAB", "cab_role": "Approver"}]);
    let directory = FakeDirectory::new()
        .member("ada", &["SG-Agents", "SG-CAB"])
        .agent("grace");
    let plan = plan(config, &ada(), &directory);
    let cab = &plan.agent.desired().expect("agent").cabs["Main CAB"];
    assert_eq!(cab.cab_role.as_deref(), Some("Approver"));
    assert!(plan.user.desired().expect("user").cabs.is_empty());
    insta::assert_json_snapshot!(plan);
}

#[test]
fn cab_memberships_go_to_the_user_record_of_a_person_who_is_not_an_agent() {
    let mut config = agents_config();
    config["cabs"] = json!([{"group": "SG-CAB", "cab": "Main CAB"}]);
    let directory = FakeDirectory::new().member("ada", &["SG-CAB"]);
    let plan = plan(config, &ada(), &directory);
    assert!(
        plan.user
            .desired()
            .expect("user")
            .cabs
            .contains_key("Main CAB")
    );
    insta::assert_json_snapshot!(plan);
}

// --- Nested groups --------------------------------------------------------------------------------

fn nested_config(nested: bool) -> Value {
    json!({
        "site_mapping": [{"sequence": 10, "site": "Head Office", "group": "SG-All-Staff"}],
        "roles": {"user": [{"group": "SG-All-Staff", "role": "Senior Staff"}]},
        "options": {"nested_groups": nested}
    })
}

fn nested_directory() -> FakeDirectory {
    FakeDirectory::new()
        .member("ada", &["SG-Engineering"])
        .member("g:SG-Engineering", &["SG-Technology"])
        .member("g:SG-Technology", &["SG-All-Staff", "SG-Engineering"])
}

#[test]
fn nested_group_membership_counts_when_nested_groups_is_on() {
    let plan = plan(nested_config(true), &ada(), &nested_directory());
    assert_eq!(user_site(&plan), Some((10, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}

#[test]
fn nested_group_membership_does_not_count_when_nested_groups_is_off() {
    let plan = plan(nested_config(false), &ada(), &nested_directory());
    assert_eq!(
        out_reason(&plan.user),
        "not a member of \"SG-All-Staff\" on mapping 10"
    );
    insta::assert_json_snapshot!(plan);
}

// --- From Graph -----------------------------------------------------------------------------------

#[test]
fn a_graph_user_object_plans_like_its_attributes() {
    let Value::Object(object) = json!({
        "id": "3f1c7e9a-0000-4000-8000-000000000001",
        "displayName": "Grace Hopper",
        "givenName": "Grace",
        "surname": "Hopper",
        "mail": "grace@contoso.com",
        "userPrincipalName": "grace@contoso.com",
        "businessPhones": ["+1 555 0100"],
        "accountEnabled": true,
        "userType": "Member",
        "assignedLicenses": [{"disabledPlans": [], "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df"}],
        "onPremisesExtensionAttributes": {"extensionAttribute1": "CC-1"},
        "signInActivity": {"lastSignInDateTime": "2025-01-31T08:00:00Z"}
    }) else {
        unreachable!("an object")
    };
    let person = EntraUser::from_graph(&object).expect("has an id");
    let config = json!({
        "field_mapping": [
            {"target": "user", "entra": "businessPhones", "halo": "phonenumber"},
            {"target": "user", "entra": "signInActivity.lastSignInDateTime", "halo": "last_sign_in"},
            {"target": "user", "entra": "onPremisesExtensionAttributes.extensionAttribute1", "halo": "custom.CFCostCentre"}
        ],
        "site_mapping": [{"sequence": 10, "site": "Head Office",
                          "where": [{"entra": "accountEnabled", "op": "eq", "value": true},
                                    {"entra": "assignedLicenses", "op": "present"}]}]
    });
    let plan = plan(config, &person, &FakeDirectory::new());
    assert_eq!(user_site(&plan), Some((10, "Head Office".to_owned())));
    insta::assert_json_snapshot!(plan);
}
