//! Generated groups: the well-known ones, department and office groups, and long-tailed
//! project groups.

use std::sync::Arc;

use chrono::Duration;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use uuid::Uuid;

use super::catalogue::{DEPARTMENTS, OFFICES, PROJECT_ADJECTIVES, PROJECT_NOUNS};
use super::people::Roles;
use super::{TenantSize, next_id, reference_time};
use crate::directory::{Directory, Group, GroupKind, GroupProp, Member, MemberKind, OrgContact};

pub(super) fn make_groups(
    rng: &mut StdRng,
    dir: &mut Directory,
    size: TenantSize,
    roles: &Roles,
    contacts: &[OrgContact],
) {
    use super::well_known::*;
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
