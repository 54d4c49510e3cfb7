//! Users, groups and directory objects as Graph JSON.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::properties::{self, Documented};

use crate::directory::{
    Directory, Group, GroupProp, Member, MemberKind, User, UserProp, graph_time,
};

/// A collection page: `@odata.context`, then `@odata.nextLink` or `@odata.deltaLink`, and
/// `value` (user-list.md, user-delta.md).
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    /// `@odata.context`.
    #[serde(rename = "@odata.context")]
    pub context: String,
    /// `@odata.count` (`$count=true`).
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// `@odata.nextLink`.
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    /// `@odata.deltaLink`.
    #[serde(rename = "@odata.deltaLink", skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    /// The items.
    pub value: Vec<T>,
}

/// A `/$count` answer: the number as `text/plain`.
pub fn plain_count(count: usize) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain;charset=utf-8")],
        count.to_string(),
    )
        .into_response()
}

/// A user written straight to JSON, without building a map first: the hot path of list and
/// delta pages. `id` always; with `nulls`, properties without a value are `null` (list and get
/// behaviour); without, never-set properties are left out (delta's rule).
pub struct UserJson<'a> {
    /// The user.
    pub user: &'a User,
    /// Properties to write (`manager` is written only through the two fields below); owned
    /// when a delta entry carries only its changed properties.
    pub props: Cow<'a, [UserProp]>,
    /// Write unset properties as `null`.
    pub nulls: bool,
    /// `$expand=manager`: the manager and its properties.
    pub manager: Option<(&'a User, &'a [UserProp])>,
    /// `manager@delta` entries: (manager id, removed).
    pub manager_delta: Option<Vec<(Uuid, bool)>>,
    /// Adds `"@odata.type": "#microsoft.graph.user"`.
    pub typed: bool,
    /// Documented properties the emulator does not model, written as `null` / `[]` (with
    /// `nulls` only).
    pub unmodelled: &'a [&'static Documented],
}

impl<'a> UserJson<'a> {
    /// A plain user.
    pub fn new(user: &'a User, props: &'a [UserProp], nulls: bool) -> Self {
        Self {
            user,
            props: Cow::Borrowed(props),
            nulls,
            manager: None,
            manager_delta: None,
            typed: false,
            unmodelled: &[],
        }
    }
}

struct Texts<'a>(&'a [std::sync::Arc<str>]);

impl Serialize for Texts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|s| s.as_ref()))
    }
}

struct ManagerRef(Uuid, bool);

impl Serialize for ManagerRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(if self.1 { 3 } else { 2 }))?;
        map.serialize_entry("@odata.type", MemberKind::User.odata_type())?;
        map.serialize_entry("id", &self.0)?;
        if self.1 {
            map.serialize_entry("@removed", &json!({"reason": "deleted"}))?;
        }
        map.end()
    }
}

impl Serialize for UserJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let user = self.user;
        let mut map = serializer.serialize_map(None)?;
        if self.typed {
            map.serialize_entry("@odata.type", MemberKind::User.odata_type())?;
        }
        map.serialize_entry("id", &user.id)?;
        for &prop in self.props.iter() {
            if prop == UserProp::Manager
                || !(self.nulls || user.has_value(prop) || user.versions[prop.index()] > 0)
            {
                continue;
            }
            let name = prop.name();
            match prop {
                UserProp::AccountEnabled => map.serialize_entry(name, &user.account_enabled)?,
                UserProp::OnPremisesSyncEnabled => {
                    map.serialize_entry(name, &user.on_premises_sync_enabled)?
                }
                UserProp::BusinessPhones => {
                    map.serialize_entry(name, &Texts(&user.business_phones))?
                }
                UserProp::OtherMails => map.serialize_entry(name, &Texts(&user.other_mails))?,
                UserProp::AssignedLicenses => map.serialize_entry(name, &user.assigned_licenses)?,
                UserProp::OnPremisesExtensionAttributes | UserProp::SignInActivity => {
                    map.serialize_entry(name, &user.value(prop))?
                }
                text => map.serialize_entry(name, &user.text(text))?,
            }
        }
        if self.nulls {
            for prop in self.unmodelled {
                map.serialize_entry(prop.name, &prop.empty())?;
            }
        }
        if let Some((manager, props)) = self.manager {
            let embedded = UserJson {
                typed: true,
                ..UserJson::new(manager, props, true)
            };
            map.serialize_entry("manager", &embedded)?;
        }
        if let Some(entries) = &self.manager_delta {
            let refs: Vec<ManagerRef> = entries
                .iter()
                .map(|&(id, removed)| ManagerRef(id, removed))
                .collect();
            map.serialize_entry("manager@delta", &refs)?;
        }
        map.end()
    }
}

/// A user with the given properties as a JSON map (see [`UserJson`]).
pub fn user(user: &User, props: &[UserProp], nulls: bool) -> Map<String, Value> {
    match serde_json::to_value(UserJson::new(user, props, nulls)) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The live manager of a user, if any.
pub fn live_manager<'a>(dir: &'a Directory, user: &User) -> Option<&'a User> {
    dir.user(user.manager?).filter(|m| m.is_live())
}

/// The manager as `$expand=manager` and `/manager` return it, or `None` without one.
pub fn expanded_manager(dir: &Directory, user: &User, props: &[UserProp]) -> Option<Value> {
    let manager = live_manager(dir, user)?;
    serde_json::to_value(UserJson {
        typed: true,
        ..UserJson::new(manager, props, true)
    })
    .ok()
}

/// Resolves `$select` names against the modelled user properties; documented properties the
/// emulator does not model are skipped (see [`unmodelled`]), other names are a 400.
pub fn user_props(select: Option<&[String]>) -> Result<Vec<UserProp>, String> {
    let Some(select) = select else {
        return Ok(UserProp::DEFAULT.to_vec());
    };
    let mut props = Vec::new();
    for name in select {
        if name.eq_ignore_ascii_case("id") {
            continue;
        }
        match UserProp::from_name(name) {
            Some(prop) if !props.contains(&prop) => props.push(prop),
            Some(_) => {}
            None if properties::find(properties::user(), name).is_some() => {}
            None => {
                return Err(format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.user'."
                ));
            }
        }
    }
    Ok(props)
}

/// The `$select`ed names that are documented properties of the resource but not modelled by
/// the emulator (answered `null` / `[]`); `modelled` says which names the emulator answers.
pub fn unmodelled(
    select: Option<&[String]>,
    catalogue: &'static [Documented],
    modelled: impl Fn(&str) -> bool,
) -> Vec<&'static Documented> {
    let mut found: Vec<&'static Documented> = Vec::new();
    for name in select.unwrap_or_default() {
        if let Some(prop) = properties::find(catalogue, name)
            && !prop.name.eq_ignore_ascii_case("id")
            && !modelled(prop.name)
            && !found.contains(&prop)
        {
            found.push(prop);
        }
    }
    found
}

/// [`unmodelled`] for users.
pub fn unmodelled_user(select: Option<&[String]>) -> Vec<&'static Documented> {
    unmodelled(select, properties::user(), |n| {
        UserProp::from_name(n).is_some()
    })
}

/// [`unmodelled`] for groups.
pub fn unmodelled_group(select: Option<&[String]>) -> Vec<&'static Documented> {
    unmodelled(select, properties::group(), |n| {
        GroupProp::from_name(n).is_some()
    })
}

/// Adds the unmodelled properties to a rendered object.
pub fn add_unmodelled(map: &mut Map<String, Value>, unmodelled: &[&'static Documented]) {
    for prop in unmodelled {
        map.insert(prop.name.into(), prop.empty());
    }
}

/// Resolves `$select` names against the group properties.
pub fn group_props(
    select: Option<&[String]>,
    default: &[GroupProp],
) -> Result<Vec<GroupProp>, String> {
    let Some(select) = select else {
        return Ok(default.to_vec());
    };
    let mut props = Vec::new();
    for name in select {
        if name.eq_ignore_ascii_case("id") {
            continue;
        }
        match GroupProp::from_name(name) {
            Some(prop) if !props.contains(&prop) => props.push(prop),
            Some(_) => {}
            None if properties::find(properties::group(), name).is_some() => {}
            None => {
                return Err(format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.group'."
                ));
            }
        }
    }
    Ok(props)
}

/// One group property as JSON.
pub fn group_value(group: &Group, prop: GroupProp) -> Value {
    let text = |t: &Option<std::sync::Arc<str>>| {
        t.as_deref()
            .map_or(Value::Null, |s| Value::String(s.into()))
    };
    match prop {
        GroupProp::DisplayName => Value::String(group.display_name.to_string()),
        GroupProp::Description => text(&group.description),
        GroupProp::Mail => text(&group.mail),
        GroupProp::MailEnabled => Value::Bool(group.mail_enabled()),
        GroupProp::MailNickname => Value::String(group.mail_nickname.to_string()),
        GroupProp::SecurityEnabled => Value::Bool(group.security_enabled()),
        GroupProp::GroupTypes => json!(group.group_types()),
        GroupProp::Visibility => group
            .visibility
            .map_or(Value::Null, |v| Value::String(v.into())),
        GroupProp::CreatedDateTime => Value::String(graph_time(group.created)),
        GroupProp::Members => Value::Null,
    }
}

/// A group with the given properties (`id` always; `members` is never inlined).
pub fn group(group: &Group, props: &[GroupProp]) -> Map<String, Value> {
    let mut map = Map::with_capacity(props.len() + 1);
    map.insert("id".into(), Value::String(group.id.to_string()));
    for &prop in props.iter().filter(|p| **p != GroupProp::Members) {
        map.insert(prop.name().into(), group_value(group, prop));
    }
    map
}

/// A directory object in a members list: `@odata.type` plus its properties (`$select`ed
/// where they exist on the object's type).
pub fn member(dir: &Directory, member: &Member, select: Option<&[String]>) -> Value {
    let mut map = match member.kind {
        MemberKind::User => {
            let props = user_props(select).unwrap_or_else(|_| UserProp::DEFAULT.to_vec());
            let unmodelled = unmodelled_user(select);
            dir.user(member.id)
                .map(|u| {
                    let mut map = self::user(u, &props, true);
                    add_unmodelled(&mut map, &unmodelled);
                    map
                })
                .unwrap_or_default()
        }
        MemberKind::Group => {
            let default = [
                GroupProp::DisplayName,
                GroupProp::Description,
                GroupProp::Mail,
                GroupProp::MailEnabled,
                GroupProp::SecurityEnabled,
                GroupProp::GroupTypes,
            ];
            let props = group_props(select, &default).unwrap_or_else(|_| default.to_vec());
            let unmodelled = unmodelled_group(select);
            dir.group(member.id)
                .map(|g| {
                    let mut map = self::group(g, &props);
                    add_unmodelled(&mut map, &unmodelled);
                    map
                })
                .unwrap_or_default()
        }
        MemberKind::OrgContact => {
            let mut map = Map::new();
            if let Some(contact) = dir.contact(member.id) {
                map.insert("id".into(), Value::String(contact.id.to_string()));
                map.insert(
                    "displayName".into(),
                    Value::String(contact.display_name.to_string()),
                );
                map.insert("mail".into(), Value::String(contact.mail.to_string()));
            }
            map
        }
    };
    map.insert(
        "@odata.type".into(),
        Value::String(member.kind.odata_type().into()),
    );
    Value::Object(map)
}

/// A `members@delta` / `manager@delta` entry: type and id, `@removed` when it left.
pub fn delta_reference(member: &Member, removed: bool) -> Value {
    if removed {
        json!({"@odata.type": member.kind.odata_type(), "id": member.id, "@removed": {"reason": "deleted"}})
    } else {
        json!({"@odata.type": member.kind.odata_type(), "id": member.id})
    }
}
