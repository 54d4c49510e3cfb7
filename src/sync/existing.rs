//! The service-desk records a run found, as the mapping engine's `ExistingRecord`s.

use std::collections::BTreeMap;
use std::sync::Arc;

use mapping::{ExistingCab, ExistingRecord, ExistingTeam, HaloField, Site};

use crate::store::{AgentSnapshot, LicenceType, Source, Unlinked, UserSnapshot};

fn source(s: Source) -> mapping::Source {
    match s {
        Source::Entra => mapping::Source::Entra,
        Source::Manual => mapping::Source::Manual,
    }
}

fn inactive(flag: bool, reason: Option<&str>) -> Option<mapping::Source> {
    flag.then(|| {
        if reason == Some("entra") {
            mapping::Source::Entra
        } else {
            mapping::Source::Manual
        }
    })
}

fn cabs(cabs: &BTreeMap<String, (Option<String>, Source)>) -> BTreeMap<Arc<str>, ExistingCab> {
    cabs.iter()
        .map(|(cab, (role, s))| {
            (
                Arc::from(cab.as_str()),
                ExistingCab {
                    cab_role: role.as_deref().map(Arc::from),
                    source: source(*s),
                },
            )
        })
        .collect()
}

fn roles(roles: &BTreeMap<String, Source>) -> BTreeMap<Arc<str>, mapping::Source> {
    roles
        .iter()
        .map(|(r, s)| (Arc::from(r.as_str()), source(*s)))
        .collect()
}

pub fn user_existing(u: &UserSnapshot) -> ExistingRecord {
    let f = &u.fields;
    let mut fields = BTreeMap::new();
    let mut put = |field: HaloField, value: Option<&String>| {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    };
    put(HaloField::Name, Some(&f.name));
    put(HaloField::Firstname, f.firstname.as_ref());
    put(HaloField::Surname, f.surname.as_ref());
    put(HaloField::Emailaddress, f.emailaddress.as_ref());
    put(HaloField::Login, f.login.as_ref());
    put(HaloField::Phonenumber, f.phonenumber.as_ref());
    put(HaloField::Mobilenumber, f.mobilenumber.as_ref());
    put(HaloField::Jobtitle, f.jobtitle.as_ref());
    put(HaloField::Department, f.department.as_ref());
    put(HaloField::EmployeeNumber, f.employee_number.as_ref());
    put(HaloField::Manager, f.manager.as_ref());
    put(HaloField::Creationtype, f.creationtype.as_ref());
    put(HaloField::LastSignIn, f.last_sign_in.as_ref());
    for (name, value) in &u.custom_fields {
        fields.insert(
            HaloField::Custom(Arc::from(name.as_str())),
            Arc::from(value.as_str()),
        );
    }
    ExistingRecord {
        site: u.site.as_ref().map(|(c, s)| Site {
            client: Arc::from(c.as_str()),
            name: Arc::from(s.as_str()),
        }),
        fields,
        roles: roles(&u.roles),
        teams: BTreeMap::new(),
        cabs: cabs(&u.cabs),
        inactive: inactive(u.inactive, u.inactive_reason.as_deref()),
        keep_active: u.keep_active,
        licence: None,
    }
}

pub fn unlinked_existing(u: &Unlinked) -> ExistingRecord {
    let mut fields = BTreeMap::new();
    fields.insert(HaloField::Name, Arc::from(u.name.as_str()));
    for (field, value) in [
        (HaloField::Emailaddress, &u.emailaddress),
        (HaloField::Login, &u.login),
        (HaloField::EmployeeNumber, &u.employee_number),
    ] {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    }
    // An adopted record's activity and roles were set by hand; the sync treats them as manual.
    ExistingRecord {
        fields,
        ..ExistingRecord::default()
    }
}

pub fn agent_existing(a: &AgentSnapshot) -> ExistingRecord {
    let mut fields = BTreeMap::new();
    fields.insert(HaloField::Name, Arc::from(a.name.as_str()));
    for (field, value) in [
        (HaloField::Emailaddress, &a.emailaddress),
        (HaloField::Phonenumber, &a.phonenumber),
        (HaloField::Jobtitle, &a.jobtitle),
        (HaloField::Creationtype, &a.creationtype),
        (HaloField::Linemanager, &a.linemanager_entra_id),
        (HaloField::Team, &a.default_team),
    ] {
        if let Some(v) = value {
            fields.insert(field, Arc::from(v.as_str()));
        }
    }
    let teams = a
        .teams
        .iter()
        .map(|(t, (flags, s))| {
            let flags = mapping::TeamFlags {
                can_be_assigned: flags.can_be_assigned,
                sees_unassigned: flags.sees_unassigned,
                sees_other_agents: flags.sees_other_agents,
            };
            (
                Arc::from(t.as_str()),
                ExistingTeam {
                    flags,
                    source: source(*s),
                },
            )
        })
        .collect();
    ExistingRecord {
        site: None,
        fields,
        roles: roles(&a.roles),
        teams,
        cabs: cabs(&a.cabs),
        inactive: inactive(a.inactive, a.inactive_reason.as_deref()),
        keep_active: a.keep_active,
        licence: Some(match a.licence_type {
            LicenceType::Named => mapping::LicenceType::Named,
            LicenceType::Concurrent => mapping::LicenceType::Concurrent,
        }),
    }
}
