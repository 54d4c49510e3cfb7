//! Deterministic tenant generator: the same seed, index and size always give the same directory
//! (ids included), so tests can rely on names, counts and the well-known groups.

mod catalogue;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

pub use catalogue::ascii_fold;
use catalogue::{
    CONTACT_ORGANISATIONS, DEPARTMENTS, GIVEN_NAMES, GUEST_DOMAINS, OFFICES, ORGANISATIONS,
    PROJECT_ADJECTIVES, PROJECT_NOUNS, SURNAMES,
};

use crate::directory::{
    AssignedLicense, Directory, Group, GroupKind, GroupProp, Member, MemberKind, OrgContact,
    SKU_TEMPLATES, ServicePlan, SignInActivity, Sku, User, UserProp,
};

/// Display names of the groups every generated tenant has, whatever its size.
pub mod well_known {
    /// Microsoft 365 group of every member (not guest) user: the large group split over pages.
    pub const ALL_COMPANY: &str = "All Company";
    /// About a fifth of the members.
    pub const HELPDESK_USERS: &str = "SG-Helpdesk-Users";
    /// First-line agents (about 1 %).
    pub const AGENTS_L1: &str = "SG-Agents-L1";
    /// Second-line agents (about 0.5 %).
    pub const AGENTS_L2: &str = "SG-Agents-L2";
    /// Every agent of both lines, as direct members.
    pub const SERVICE_DESK: &str = "SG-ServiceDesk";
    /// IT department staff.
    pub const INFRASTRUCTURE: &str = "SG-Infrastructure";
    /// A handful of managers.
    pub const CAB: &str = "SG-CAB";
    /// Everyone with direct reports.
    pub const SENIORS: &str = "SG-Seniors";
    /// Disabled accounts.
    pub const LEAVERS: &str = "SG-Leavers";
    /// Guests; the name has an apostrophe to exercise OData quote escaping.
    pub const VISITORS_DESK: &str = "Visitors' Desk";
    /// Nested: contains the two agent groups as groups, plus one direct user.
    pub const ALL_AGENTS: &str = "SG-All-Agents";
    /// Mail-enabled distribution list of about half the staff plus every org contact.
    pub const ALL_STAFF_DL: &str = "DL-All-Staff";
    /// Distribution list of IT staff, a few contacts and the nested infrastructure group.
    pub const IT_NOTIFICATIONS_DL: &str = "DL-IT-Notifications";
    /// Holders of the SPE_E5 licence.
    pub const LICENSED_E5: &str = "SG-Licensed-E5";
}

/// The size of one generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSize {
    /// Users, guests and disabled accounts included.
    pub users: usize,
    /// Groups in total; the well-known ones are always made even when this is smaller.
    pub groups: usize,
}

/// A fixed instant generated timestamps count back from, so output never depends on the clock.
fn reference_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default() // 2026-01-01T00:00:00Z
}

/// A deterministic object id.
fn next_id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// Generates tenant number `index` of an emulator seeded with `seed`.
pub fn generate(seed: u64, index: usize, size: TenantSize) -> Directory {
    let mut rng = StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let organisation = ORGANISATIONS[index % ORGANISATIONS.len()];
    let slug: String = ascii_fold(organisation).replace(['\'', '-'], "");
    let suffix = if index < ORGANISATIONS.len() {
        String::new()
    } else {
        index.to_string()
    };
    let tenant_id = next_id(&mut rng);
    let domain = format!("{slug}{suffix}.onmicrosoft.com");
    let mail_domain = format!("{slug}{suffix}.com");
    let mut dir = Directory::new(tenant_id, domain.clone(), organisation.to_owned());

    let skus = make_skus(&mut rng);
    let people = make_users(
        &mut rng,
        size.users,
        &domain,
        &mail_domain,
        organisation,
        &skus,
    );
    for person in people.users {
        dir.insert_user(person);
    }
    let mut consumed: HashMap<Uuid, u32> = HashMap::new();
    for user in &dir.users {
        for licence in &user.assigned_licenses {
            *consumed.entry(licence.sku_id).or_default() += 1;
        }
    }
    dir.skus = skus
        .into_iter()
        .map(|mut sku| {
            sku.consumed_units = consumed.get(&sku.sku_id).copied().unwrap_or(0);
            // The last SKU is sold out on purpose; the others keep some headroom.
            sku.enabled_units = if sku.part_number.as_ref() == "VISIOCLIENT" {
                sku.consumed_units
            } else {
                sku.consumed_units + sku.consumed_units / 10 + 5
            };
            sku
        })
        .collect();

    let contacts = (0..3 + size.users / 500)
        .map(|n| {
            let org = CONTACT_ORGANISATIONS[n % CONTACT_ORGANISATIONS.len()];
            let slug = ascii_fold(org);
            let round = n / CONTACT_ORGANISATIONS.len();
            OrgContact {
                id: next_id(&mut rng),
                display_name: Arc::from(format!(
                    "{org} Support{}",
                    if round > 0 {
                        format!(" {round}")
                    } else {
                        String::new()
                    }
                )),
                mail: Arc::from(format!(
                    "support{}@{slug}.example",
                    if round > 0 {
                        round.to_string()
                    } else {
                        String::new()
                    }
                )),
            }
        })
        .collect::<Vec<_>>();
    for contact in &contacts {
        dir.insert_contact(contact.clone());
    }
    make_groups(&mut rng, &mut dir, size, &people.roles, &contacts);
    dir
}

/// Which generated users play which part, by slot.
#[derive(Default)]
struct Roles {
    members: Vec<usize>,
    guests: Vec<usize>,
    disabled: Vec<usize>,
    managers: Vec<usize>,
    by_department: Vec<Vec<usize>>,
    by_office: Vec<Vec<usize>>,
    e5: Vec<usize>,
}

struct People {
    users: Vec<User>,
    roles: Roles,
}

fn make_skus(rng: &mut StdRng) -> Vec<Sku> {
    SKU_TEMPLATES
        .iter()
        .map(|t| Sku {
            sku_id: Uuid::from_u128(t.sku_id),
            part_number: Arc::from(t.part_number),
            enabled_units: 0,
            warning_units: 0,
            consumed_units: 0,
            service_plans: t
                .plans
                .iter()
                .map(|&(id, name)| ServicePlan {
                    id: Uuid::from_u128(id),
                    name,
                })
                .collect(),
            subscription_ids: vec![next_id(rng)],
        })
        .collect()
}

fn text(s: impl Into<Arc<str>>) -> Option<Arc<str>> {
    Some(s.into())
}

fn make_users(
    rng: &mut StdRng,
    count: usize,
    domain: &str,
    mail_domain: &str,
    organisation: &str,
    skus: &[Sku],
) -> People {
    let mut users = Vec::with_capacity(count);
    let mut roles = Roles {
        by_department: vec![Vec::new(); DEPARTMENTS.len()],
        by_office: vec![Vec::new(); OFFICES.len()],
        ..Roles::default()
    };
    let mut taken: HashMap<String, u32> = HashMap::with_capacity(count);
    // Shared values are interned so 100 000 users do not carry 100 000 copies of "Sales".
    let intern_departments: Vec<Arc<str>> = DEPARTMENTS.iter().map(|d| Arc::from(d.0)).collect();
    let intern_titles: Vec<Vec<Arc<str>>> = DEPARTMENTS
        .iter()
        .map(|d| d.1.iter().map(|t| Arc::from(*t)).collect())
        .collect();
    let company: Arc<str> = Arc::from(organisation);
    let contractor_company: Arc<str> = Arc::from(format!("{organisation} Contracting Ltd"));
    let member: Arc<str> = Arc::from("Member");
    let guest: Arc<str> = Arc::from("Guest");
    let invitation: Arc<str> = Arc::from("Invitation");
    let employee: Arc<str> = Arc::from("Employee");
    let contractor: Arc<str> = Arc::from("Contractor");
    let reference = reference_time();
    let guest_every = 25; // 4 % guests
    let mut member_ordinal = 0usize;

    for slot in 0..count {
        let mut user = User::new(next_id(rng));
        let given = GIVEN_NAMES[rng.random_range(0..GIVEN_NAMES.len())];
        let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let is_guest = slot % guest_every == guest_every - 1;
        user.set_text(UserProp::GivenName, text(given));
        user.set_text(UserProp::Surname, text(surname));
        user.set_text(UserProp::DisplayName, text(format!("{given} {surname}")));
        let created = reference - Duration::minutes((count - slot) as i64 * 7 + 60);
        user.set_text(
            UserProp::CreatedDateTime,
            text(created.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        let base = format!("{}.{}", ascii_fold(given), ascii_fold(surname));
        let n = taken
            .entry(base.clone())
            .and_modify(|n| *n += 1)
            .or_insert(1);
        let local = if *n == 1 { base } else { format!("{base}{n}") };
        let office = &OFFICES[office_index(rng)];

        if is_guest {
            let guest_domain = GUEST_DOMAINS[rng.random_range(0..GUEST_DOMAINS.len())];
            let external = format!("{local}@{guest_domain}");
            user.set_text(
                UserProp::UserPrincipalName,
                text(format!("{local}_{guest_domain}#EXT#@{domain}")),
            );
            user.set_text(UserProp::Mail, text(external.as_str()));
            user.set_text(
                UserProp::MailNickname,
                text(format!("{local}_{guest_domain}#EXT#")),
            );
            user.set_text(UserProp::UserType, Some(guest.clone()));
            user.set_text(UserProp::CreationType, Some(invitation.clone()));
            user.other_mails = vec![Arc::from(external)];
            user.set_text(UserProp::UsageLocation, text(office.country));
            if rng.random_bool(0.3) {
                user.assigned_licenses.push(licence(&skus[0]));
            }
            roles.guests.push(slot);
        } else {
            let ordinal = member_ordinal;
            member_ordinal += 1;
            user.set_text(
                UserProp::UserPrincipalName,
                text(format!("{local}@{mail_domain}")),
            );
            user.set_text(UserProp::Mail, text(format!("{local}@{mail_domain}")));
            user.set_text(UserProp::MailNickname, text(local.as_str()));
            user.set_text(UserProp::UserType, Some(member.clone()));
            let department = department_index(rng);
            let has_reports = ordinal * 7 + 1 < count.saturating_sub(count / guest_every);
            let titles = &intern_titles[department];
            let title = if has_reports && ordinal < 50 {
                titles[0].clone()
            } else {
                titles[1 + rng.random_range(0..3)].clone()
            };
            user.set_text(
                UserProp::Department,
                Some(intern_departments[department].clone()),
            );
            user.set_text(UserProp::JobTitle, Some(title));
            let is_contractor = rng.random_bool(0.08);
            user.set_text(
                UserProp::CompanyName,
                Some(if is_contractor {
                    contractor_company.clone()
                } else {
                    company.clone()
                }),
            );
            user.set_text(
                UserProp::EmployeeType,
                Some(if is_contractor {
                    contractor.clone()
                } else {
                    employee.clone()
                }),
            );
            if rng.random_bool(0.97) {
                user.set_text(
                    UserProp::EmployeeId,
                    text(format!("E{:06}", 100_000 + ordinal)),
                );
            }
            user.set_text(
                UserProp::OfficeLocation,
                text(format!(
                    "{} {}.{:02}",
                    office.city,
                    rng.random_range(1..9),
                    rng.random_range(1..40)
                )),
            );
            user.set_text(UserProp::City, text(office.city));
            user.set_text(UserProp::State, text(office.state));
            user.set_text(UserProp::Country, text(office.country));
            user.set_text(UserProp::StreetAddress, text(office.street));
            user.set_text(UserProp::PostalCode, text(office.postal_code));
            user.set_text(UserProp::PreferredLanguage, text(office.language));
            // 1 % have no usage location (and so no licence): assignLicense must refuse them.
            let has_usage_location = !rng.random_bool(0.01);
            if has_usage_location {
                user.set_text(UserProp::UsageLocation, text(office.country));
            }
            if rng.random_bool(0.9) {
                user.business_phones = vec![Arc::from(format!(
                    "{}{:03}",
                    office.phone,
                    rng.random_range(0..1000)
                ))];
            }
            if rng.random_bool(0.7) {
                user.set_text(
                    UserProp::MobilePhone,
                    text(format!("{}{:03}", office.phone, rng.random_range(0..1000))),
                );
            }
            if rng.random_bool(0.01) {
                user.set_text(UserProp::FaxNumber, text(format!("{}999", office.phone)));
            }
            if rng.random_bool(0.05) {
                user.other_mails = vec![Arc::from(format!("{local}@home.example"))];
            }
            if rng.random_bool(0.35) {
                user.on_premises_sync_enabled = Some(true);
                let sam: String = local.replace('\'', "").chars().take(20).collect();
                user.set_text(UserProp::OnPremisesSamAccountName, text(sam));
            }
            if rng.random_bool(0.6) {
                let mut attrs: Box<[Option<Arc<str>>; 15]> = Box::default();
                attrs[0] = text(format!(
                    "CC-{}{:02}",
                    department + 1,
                    rng.random_range(0..20)
                ));
                user.extension_attributes = Some(attrs);
            }
            if has_usage_location {
                let e5 = rng.random_bool(0.15);
                if e5 {
                    user.assigned_licenses.push(licence(&skus[1]));
                    roles.e5.push(slot);
                } else if rng.random_bool(0.8) {
                    user.assigned_licenses.push(licence(&skus[0]));
                }
                if !e5 && rng.random_bool(0.3) {
                    user.assigned_licenses.push(licence(&skus[2]));
                }
                if rng.random_bool(0.1) {
                    user.assigned_licenses.push(licence(&skus[3]));
                }
                if rng.random_bool(0.2) {
                    user.assigned_licenses.push(licence(&skus[4]));
                }
                if rng.random_bool(0.01) {
                    user.assigned_licenses.push(licence(&skus[5]));
                }
            }
            if has_reports {
                roles.managers.push(slot);
            }
            roles.by_department[department].push(slot);
            roles.by_office[OFFICES
                .iter()
                .position(|o| o.city == office.city)
                .unwrap_or(0)]
            .push(slot);
            roles.members.push(slot);
        }
        if !is_guest && slot > 0 && rng.random_bool(0.02) {
            user.account_enabled = false;
            roles.disabled.push(slot);
        }
        if !rng.random_bool(0.05) {
            let days = rng.random_range(0..45);
            let minutes = rng.random_range(0..1440);
            let at = reference - Duration::days(days) - Duration::minutes(minutes);
            user.sign_in = Some(SignInActivity {
                last_sign_in: Some(at),
                last_non_interactive_sign_in: Some(
                    at + Duration::minutes(rng.random_range(1..600)),
                ),
                request_id: next_id(rng),
            });
        }
        for prop in UserProp::ALL {
            if prop != UserProp::Manager && user.has_value(prop) {
                user.versions[prop.index()] = 1;
            }
        }
        users.push(user);
    }

    // Manager hierarchy over members in a seven-way tree: member k reports to member (k-1)/7.
    // About 2 % have no manager besides the top of the tree.
    let members = roles.members.clone();
    for (k, &slot) in members.iter().enumerate().skip(1) {
        if rng.random_bool(0.02) {
            continue;
        }
        let manager_slot = members[(k - 1) / 7];
        users[slot].manager = Some(users[manager_slot].id);
        users[slot].versions[UserProp::Manager.index()] = 1;
    }
    People { users, roles }
}

fn licence(sku: &Sku) -> AssignedLicense {
    AssignedLicense {
        disabled_plans: Vec::new(),
        sku_id: sku.sku_id,
    }
}

/// Offices are skewed: London and New York hold most people.
fn office_index(rng: &mut StdRng) -> usize {
    let r: f64 = rng.random();
    ((r * r * r) * OFFICES.len() as f64) as usize % OFFICES.len()
}

fn department_index(rng: &mut StdRng) -> usize {
    let r: f64 = rng.random();
    ((r * r) * DEPARTMENTS.len() as f64) as usize % DEPARTMENTS.len()
}

fn make_groups(
    rng: &mut StdRng,
    dir: &mut Directory,
    size: TenantSize,
    roles: &Roles,
    contacts: &[OrgContact],
) {
    use well_known::*;
    let created = reference_time() - Duration::days(400);
    let ids: Vec<Uuid> = dir.users.iter().map(|u| u.id).collect();
    let user = |slot: usize| Member {
        id: ids[slot],
        kind: MemberKind::User,
    };
    let pick = |rng: &mut StdRng, from: &[usize], share: f64, min: usize| -> Vec<Member> {
        let amount = ((from.len() as f64 * share) as usize)
            .max(min)
            .min(from.len());
        let mut picked: Vec<usize> = sample(rng, from.len(), amount)
            .into_iter()
            .map(|i| from[i])
            .collect();
        picked.sort_unstable();
        picked.into_iter().map(user).collect()
    };
    let members: Vec<Member> = roles.members.iter().map(|&s| user(s)).collect();
    let l1 = pick(rng, &roles.members, 0.01, 3);
    let l2 = pick(rng, &roles.members, 0.005, 2);
    let it_staff: Vec<Member> = roles.by_department[4].iter().map(|&s| user(s)).collect();
    let contact_members: Vec<Member> = contacts
        .iter()
        .map(|c| Member {
            id: c.id,
            kind: MemberKind::OrgContact,
        })
        .collect();

    let add = |rng: &mut StdRng,
               dir: &mut Directory,
               name: &str,
               kind: GroupKind,
               description: &str,
               list: Vec<Member>|
     -> Uuid {
        let id = next_id(rng);
        let mut group = Group::new(id, name, kind, dir.domain.as_str(), created);
        group.description = Some(Arc::from(description));
        for member in list {
            group.add_member(member, 0);
        }
        for prop in GroupProp::ALL {
            group.versions[prop.index()] = 1;
        }
        dir.insert_group(group);
        id
    };
    use GroupKind::*;
    add(
        rng,
        dir,
        ALL_COMPANY,
        Microsoft365,
        "This is the default group for everyone in the network",
        members.clone(),
    );
    let helpdesk = pick(rng, &roles.members, 0.2, 1);
    add(
        rng,
        dir,
        HELPDESK_USERS,
        Security,
        "Users served by the service desk",
        helpdesk,
    );
    let l1_id = add(
        rng,
        dir,
        AGENTS_L1,
        Security,
        "First-line service desk agents",
        l1.clone(),
    );
    let l2_id = add(
        rng,
        dir,
        AGENTS_L2,
        Security,
        "Second-line service desk agents",
        l2.clone(),
    );
    let mut desk = l1.clone();
    desk.extend(l2.iter().filter(|m| !l1.contains(m)));
    add(rng, dir, SERVICE_DESK, Security, "Service desk team", desk);
    let infra_id = add(
        rng,
        dir,
        INFRASTRUCTURE,
        Security,
        "Infrastructure team",
        it_staff.clone(),
    );
    let cab = roles.managers.iter().take(8).map(|&s| user(s)).collect();
    add(rng, dir, CAB, Security, "Change advisory board", cab);
    add(
        rng,
        dir,
        SENIORS,
        Security,
        "Everyone with direct reports",
        roles.managers.iter().map(|&s| user(s)).collect(),
    );
    add(
        rng,
        dir,
        LEAVERS,
        Security,
        "Disabled accounts awaiting removal",
        roles.disabled.iter().map(|&s| user(s)).collect(),
    );
    add(
        rng,
        dir,
        VISITORS_DESK,
        Security,
        "Guests allowed at the visitors' desk",
        roles.guests.iter().map(|&s| user(s)).collect(),
    );
    let mut all_agents = vec![
        Member {
            id: l1_id,
            kind: MemberKind::Group,
        },
        Member {
            id: l2_id,
            kind: MemberKind::Group,
        },
    ];
    all_agents.extend(members.first().copied());
    add(
        rng,
        dir,
        ALL_AGENTS,
        Security,
        "Both agent lines, nested",
        all_agents,
    );
    let mut all_staff = pick(rng, &roles.members, 0.5, 1);
    all_staff.extend(contact_members.iter().copied());
    add(
        rng,
        dir,
        ALL_STAFF_DL,
        Distribution,
        "All staff mailing list",
        all_staff,
    );
    let mut it_dl: Vec<Member> = it_staff.iter().take(50).copied().collect();
    it_dl.extend(contact_members.iter().take(3).copied());
    it_dl.push(Member {
        id: infra_id,
        kind: MemberKind::Group,
    });
    add(
        rng,
        dir,
        IT_NOTIFICATIONS_DL,
        Distribution,
        "IT notifications",
        it_dl,
    );
    add(
        rng,
        dir,
        LICENSED_E5,
        Security,
        "Holders of Microsoft 365 E5",
        roles.e5.iter().map(|&s| user(s)).collect(),
    );

    let mut remaining = size.groups.saturating_sub(dir.groups.len());
    for (d, (department, _)) in DEPARTMENTS.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        let list = roles.by_department[d].iter().map(|&s| user(s)).collect();
        add(
            rng,
            dir,
            &format!("Dept - {department}"),
            Security,
            &format!("Members of the {department} department"),
            list,
        );
        remaining -= 1;
    }
    for (o, office) in OFFICES.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        let list = roles.by_office[o].iter().map(|&s| user(s)).collect();
        add(
            rng,
            dir,
            &format!("Office - {}", office.city),
            Microsoft365,
            &format!("Everyone based in {}", office.city),
            list,
        );
        remaining -= 1;
    }
    // Project groups with a long-tailed size distribution (rank^-0.9).
    let top = (roles.members.len() as f64 * 0.05).max(2.0);
    for rank in 0..remaining {
        let adjective = PROJECT_ADJECTIVES[rank % PROJECT_ADJECTIVES.len()];
        let noun = PROJECT_NOUNS[(rank / PROJECT_ADJECTIVES.len()) % PROJECT_NOUNS.len()];
        let round = rank / (PROJECT_ADJECTIVES.len() * PROJECT_NOUNS.len());
        let name = if round == 0 {
            format!("Project {adjective} {noun}")
        } else {
            format!("Project {adjective} {noun} {}", round + 1)
        };
        let wanted = (top / ((rank + 1) as f64).powf(0.9)) as usize;
        let share = wanted as f64 / roles.members.len().max(1) as f64;
        let list = pick(rng, &roles.members, share, 2.min(roles.members.len()));
        let kind = if rank % 3 == 0 {
            Microsoft365
        } else {
            Security
        };
        add(rng, dir, &name, kind, "Project team", list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Directory {
        generate(
            7,
            0,
            TenantSize {
                users: 1_000,
                groups: 60,
            },
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_tenant_and_another_seed_another() {
        let a = small();
        let b = small();
        assert_eq!(a.tenant_id, b.tenant_id);
        assert_eq!(
            a.users.iter().map(|u| u.id).collect::<Vec<_>>(),
            b.users.iter().map(|u| u.id).collect::<Vec<_>>()
        );
        let c = generate(
            8,
            0,
            TenantSize {
                users: 1_000,
                groups: 60,
            },
        );
        assert_ne!(a.tenant_id, c.tenant_id);
    }

    #[test]
    fn guests_are_three_to_five_percent_and_disabled_about_two() {
        let dir = small();
        let guests = dir
            .users
            .iter()
            .filter(|u| u.text(UserProp::UserType) == Some("Guest"))
            .count();
        assert!((30..=50).contains(&guests), "{guests} guests");
        assert!(
            dir.users
                .iter()
                .filter(|u| u.text(UserProp::UserType) == Some("Guest"))
                .all(|u| u
                    .text(UserProp::UserPrincipalName)
                    .is_some_and(|upn| upn.contains("#EXT#@")))
        );
        let disabled = dir.users.iter().filter(|u| !u.account_enabled).count();
        assert!((8..=35).contains(&disabled), "{disabled} disabled");
        let licensed_guests = dir
            .users
            .iter()
            .filter(|u| {
                u.text(UserProp::UserType) == Some("Guest") && !u.assigned_licenses.is_empty()
            })
            .count();
        assert!(licensed_guests > 0);
    }

    #[test]
    fn names_include_apostrophes_and_non_ascii_and_upns_are_unique_ascii() {
        let dir = small();
        assert!(
            dir.users
                .iter()
                .any(|u| u.text(UserProp::Surname).is_some_and(|s| s.contains('\'')))
        );
        assert!(
            dir.users
                .iter()
                .any(|u| u.text(UserProp::DisplayName).is_some_and(|s| !s.is_ascii()))
        );
        let mut upns: Vec<&str> = dir
            .users
            .iter()
            .filter_map(|u| u.text(UserProp::UserPrincipalName))
            .collect();
        assert!(upns.iter().all(|u| u.is_ascii()));
        let before = upns.len();
        upns.sort_unstable();
        upns.dedup();
        assert_eq!(upns.len(), before);
    }

    #[test]
    fn well_known_groups_exist_with_members_and_nesting() {
        let dir = small();
        let by_name = |name: &str| {
            dir.groups
                .iter()
                .find(|g| g.display_name.as_ref() == name)
                .expect(name)
        };
        assert_eq!(dir.groups.len(), 60);
        assert!(by_name(well_known::ALL_COMPANY).members.len() > 900);
        assert!(!by_name(well_known::VISITORS_DESK).members.is_empty());
        let all_agents = by_name(well_known::ALL_AGENTS);
        assert_eq!(
            all_agents
                .members
                .iter()
                .filter(|m| m.kind == MemberKind::Group)
                .count(),
            2
        );
        let transitive = dir.transitive_members(all_agents.id);
        assert!(transitive.len() > all_agents.members.len());
        let dl = by_name(well_known::ALL_STAFF_DL);
        assert!(dl.mail_enabled() && !dl.security_enabled());
        assert!(dl.members.iter().any(|m| m.kind == MemberKind::OrgContact));
    }

    #[test]
    fn every_member_but_a_few_has_a_manager_and_the_tree_has_no_cycles() {
        let dir = small();
        let members: Vec<&User> = dir
            .users
            .iter()
            .filter(|u| u.text(UserProp::UserType) == Some("Member"))
            .collect();
        let without = members.iter().filter(|u| u.manager.is_none()).count();
        assert!(
            without >= 1 && without < members.len() / 20,
            "{without} without manager"
        );
        for user in &members {
            let mut hops = 0;
            let mut current = user.manager;
            while let Some(m) = current {
                hops += 1;
                assert!(hops < 20, "cycle");
                current = dir.user(m).and_then(|u| u.manager);
            }
        }
    }

    #[test]
    fn skus_count_their_assignments_and_one_is_sold_out() {
        let dir = small();
        for sku in &dir.skus {
            let holders = dir
                .users
                .iter()
                .filter(|u| u.assigned_licenses.iter().any(|l| l.sku_id == sku.sku_id))
                .count() as u32;
            assert_eq!(sku.consumed_units, holders);
        }
        assert!(dir.skus.iter().any(|s| s.available_units() == 0));
    }
}
