//! Planning throughput: a realistic config (site mappings with where filters and a regex, 50
//! mapped groups, roles, teams, CABs, field mappings) over 100 000 generated people.
//!
//! `CARGO_TARGET_DIR=/work/target-mapping cargo bench -p entra-sync-mapping --bench plan`;
//! the "thrpt" line is people planned per second on one core (target ≥ 500 000).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mapping::{Directory, EntraUser, MappingSpec, ReferenceSpec, Site, compile};
use serde_json::json;

const PEOPLE: usize = 100_000;
const GROUPS: usize = 50;

fn reference() -> ReferenceSpec {
    let teams: Vec<String> = (0..10).map(|n| format!("Team {n}")).collect();
    let agent_roles: Vec<String> = (0..10).map(|n| format!("Agent Role {n}")).collect();
    let user_roles: Vec<String> = (0..10).map(|n| format!("User Role {n}")).collect();
    serde_json::from_value(json!({
        "clients": ["Contoso", "Fabrikam"],
        "sites": [
            {"name": "Head Office", "client": "Contoso"},
            {"name": "London", "client": "Contoso"},
            {"name": "Manchester", "client": "Contoso"},
            {"name": "Reading", "client": "Fabrikam"}
        ],
        "agent_roles": agent_roles,
        "user_roles": user_roles,
        "teams": teams,
        "cabs": [{"name": "Main CAB", "roles": ["Approver", "Member"]}, {"name": "Infra CAB", "roles": ["Member"]}],
        "user_custom_fields": ["CFEmployeeNumber", "CFCostCentre"]
    }))
    .expect("reference")
}

fn spec() -> MappingSpec {
    let group = |n: usize| format!("SG-{n:02}");
    let agent_roles: Vec<_> = (0..10)
        .map(|n| json!({"group": group(n), "role": format!("Agent Role {n}")}))
        .collect();
    let user_roles: Vec<_> = (10..25)
        .map(|n| json!({"group": group(n), "role": format!("User Role {}", n % 10)}))
        .collect();
    let teams: Vec<_> = (25..40)
        .map(|n| json!({"group": group(n), "team": format!("Team {}", n % 10)}))
        .collect();
    let cabs: Vec<_> = (40..GROUPS)
        .map(|n| json!({"group": group(n), "cab": if n % 2 == 0 { "Main CAB" } else { "Infra CAB" }, "cab_role": "Member"}))
        .collect();
    let value = json!({
        "field_mapping": [
            {"target": "user", "entra": "department", "halo": "department"},
            {"target": "user", "entra": "jobTitle", "halo": "jobtitle"},
            {"target": "user", "entra": "mobilePhone", "halo": "mobilenumber"},
            {"target": "user", "entra": "businessPhones", "halo": "phonenumber"},
            {"target": "user", "entra": "employeeId", "halo": "employee_number"},
            {"target": "user", "entra": "manager", "halo": "manager"},
            {"target": "user", "entra": "onPremisesExtensionAttributes.extensionAttribute1", "halo": "custom.CFCostCentre"},
            {"target": "agent", "entra": "jobTitle", "halo": "jobtitle"},
            {"target": "agent", "entra": "manager", "halo": "linemanager"},
            {"target": "agent", "entra": "department", "halo": "team"}
        ],
        "site_mapping": [
            {"sequence": 5, "site": "*agent*", "group": "SG-00", "agent_licence": "named"},
            {"sequence": 6, "site": "*agent*", "group": "SG-01"},
            {"sequence": 10, "site": "Head Office", "user_role": "User Role 0", "group": "SG-10",
             "where": [{"entra": "country", "op": "eq", "value": "GB"}]},
            {"sequence": 20, "site": "London", "group": "SG-11",
             "where": [{"entra": "userPrincipalName", "op": "matches", "value": "^[a-z]+\\.[a-z0-9]+@contoso\\.com$"},
                       {"entra": "department", "op": "in", "value": ["Sales", "Marketing", "Finance"]}]},
            {"sequence": 30, "kind": "organisation_by_field", "organisation": "Contoso", "site_from": "officeLocation",
             "where": [{"entra": "companyName", "op": "starts_with", "value": "Contoso"}],
             "set": {"custom.CFEmployeeNumber": "n/a"}},
            {"sequence": 40, "kind": "site_by_field", "site_field": "name", "entra": "city",
             "no_match": {"default_site": "Head Office"}, "external_users": "licensed_only"}
        ],
        "roles": {"agent": agent_roles, "user": user_roles, "role_for_users_without_manager": "User Role 9"},
        "teams": teams,
        "team_options": {"remove_agents_not_found": true},
        "cabs": cabs,
        "agent_licences": {"enabled": true, "inactive_roles": ["Agent Role 9"], "named_licence_roles": ["Agent Role 1"]},
        "options": {"nested_groups": false, "empty_values": "clear", "deactivate_disabled_users": true,
                    "matching_fields": ["email", "upn"]}
    });
    serde_json::from_value(value).expect("spec")
}

/// A person's direct groups: (group object id, display name).
type Groups = Vec<(Arc<str>, Arc<str>)>;

/// Memberships as the daemon would hold them for a run: per person, (group id, display name).
struct BenchDirectory {
    memberships: HashMap<String, Groups>,
    sites: Vec<Site>,
    teams: Vec<Arc<str>>,
}

impl Directory for BenchDirectory {
    fn groups_of(&self, member: &str, visit: &mut dyn FnMut(&str, &str)) {
        for (id, name) in self.memberships.get(member).into_iter().flatten() {
            visit(id, name);
        }
    }

    fn has_agent(&self, entra_id: &str) -> bool {
        entra_id.len().is_multiple_of(2)
    }

    fn find_site(&self, _field: &str, value: &str) -> Option<Site> {
        self.sites
            .iter()
            .find(|site| site.name.eq_ignore_ascii_case(value))
            .cloned()
    }

    fn find_team(&self, name: &str) -> Option<Arc<str>> {
        self.teams
            .iter()
            .find(|team| team.eq_ignore_ascii_case(name))
            .cloned()
    }
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn people(rng: &mut Rng) -> (Vec<EntraUser>, BenchDirectory) {
    let departments = [
        "Sales",
        "Marketing",
        "Finance",
        "Engineering",
        "Team 3",
        "Support",
        "",
    ];
    let cities = ["London", "Manchester", "Reading", "Paris", "Leeds", ""];
    let countries = ["GB", "GB", "GB", "IE", "FR", "US"];
    let mut users = Vec::with_capacity(PEOPLE);
    let mut memberships = HashMap::with_capacity(PEOPLE);
    let group_ids: Vec<(Arc<str>, Arc<str>)> = (0..GROUPS + 30)
        .map(|n| {
            (
                Arc::from(format!("00000000-0000-4000-8000-{n:012}")),
                Arc::from(format!("SG-{n:02}")),
            )
        })
        .collect();
    for n in 0..PEOPLE {
        let id = format!("{:08x}-1111-4000-8000-{n:012}", rng.next() as u32);
        let first = format!("first{n}");
        let last = format!("last{}", rng.next() % 1000);
        let mut user = EntraUser::new(id.clone())
            .with("displayName", &format!("{first} {last}"))
            .with("givenName", &first)
            .with("surname", &last)
            .with("mail", &format!("{first}.{last}@contoso.com"))
            .with("userPrincipalName", &format!("{first}.{last}@contoso.com"))
            .with("department", rng.pick(&departments))
            .with("jobTitle", "Analyst")
            .with("city", rng.pick(&cities))
            .with("country", rng.pick(&countries))
            .with("officeLocation", rng.pick(&cities))
            .with(
                "companyName",
                if n % 3 == 0 {
                    "Contoso Ltd"
                } else {
                    "Fabrikam"
                },
            )
            .with("employeeId", &format!("E{n}"))
            .with("businessPhones", "+44 20 7946 0000")
            .with("accountEnabled", if n % 50 == 0 { "false" } else { "true" })
            .with("userType", if n % 20 == 0 { "Guest" } else { "Member" })
            .with(
                "onPremisesExtensionAttributes.extensionAttribute1",
                "CC-100",
            );
        if n % 10 != 0 {
            user = user.with("manager", &format!("manager-{}", n % 500));
        }
        if n % 40 == 0 {
            user = user.with("assignedLicenses", "c7df2760-2c81-4ef7-b578-5b5392b571df");
        }
        let count = 2 + rng.next() % 8;
        let groups: Groups = (0..count)
            .map(|_| group_ids[(rng.next() % group_ids.len() as u64) as usize].clone())
            .collect();
        memberships.insert(id, groups);
        users.push(user);
    }
    let reference = reference();
    let directory = BenchDirectory {
        memberships,
        sites: reference
            .sites
            .iter()
            .map(|site| Site {
                client: Arc::from(site.client.as_str()),
                name: Arc::from(site.name.as_str()),
            })
            .collect(),
        teams: reference
            .teams
            .iter()
            .map(|team| Arc::from(team.as_str()))
            .collect(),
    };
    (users, directory)
}

fn plan_people(c: &mut Criterion) {
    let mapping = compile(&spec(), &reference()).expect("benchmark config compiles");
    assert_eq!(mapping.groups().len(), GROUPS);
    let (users, directory) = people(&mut Rng(0x5eed_1234_abcd_ef01));
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PEOPLE as u64));
    group.bench_function("100k people", |b| {
        b.iter(|| {
            for user in &users {
                black_box(mapping.plan(black_box(user), &directory));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, plan_people);
criterion_main!(benches);
