//! Groups, organisational contacts and group membership with its change log.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::user::Lifecycle;

/// The kind of a directory object that can be a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberKind {
    /// `#microsoft.graph.user`
    User,
    /// `#microsoft.graph.group`
    Group,
    /// `#microsoft.graph.orgContact`
    OrgContact,
}

impl MemberKind {
    /// The `@odata.type` annotation of objects of this kind.
    pub fn odata_type(self) -> &'static str {
        match self {
            Self::User => "#microsoft.graph.user",
            Self::Group => "#microsoft.graph.group",
            Self::OrgContact => "#microsoft.graph.orgContact",
        }
    }

    /// The type-cast path segment that selects this kind (`microsoft.graph.user`).
    pub fn cast_segment(self) -> &'static str {
        self.odata_type().trim_start_matches('#')
    }

    /// The entity set objects of this kind belong to (`users`), for `@odata.context`.
    pub fn collection(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Group => "groups",
            Self::OrgContact => "contacts",
        }
    }
}

/// A member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    /// The member's object id.
    pub id: Uuid,
    /// What the member is.
    pub kind: MemberKind,
}

/// A group property the emulator stores, named as Graph names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GroupProp {
    /// `displayName`
    DisplayName,
    /// `description`
    Description,
    /// `mail`
    Mail,
    /// `mailEnabled`
    MailEnabled,
    /// `mailNickname`
    MailNickname,
    /// `securityEnabled`
    SecurityEnabled,
    /// `groupTypes`
    GroupTypes,
    /// `visibility`
    Visibility,
    /// `createdDateTime`
    CreatedDateTime,
    /// `members` (navigation; `members@delta` in delta rounds)
    Members,
}

impl GroupProp {
    /// Every property.
    pub const ALL: [GroupProp; 10] = [
        Self::DisplayName,
        Self::Description,
        Self::Mail,
        Self::MailEnabled,
        Self::MailNickname,
        Self::SecurityEnabled,
        Self::GroupTypes,
        Self::Visibility,
        Self::CreatedDateTime,
        Self::Members,
    ];

    /// The Graph name of the property.
    pub fn name(self) -> &'static str {
        match self {
            Self::DisplayName => "displayName",
            Self::Description => "description",
            Self::Mail => "mail",
            Self::MailEnabled => "mailEnabled",
            Self::MailNickname => "mailNickname",
            Self::SecurityEnabled => "securityEnabled",
            Self::GroupTypes => "groupTypes",
            Self::Visibility => "visibility",
            Self::CreatedDateTime => "createdDateTime",
            Self::Members => "members",
        }
    }

    /// The property with this Graph name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Index into per-property arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The three kinds of group the generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Security group: securityEnabled, not mail-enabled.
    Security,
    /// Microsoft 365 group: `groupTypes: ["Unified"]`, mail-enabled.
    Microsoft365,
    /// Mail-enabled distribution list: mail-enabled, not security-enabled.
    Distribution,
}

/// One group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Object id.
    pub id: Uuid,
    /// `displayName`.
    pub display_name: Arc<str>,
    /// `description`.
    pub description: Option<Arc<str>>,
    /// `mail`.
    pub mail: Option<Arc<str>>,
    /// `mailNickname`.
    pub mail_nickname: Arc<str>,
    /// Security, Microsoft 365 or distribution.
    pub kind: GroupKind,
    /// `visibility` (Microsoft 365 groups only).
    pub visibility: Option<&'static str>,
    /// `createdDateTime`.
    pub created: DateTime<Utc>,
    /// Current members, in the order they joined.
    pub members: Vec<Member>,
    /// Position of each member in `members`.
    member_index: HashMap<Uuid, usize>,
    /// Membership changes after the tenant was generated: (version, member, added).
    pub member_log: Vec<(u32, Member, bool)>,
    /// Version at which each property last changed.
    pub versions: [u32; GroupProp::ALL.len()],
    /// Version at which the group entered the directory.
    pub appeared: u32,
    /// Present or deleted.
    pub lifecycle: Lifecycle,
}

impl Group {
    /// A group without members.
    pub fn new(
        id: Uuid,
        display_name: &str,
        kind: GroupKind,
        domain: &str,
        created: DateTime<Utc>,
    ) -> Self {
        let nickname: String = display_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_lowercase();
        let mail = (kind != GroupKind::Security).then(|| Arc::from(format!("{nickname}@{domain}")));
        Self {
            id,
            display_name: Arc::from(display_name),
            description: None,
            mail,
            mail_nickname: Arc::from(nickname),
            kind,
            visibility: (kind == GroupKind::Microsoft365).then_some("Public"),
            created,
            members: Vec::new(),
            member_index: HashMap::new(),
            member_log: Vec::new(),
            versions: [0; GroupProp::ALL.len()],
            appeared: 0,
            lifecycle: Lifecycle::Live,
        }
    }

    /// Whether the group is present.
    pub fn is_live(&self) -> bool {
        self.lifecycle == Lifecycle::Live
    }

    /// `mailEnabled`.
    pub fn mail_enabled(&self) -> bool {
        self.kind != GroupKind::Security
    }

    /// `securityEnabled`.
    pub fn security_enabled(&self) -> bool {
        self.kind == GroupKind::Security
    }

    /// `groupTypes`.
    pub fn group_types(&self) -> &'static [&'static str] {
        if self.kind == GroupKind::Microsoft365 {
            &["Unified"]
        } else {
            &[]
        }
    }

    /// Whether the object is a direct member.
    pub fn has_member(&self, id: Uuid) -> bool {
        self.member_index.contains_key(&id)
    }

    /// Adds a member; `version` 0 means "part of the generated state" (not logged).
    /// Returns false when it already was a member.
    pub fn add_member(&mut self, member: Member, version: u32) -> bool {
        if self.member_index.contains_key(&member.id) {
            return false;
        }
        self.member_index.insert(member.id, self.members.len());
        self.members.push(member);
        if version > 0 {
            self.member_log.push((version, member, true));
            self.versions[GroupProp::Members.index()] = version;
        }
        true
    }

    /// Removes a member, logging the change. Returns false when it was not a member.
    pub fn remove_member(&mut self, id: Uuid, version: u32) -> bool {
        let Some(position) = self.member_index.remove(&id) else {
            return false;
        };
        let member = self.members.remove(position);
        for slot in self.member_index.values_mut() {
            if *slot > position {
                *slot -= 1;
            }
        }
        self.member_log.push((version, member, false));
        self.versions[GroupProp::Members.index()] = version;
        true
    }

    /// Net membership changes after `since`: each member once, with whether it ended added.
    pub fn member_changes_since(&self, since: u32) -> Vec<(Member, bool)> {
        let start = self.member_log.partition_point(|(v, _, _)| *v <= since);
        let mut order: Vec<Uuid> = Vec::new();
        let mut last: HashMap<Uuid, (Member, bool)> = HashMap::new();
        for (_, member, added) in &self.member_log[start..] {
            if last.insert(member.id, (*member, *added)).is_none() {
                order.push(member.id);
            }
        }
        order
            .into_iter()
            .filter_map(|id| last.remove(&id))
            .collect()
    }
}

/// An organisational contact (a mail address outside the tenant, member of distribution lists).
#[derive(Debug, Clone)]
pub struct OrgContact {
    /// Object id.
    pub id: Uuid,
    /// `displayName`.
    pub display_name: Arc<str>,
    /// `mail`.
    pub mail: Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u128) -> Member {
        Member {
            id: Uuid::from_u128(n),
            kind: MemberKind::User,
        }
    }

    #[test]
    fn member_changes_are_netted_per_member_after_the_version() {
        let mut group = Group::new(
            Uuid::nil(),
            "SG-Test",
            GroupKind::Security,
            "x.test",
            DateTime::default(),
        );
        group.add_member(member(1), 0);
        group.add_member(member(2), 5);
        group.remove_member(member(1).id, 6);
        group.add_member(member(3), 7);
        group.remove_member(member(3).id, 8);
        let changes = group.member_changes_since(5);
        assert_eq!(changes, vec![(member(1), false), (member(3), false)]);
        assert_eq!(group.members, vec![member(2)]);
        assert!(group.has_member(member(2).id));
    }

    #[test]
    fn distribution_lists_are_mail_enabled_and_not_security_enabled() {
        let group = Group::new(
            Uuid::nil(),
            "DL All Staff",
            GroupKind::Distribution,
            "x.test",
            DateTime::default(),
        );
        assert!(group.mail_enabled() && !group.security_enabled());
        assert_eq!(group.mail.as_deref(), Some("dlallstaff@x.test"));
    }
}
