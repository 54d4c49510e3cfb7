//! Generated users: names, mailboxes, guests, disabled accounts, offices, licences, sign-ins
//! and the manager tree.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use rand::Rng;
use rand::rngs::StdRng;

use super::catalogue::{DEPARTMENTS, GIVEN_NAMES, GUEST_DOMAINS, OFFICES, SURNAMES, ascii_fold};
use super::{next_id, reference_time};
use crate::directory::{AssignedLicense, SignInActivity, Sku, User, UserProp};

/// Which generated users play which part, by slot.
#[derive(Default)]
pub(super) struct Roles {
    pub(super) members: Vec<usize>,
    pub(super) guests: Vec<usize>,
    pub(super) disabled: Vec<usize>,
    pub(super) managers: Vec<usize>,
    pub(super) by_department: Vec<Vec<usize>>,
    pub(super) by_office: Vec<Vec<usize>>,
    pub(super) e5: Vec<usize>,
}

pub(super) struct People {
    pub(super) users: Vec<User>,
    pub(super) roles: Roles,
}

fn text(s: impl Into<Arc<str>>) -> Option<Arc<str>> {
    Some(s.into())
}

/// Shares one allocation per distinct catalogue string (names, cities, languages…).
#[derive(Default)]
struct Interner(HashMap<&'static str, Arc<str>>);

impl Interner {
    fn get(&mut self, s: &'static str) -> Option<Arc<str>> {
        Some(self.0.entry(s).or_insert_with(|| Arc::from(s)).clone())
    }
}

pub(super) fn make_users(
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
    let mut shared = Interner::default();
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
        user.set_text(UserProp::GivenName, shared.get(given));
        user.set_text(UserProp::Surname, shared.get(surname));
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
            user.set_text(UserProp::UsageLocation, shared.get(office.country));
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
            user.set_text(UserProp::City, shared.get(office.city));
            user.set_text(UserProp::State, shared.get(office.state));
            user.set_text(UserProp::Country, shared.get(office.country));
            user.set_text(UserProp::StreetAddress, shared.get(office.street));
            user.set_text(UserProp::PostalCode, shared.get(office.postal_code));
            user.set_text(UserProp::PreferredLanguage, shared.get(office.language));
            // 1 % have no usage location (and so no licence): assignLicense must refuse them.
            let has_usage_location = !rng.random_bool(0.01);
            if has_usage_location {
                user.set_text(UserProp::UsageLocation, shared.get(office.country));
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
