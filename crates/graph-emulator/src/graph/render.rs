//! Users, groups and directory objects as Graph JSON.

use serde_json::{Map, Value, json};

use crate::directory::{
    Directory, Group, GroupProp, Member, MemberKind, User, UserProp, graph_time,
};

/// A user with the given properties (`id` always). With `nulls`, properties without a value
/// are `null` (list and get behaviour); without, they are left out (delta's "never set").
pub fn user(user: &User, props: &[UserProp], nulls: bool) -> Map<String, Value> {
    let mut map = Map::with_capacity(props.len() + 1);
    map.insert("id".into(), Value::String(user.id.to_string()));
    for &prop in props {
        if prop == UserProp::Manager {
            continue;
        }
        if nulls || user.has_value(prop) || user.versions[prop.index()] > 0 {
            map.insert(prop.name().into(), user.value(prop));
        }
    }
    map
}

/// The manager as `$expand=manager` embeds it, or `None` without one.
pub fn expanded_manager(dir: &Directory, user: &User, props: &[UserProp]) -> Option<Value> {
    let manager = dir.user(user.manager?).filter(|m| m.is_live())?;
    let mut map = self::user(manager, props, true);
    map.insert(
        "@odata.type".into(),
        Value::String("#microsoft.graph.user".into()),
    );
    Some(Value::Object(map))
}

/// Resolves `$select` names against the user properties; unknown names are a 400.
pub fn user_props(select: Option<&[String]>) -> Result<Vec<UserProp>, String> {
    let Some(select) = select else {
        return Ok(UserProp::DEFAULT.to_vec());
    };
    let mut props = Vec::new();
    for name in select {
        if name.eq_ignore_ascii_case("id") {
            continue;
        }
        let prop = UserProp::from_name(name).ok_or_else(|| {
            format!("Could not find a property named '{name}' on type 'microsoft.graph.user'.")
        })?;
        if !props.contains(&prop) {
            props.push(prop);
        }
    }
    Ok(props)
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
        let prop = GroupProp::from_name(name).ok_or_else(|| {
            format!("Could not find a property named '{name}' on type 'microsoft.graph.group'.")
        })?;
        if !props.contains(&prop) {
            props.push(prop);
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
            dir.user(member.id)
                .map(|u| self::user(u, &props, true))
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
            dir.group(member.id)
                .map(|g| self::group(g, &props))
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
