//! Compile errors: one test per check of `compile`, asserting the key path and the message.

use mapping::{
    AgentLicenceSpec, CabMappingSpec, CabRef, FieldMappingSpec, FilterOp, FilterSpec, FilterValue,
    GroupRoleSpec, MappingSpec, NoMatchSpec, Problem, ReferenceSpec, SiteMappingKind,
    SiteMappingSpec, SiteRef, Target, TeamMappingSpec, compile,
};

fn reference() -> ReferenceSpec {
    ReferenceSpec {
        clients: vec!["Contoso".into(), "Fabrikam".into()],
        sites: vec![
            SiteRef {
                name: "Head Office".into(),
                client: "Contoso".into(),
            },
            SiteRef {
                name: "London".into(),
                client: "Contoso".into(),
            },
            SiteRef {
                name: "London".into(),
                client: "Fabrikam".into(),
            },
        ],
        agent_roles: vec!["1st Line".into(), "2nd Line".into(), "Leavers".into()],
        user_roles: vec!["Standard User".into(), "Senior Staff".into()],
        teams: vec!["Service Desk".into(), "Infrastructure".into()],
        cabs: vec![CabRef {
            name: "Main CAB".into(),
            roles: vec!["Approver".into(), "Member".into()],
        }],
        user_custom_fields: vec!["CFEmployeeNumber".into(), "CFCostCentre".into()],
    }
}

fn site_mapping(sequence: u32, site: &str) -> SiteMappingSpec {
    SiteMappingSpec {
        sequence,
        name: None,
        kind: SiteMappingKind::Site,
        site: Some(site.into()),
        organisation: None,
        site_from: None,
        site_field: None,
        entra: None,
        user_field: None,
        no_match: NoMatchSpec::default(),
        user_role: None,
        group: None,
        external_users: Default::default(),
        filters: vec![],
        set: Default::default(),
        agent_licence: AgentLicenceSpec::NoChange,
    }
}

fn field(target: Target, entra: &str, halo: &str) -> FieldMappingSpec {
    FieldMappingSpec {
        target,
        entra: entra.into(),
        halo: halo.into(),
    }
}

fn problems(spec: &MappingSpec) -> Vec<Problem> {
    match compile(spec, &reference()) {
        Ok(_) => vec![],
        Err(problems) => problems,
    }
}

/// Asserts exactly one problem, at `path`, whose message contains `needle`.
fn assert_one(spec: &MappingSpec, path: &str, needle: &str) {
    let found = problems(spec);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    assert_eq!(found[0].path, path, "{}", found[0]);
    assert!(
        found[0].message.contains(needle),
        "message {:?} lacks {needle:?}",
        found[0].message
    );
}

#[test]
fn a_valid_config_compiles_without_problems() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::User, "department", "department")],
        site_mapping: vec![site_mapping(10, "Head Office"), site_mapping(20, "*agent*")],
        ..MappingSpec::default()
    };
    assert_eq!(problems(&spec), vec![]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let spec = MappingSpec {
        field_mapping: vec![
            field(Target::User, "deparment", "department"),
            field(Target::User, "city", "town"),
        ],
        site_mapping: vec![site_mapping(10, "Nowhere")],
        ..MappingSpec::default()
    };
    let paths: Vec<String> = problems(&spec).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "field_mapping[0].entra",
            "field_mapping[1].halo",
            "site_mapping[0].site"
        ]
    );
}

#[test]
fn an_unknown_entra_attribute_names_the_catalogue_and_a_near_name() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::User, "deparment", "department")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].entra",
        "unknown Entra attribute \"deparment\" (did you mean \"department\"?); expected one of the attribute catalogue",
    );
}

#[test]
fn attribute_names_are_case_sensitive_as_graph_names() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::User, "Department", "department")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].entra",
        "did you mean \"department\"",
    );
}

#[test]
fn directory_and_on_premises_extensions_are_accepted() {
    let spec = MappingSpec {
        field_mapping: vec![
            field(
                Target::User,
                "extension_0123456789abcdef0123456789abcdef_costCentre",
                "custom.CFCostCentre",
            ),
            field(
                Target::User,
                "onPremisesExtensionAttributes.extensionAttribute15",
                "custom.CFEmployeeNumber",
            ),
        ],
        ..MappingSpec::default()
    };
    assert_eq!(problems(&spec), vec![]);
}

#[test]
fn an_on_premises_extension_attribute_past_fifteen_is_unknown() {
    let spec = MappingSpec {
        field_mapping: vec![field(
            Target::User,
            "onPremisesExtensionAttributes.extensionAttribute16",
            "department",
        )],
        ..MappingSpec::default()
    };
    assert_one(&spec, "field_mapping[0].entra", "unknown Entra attribute");
}

#[test]
fn an_unknown_halo_field_lists_the_fields_of_its_target() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::Agent, "department", "department")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].halo",
        "\"department\" is not a Halo agent field; agent fields are: name, emailaddress",
    );
}

#[test]
fn a_custom_field_must_be_declared() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::User, "department", "custom.CFCostCenter")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].halo",
        "unknown user custom field \"CFCostCenter\"; expected one declared in halo.user_custom_fields",
    );
}

#[test]
fn custom_fields_exist_on_users_only() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::Agent, "department", "custom.CFCostCentre")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].halo",
        "custom fields exist on users only",
    );
}

#[test]
fn a_halo_field_takes_one_mapping_per_target() {
    let spec = MappingSpec {
        field_mapping: vec![
            field(Target::User, "department", "jobtitle"),
            field(Target::Agent, "department", "jobtitle"),
            field(Target::User, "jobTitle", "jobtitle"),
        ],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[2].halo",
        "already mapped for target user by field_mapping[0]",
    );
}

#[test]
fn linemanager_accepts_only_manager() {
    let spec = MappingSpec {
        field_mapping: vec![field(Target::Agent, "department", "linemanager")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "field_mapping[0].entra",
        "linemanager takes only the Entra attribute \"manager\"",
    );
}

#[test]
fn duplicate_site_mapping_sequences_are_reported_at_the_second() {
    let spec = MappingSpec {
        site_mapping: vec![site_mapping(10, "Head Office"), site_mapping(10, "*agent*")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[1].sequence",
        "sequence 10 is already used by site_mapping[0]",
    );
}

#[test]
fn kind_site_needs_a_site() {
    let mut mapping = site_mapping(10, "x");
    mapping.site = None;
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(&spec, "site_mapping[0].site", "kind site needs `site`");
}

#[test]
fn a_site_must_be_declared() {
    let spec = MappingSpec {
        site_mapping: vec![site_mapping(10, "Head Ofice")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].site",
        "did you mean \"Head Office\"",
    );
}

#[test]
fn a_site_declared_under_two_clients_needs_its_organisation() {
    let spec = MappingSpec {
        site_mapping: vec![site_mapping(10, "London")],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].site",
        "declared under several clients (\"Contoso\", \"Fabrikam\")",
    );
    let mut disambiguated = site_mapping(10, "London");
    disambiguated.organisation = Some("Fabrikam".into());
    assert_eq!(
        problems(&MappingSpec {
            site_mapping: vec![disambiguated],
            ..MappingSpec::default()
        }),
        vec![]
    );
}

#[test]
fn organisation_by_field_needs_a_declared_organisation_and_site_from() {
    let mut mapping = site_mapping(20, "x");
    mapping.kind = SiteMappingKind::OrganisationByField;
    mapping.site = None;
    mapping.organisation = Some("Contosso".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    let found = problems(&spec);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["site_mapping[0].organisation", "site_mapping[0].site_from"]
    );
    assert!(found[0].message.contains("unknown client \"Contosso\""));
    assert!(
        found[1]
            .message
            .contains("kind organisation_by_field needs `site_from`")
    );
}

#[test]
fn site_by_field_needs_site_field_and_entra() {
    let mut mapping = site_mapping(30, "x");
    mapping.kind = SiteMappingKind::SiteByField;
    mapping.site = None;
    mapping.site_field = Some("reference".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    let found = problems(&spec);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["site_mapping[0].site_field", "site_mapping[0].entra"]
    );
    assert!(found[0].message.contains("expected \"name\""));
}

fn site_by_user_field(user_field: Option<&str>, entra: Option<&str>) -> SiteMappingSpec {
    let mut mapping = site_mapping(30, "x");
    mapping.kind = SiteMappingKind::SiteByField;
    mapping.site = None;
    mapping.site_field = Some("name".into());
    mapping.user_field = user_field.map(Into::into);
    mapping.entra = entra.map(Into::into);
    mapping
}

#[test]
fn site_by_field_compares_exactly_one_of_entra_and_user_field() {
    let spec = |mapping| MappingSpec {
        field_mapping: vec![field(Target::User, "companyName", "department")],
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_eq!(
        problems(&spec(site_by_user_field(Some("department"), None))),
        vec![]
    );
    assert_one(
        &spec(site_by_user_field(Some("department"), Some("city"))),
        "site_mapping[0].user_field",
        "exactly one of `entra` (an Entra attribute) or `user_field` (a Halo user field); this mapping sets both",
    );
    assert_one(
        &spec(site_by_user_field(None, None)),
        "site_mapping[0].entra",
        "needs `entra` (the Entra attribute compared with the site field) or `user_field`",
    );
}

#[test]
fn a_site_by_field_user_field_is_a_user_field_some_field_mapping_writes() {
    let spec = |user_field: &str| MappingSpec {
        field_mapping: vec![
            field(Target::User, "companyName", "department"),
            field(Target::Agent, "jobTitle", "jobtitle"),
        ],
        site_mapping: vec![site_by_user_field(Some(user_field), None)],
        ..MappingSpec::default()
    };
    assert_one(
        &spec("town"),
        "site_mapping[0].user_field",
        "unknown Halo user field \"town\"",
    );
    assert_one(
        &spec("team"),
        "site_mapping[0].user_field",
        "\"team\" is not a Halo user field",
    );
    assert_one(
        &spec("custom.CFNope"),
        "site_mapping[0].user_field",
        "CFNope",
    );
    // Mapped for agents only: the user record has no value to compare.
    assert_one(
        &spec("jobtitle"),
        "site_mapping[0].user_field",
        "no user field mapping writes \"jobtitle\"",
    );
    let mut dropped = spec("firstname");
    dropped.drop_default_fields.user = vec!["firstname".into()];
    assert_one(
        &dropped,
        "site_mapping[0].user_field",
        "no user field mapping writes \"firstname\"",
    );
    // A default mapping writes it.
    assert_eq!(problems(&spec("surname")), vec![]);
}

#[test]
fn user_field_belongs_to_site_by_field_only() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.user_field = Some("department".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].user_field",
        "`user_field` does not belong to kind site",
    );
}

#[test]
fn a_default_site_must_be_declared() {
    let mut mapping = site_mapping(30, "x");
    mapping.kind = SiteMappingKind::SiteByField;
    mapping.site = None;
    mapping.site_field = Some("name".into());
    mapping.entra = Some("city".into());
    mapping.no_match = NoMatchSpec::DefaultSite {
        default_site: "Paris".into(),
    };
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].no_match.default_site",
        "unknown site \"Paris\"",
    );
}

#[test]
fn keys_of_another_kind_are_reported() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.site_from = Some("city".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].site_from",
        "`site_from` does not belong to kind site",
    );

    let mut mapping = site_mapping(20, "Head Office");
    mapping.kind = SiteMappingKind::OrganisationByField;
    mapping.organisation = Some("Contoso".into());
    mapping.site_from = Some("officeLocation".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].site",
        "`site` does not belong to kind organisation_by_field",
    );
}

#[test]
fn agent_licence_belongs_to_agent_mappings_only() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.agent_licence = AgentLicenceSpec::Named;
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].agent_licence",
        "applies only to mappings with site = \"*agent*\"",
    );
}

#[test]
fn agent_mappings_take_no_user_role_and_no_set() {
    let mut mapping = site_mapping(10, "*agent*");
    mapping.user_role = Some("Standard User".into());
    mapping.set.insert("department".into(), "IT".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    let paths: Vec<String> = problems(&spec).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "site_mapping[0].user_role",
            "site_mapping[0].set.department"
        ]
    );
}

#[test]
fn a_mapping_user_role_must_be_a_user_role() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.user_role = Some("2nd Line".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    assert_one(
        &spec,
        "site_mapping[0].user_role",
        "\"2nd Line\" is an agent role; a user role is expected",
    );
}

#[test]
fn an_empty_group_name_is_reported_wherever_it_is() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.group = Some("  ".into());
    let mut spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    spec.roles.user.push(GroupRoleSpec {
        group: "".into(),
        role: "Senior Staff".into(),
    });
    spec.teams.push(TeamMappingSpec {
        group: "".into(),
        team: "Service Desk".into(),
        can_be_assigned: None,
        sees_unassigned: None,
        sees_other_agents: None,
    });
    spec.cabs.push(CabMappingSpec {
        group: "".into(),
        cab: "Main CAB".into(),
        cab_role: None,
    });
    let paths: Vec<String> = problems(&spec).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "site_mapping[0].group",
            "roles.user[0].group",
            "teams[0].group",
            "cabs[0].group"
        ]
    );
}

#[test]
fn set_keys_must_be_halo_user_fields() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping
        .set
        .insert("custom.CFCostCentre".into(), "100".into());
    mapping.set.insert("custom.CFX".into(), "1".into());
    mapping.set.insert("linemanager".into(), "x".into());
    let spec = MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    let paths: Vec<String> = problems(&spec).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "site_mapping[0].set.custom.CFX",
            "site_mapping[0].set.linemanager"
        ]
    );
}

fn filtered(op: FilterOp, value: Option<FilterValue>) -> MappingSpec {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.filters.push(FilterSpec {
        entra: "country".into(),
        op: FilterOp::Present,
        value: None,
        case_sensitive: false,
    });
    mapping.filters.push(FilterSpec {
        entra: "country".into(),
        op,
        value,
        case_sensitive: false,
    });
    MappingSpec {
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    }
}

#[test]
fn a_filter_needs_a_value_except_present_and_absent() {
    assert_one(
        &filtered(FilterOp::Eq, None),
        "site_mapping[0].where[1].value",
        "eq needs a value",
    );
    assert_eq!(problems(&filtered(FilterOp::Absent, None)), vec![]);
    assert_one(
        &filtered(FilterOp::Present, Some(FilterValue::Text("x".into()))),
        "site_mapping[0].where[1].value",
        "present takes no value",
    );
}

#[test]
fn in_needs_a_list_and_other_operators_one_value() {
    assert_one(
        &filtered(FilterOp::In, Some(FilterValue::Text("GB".into()))),
        "site_mapping[0].where[1].value",
        "in needs a list",
    );
    assert_one(
        &filtered(FilterOp::Eq, Some(FilterValue::List(vec!["GB".into()]))),
        "site_mapping[0].where[1].value",
        "only `in` takes a list",
    );
}

#[test]
fn a_matches_filter_regex_must_compile() {
    assert_one(
        &filtered(FilterOp::Matches, Some(FilterValue::Text("([a-z".into()))),
        "site_mapping[0].where[1].value",
        "invalid regular expression \"([a-z\"",
    );
}

#[test]
fn a_filter_attribute_must_be_in_the_catalogue() {
    let mut spec = filtered(FilterOp::Present, None);
    spec.site_mapping[0].filters[1].entra = "county".into();
    assert_one(
        &spec,
        "site_mapping[0].where[1].entra",
        "did you mean \"country\"",
    );
}

#[test]
fn roles_agent_needs_agent_roles_and_roles_user_user_roles() {
    let mut spec = MappingSpec::default();
    spec.roles.agent.push(GroupRoleSpec {
        group: "SG-L2".into(),
        role: "Senior Staff".into(),
    });
    spec.roles.user.push(GroupRoleSpec {
        group: "SG-Seniors".into(),
        role: "2nd Line".into(),
    });
    let found = problems(&spec);
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].to_string(),
        "roles.user[0].role: \"2nd Line\" is an agent role; a user role is expected (declared in halo.user_roles: \"Standard User\", \"Senior Staff\")"
    );
    assert_eq!(found[1].path, "roles.agent[0].role");
    assert!(
        found[1]
            .message
            .contains("is a user role; an agent role is expected")
    );
}

#[test]
fn role_for_users_without_manager_must_be_a_user_role() {
    let mut spec = MappingSpec::default();
    spec.roles.role_for_users_without_manager = Some("Seniors".into());
    assert_one(
        &spec,
        "roles.role_for_users_without_manager",
        "unknown user role \"Seniors\"",
    );
}

#[test]
fn a_team_mapping_names_a_declared_team() {
    let mut spec = MappingSpec::default();
    spec.teams.push(TeamMappingSpec {
        group: "SG".into(),
        team: "Servicedesk".into(),
        can_be_assigned: None,
        sees_unassigned: None,
        sees_other_agents: None,
    });
    assert_one(&spec, "teams[0].team", "did you mean \"Service Desk\"");
}

#[test]
fn a_cab_mapping_names_a_declared_cab_and_one_of_its_roles() {
    let mut spec = MappingSpec::default();
    spec.cabs.push(CabMappingSpec {
        group: "SG".into(),
        cab: "Minor CAB".into(),
        cab_role: None,
    });
    spec.cabs.push(CabMappingSpec {
        group: "SG".into(),
        cab: "Main CAB".into(),
        cab_role: Some("Chair".into()),
    });
    let found = problems(&spec);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].path, "cabs[0].cab");
    assert_eq!(found[1].path, "cabs[1].cab_role");
    assert!(
        found[1]
            .message
            .contains("unknown CAB role of \"Main CAB\" \"Chair\""),
        "{}",
        found[1]
    );
}

#[test]
fn agent_licence_role_lists_name_agent_roles() {
    let mut spec = MappingSpec::default();
    spec.agent_licences.inactive_roles = vec!["Leavers".into(), "Leaver".into()];
    spec.agent_licences.named_licence_roles = vec!["Standard User".into()];
    let paths: Vec<String> = problems(&spec).into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "agent_licences.inactive_roles[1]",
            "agent_licences.named_licence_roles[0]"
        ]
    );
}

#[test]
fn matching_fields_are_known_declared_and_distinct() {
    let mut spec = MappingSpec::default();
    spec.options.matching_fields = vec![
        "email".into(),
        "mail".into(),
        "custom.CFNope".into(),
        "email".into(),
        "custom.CFEmployeeNumber".into(),
    ];
    let found = problems(&spec);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "sync.matching_fields[1]",
            "sync.matching_fields[2]",
            "sync.matching_fields[3]"
        ]
    );
    assert!(
        found[0]
            .message
            .contains("expected email, upn, name, employee_number or custom.")
    );
}

#[test]
fn the_mapping_lists_attributes_groups_and_what_delta_cannot_track() {
    let mut mapping = site_mapping(10, "Head Office");
    mapping.group = Some("SG-Users".into());
    mapping.filters.push(FilterSpec {
        entra: "country".into(),
        op: FilterOp::Eq,
        value: Some(FilterValue::Text("GB".into())),
        case_sensitive: false,
    });
    let mut spec = MappingSpec {
        field_mapping: vec![
            field(
                Target::User,
                "signInActivity.lastSignInDateTime",
                "last_sign_in",
            ),
            field(
                Target::User,
                "onPremisesExtensionAttributes.extensionAttribute2",
                "department",
            ),
        ],
        site_mapping: vec![mapping],
        ..MappingSpec::default()
    };
    spec.roles.agent.push(GroupRoleSpec {
        group: "SG-L2".into(),
        role: "2nd Line".into(),
    });
    spec.cabs.push(CabMappingSpec {
        group: "SG-CAB".into(),
        cab: "Main CAB".into(),
        cab_role: Some("Approver".into()),
    });
    spec.teams.push(TeamMappingSpec {
        group: "SG-Users".into(),
        team: "Service Desk".into(),
        can_be_assigned: None,
        sees_unassigned: None,
        sees_other_agents: None,
    });
    let compiled = compile(&spec, &reference()).expect("valid");

    assert_eq!(compiled.groups(), ["SG-CAB", "SG-L2", "SG-Users"]);
    assert_eq!(
        compiled.graph_select(),
        [
            "accountEnabled",
            "assignedLicenses",
            "country",
            "displayName",
            "givenName",
            "id",
            "mail",
            "manager",
            "onPremisesExtensionAttributes",
            "surname",
            "userPrincipalName",
            "userType",
        ]
    );
    let incompatible = compiled.delta_incompatible();
    assert_eq!(incompatible.len(), 1);
    assert_eq!(
        incompatible[0].attribute,
        "signInActivity.lastSignInDateTime"
    );
    assert_eq!(incompatible[0].graph_property, "signInActivity");
    assert_eq!(incompatible[0].used_at, ["field_mapping[0].entra"]);
}
