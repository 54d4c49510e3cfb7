//! Deterministic tenant generator: the same seed, index and size always give the same directory
//! (ids included), so tests can rely on names, counts and the well-known groups.

mod catalogue;
mod groups;
mod people;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

pub use catalogue::ascii_fold;
use catalogue::{CONTACT_ORGANISATIONS, ORGANISATIONS};

use crate::directory::{Directory, OrgContact, SKU_TEMPLATES, ServicePlan, Sku};

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
    /// Groups in total; the well-known ones are made even when this is smaller, except that
    /// 0 means no groups at all.
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
    let people = people::make_users(
        &mut rng,
        size.users,
        &domain,
        &mail_domain,
        organisation,
        &skus,
    );
    dir.insert_users(people.users);
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
    if size.groups > 0 {
        groups::make_groups(&mut rng, &mut dir, size, &people.roles, &contacts);
    }
    dir
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{MemberKind, User, UserProp};

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
