//! One tenant's directory: users, groups, contacts and SKUs, with a version counter that every
//! change bumps. Each property remembers the version of its last change, so a delta round for
//! "changes since version N" is a scan, and delta tokens only need to carry N.

mod changes;
mod group;
mod sku;
mod user;

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use group::{Group, GroupKind, GroupProp, Member, MemberKind, OrgContact};
pub use sku::{SKU_TEMPLATES, ServicePlan, Sku, SkuTemplate};
pub use user::{
    AssignedLicense, Lifecycle, STRING_PROPS, SignInActivity, Text, User, UserProp, sign_in_value,
};

/// Why a directory change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No such object (live or not, as the operation needs).
    #[error("no {kind} with id or name '{key}'")]
    NotFound {
        /// user, group, …
        kind: &'static str,
        /// What was asked for.
        key: String,
    },
    /// The request is malformed or breaks a rule (Graph's `Request_BadRequest`).
    #[error("{0}")]
    Invalid(String),
}

fn not_found(kind: &'static str, key: impl ToString) -> DirectoryError {
    DirectoryError::NotFound {
        kind,
        key: key.to_string(),
    }
}

/// One tenant's directory.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Tenant id.
    pub tenant_id: Uuid,
    /// Initial domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// Organisation name, e.g. `Contoso`.
    pub organisation: String,
    version: u32,
    /// Every user ever created, deleted ones included (slots never move: cursors index them).
    pub users: Vec<User>,
    user_index: HashMap<Uuid, u32>,
    upn_index: HashMap<String, u32>,
    /// Every group ever created.
    pub groups: Vec<Group>,
    group_index: HashMap<Uuid, u32>,
    /// Organisational contacts.
    pub contacts: Vec<OrgContact>,
    contact_index: HashMap<Uuid, u32>,
    /// Subscribed SKUs.
    pub skus: Vec<Sku>,
}

impl Directory {
    /// An empty directory at version 1 (the generated state is version 1).
    pub fn new(tenant_id: Uuid, domain: String, organisation: String) -> Self {
        Self {
            tenant_id,
            domain,
            organisation,
            version: 1,
            users: Vec::new(),
            user_index: HashMap::new(),
            upn_index: HashMap::new(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            contacts: Vec::new(),
            contact_index: HashMap::new(),
            skus: Vec::new(),
        }
    }

    /// The version of the latest change.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn bump(&mut self) -> u32 {
        self.version += 1;
        self.version
    }

    /// Live users.
    pub fn live_users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.is_live())
    }

    /// Number of live users (sizes the throttling bucket).
    pub fn live_user_count(&self) -> usize {
        self.live_users().count()
    }

    /// A user in any state, by object id.
    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.user_index
            .get(&id)
            .map(|&slot| &self.users[slot as usize])
    }

    /// A live user by object id or userPrincipalName, as `/users/{id | userPrincipalName}`.
    pub fn live_user_by_key(&self, key: &str) -> Option<&User> {
        let slot = match Uuid::parse_str(key) {
            Ok(id) => self.user_index.get(&id),
            Err(_) => self.upn_index.get(&key.to_lowercase()),
        }?;
        Some(&self.users[*slot as usize]).filter(|u| u.is_live())
    }

    fn user_slot(&self, id: Uuid) -> Result<usize, DirectoryError> {
        self.user_index
            .get(&id)
            .map(|&s| s as usize)
            .ok_or_else(|| not_found("user", id))
    }

    fn live_user_slot(&self, id: Uuid) -> Result<usize, DirectoryError> {
        let slot = self.user_slot(id)?;
        if self.users[slot].is_live() {
            Ok(slot)
        } else {
            Err(not_found("user", id))
        }
    }

    /// A group in any state.
    pub fn group(&self, id: Uuid) -> Option<&Group> {
        self.group_index
            .get(&id)
            .map(|&slot| &self.groups[slot as usize])
    }

    /// A live group.
    pub fn live_group(&self, id: Uuid) -> Option<&Group> {
        self.group(id).filter(|g| g.is_live())
    }

    fn live_group_slot(&self, id: Uuid) -> Result<usize, DirectoryError> {
        match self.group_index.get(&id) {
            Some(&slot) if self.groups[slot as usize].is_live() => Ok(slot as usize),
            _ => Err(not_found("group", id)),
        }
    }

    /// An organisational contact.
    pub fn contact(&self, id: Uuid) -> Option<&OrgContact> {
        self.contact_index
            .get(&id)
            .map(|&slot| &self.contacts[slot as usize])
    }

    /// What kind of object `id` is, when it is a live user, group or contact.
    pub fn kind_of(&self, id: Uuid) -> Option<MemberKind> {
        if self.user(id).is_some_and(User::is_live) {
            Some(MemberKind::User)
        } else if self.live_group(id).is_some() {
            Some(MemberKind::Group)
        } else {
            self.contact(id).map(|_| MemberKind::OrgContact)
        }
    }

    /// Adds generated users (part of version 1). The vector is taken over as is when the
    /// directory has none yet, so 100 000 users are never held twice.
    pub fn insert_users(&mut self, mut users: Vec<User>) {
        let first = self.users.len() as u32;
        self.user_index.reserve(users.len());
        self.upn_index.reserve(users.len());
        for (n, user) in users.iter_mut().enumerate() {
            let slot = first + n as u32;
            user.appeared = user.appeared.max(1);
            if let Some(upn) = user.text(UserProp::UserPrincipalName) {
                self.upn_index.insert(upn.to_lowercase(), slot);
            }
            self.user_index.insert(user.id, slot);
        }
        if self.users.is_empty() {
            self.users = users;
        } else {
            self.users.append(&mut users);
        }
    }

    /// Adds a generated group (part of version 1).
    pub fn insert_group(&mut self, mut group: Group) {
        group.appeared = group.appeared.max(1);
        self.group_index.insert(group.id, self.groups.len() as u32);
        self.groups.push(group);
    }

    /// Adds a generated contact.
    pub fn insert_contact(&mut self, contact: OrgContact) {
        self.contact_index
            .insert(contact.id, self.contacts.len() as u32);
        self.contacts.push(contact);
    }

    /// Every object reachable through nested membership, each once, groups included.
    pub fn transitive_members(&self, group: Uuid) -> Vec<Member> {
        let mut seen = HashSet::from([group]);
        let mut out = Vec::new();
        let mut queue = VecDeque::from([group]);
        while let Some(current) = queue.pop_front() {
            let Some(g) = self.live_group(current) else {
                continue;
            };
            for member in &g.members {
                if seen.insert(member.id) {
                    out.push(*member);
                    if member.kind == MemberKind::Group {
                        queue.push_back(member.id);
                    }
                }
            }
        }
        out
    }
}

/// Graph's timestamp format, e.g. `2021-03-12T10:36:14Z`.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
