//! The Entra mirror: the last known state of each user and tracked group, merged
//! idempotently from full and delta pages. Pure: the sync reads stored rows, merges a page here,
//! and writes back what changed.
//!
//! Delta pages are unordered, replayed and partial. Merging therefore takes each property an
//! object carries (explicit `null` included) over the stored one, keeps the rest, and reports
//! whether anything actually changed — so replaying a page is a no-op.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::vocab::NotificationKind;

/// Why a person left the directory, as the mirror records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// `@removed: {reason: "changed"}`: soft-deleted, restorable for 30 days.
    Changed,
    /// `@removed: {reason: "deleted"}`: permanently deleted.
    Deleted,
    /// Not reported by a complete initial round.
    Missing,
}

impl Removal {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::Changed => "changed",
            Removal::Deleted => "deleted",
            Removal::Missing => "missing",
        }
    }

    /// Parses the column value.
    pub fn parse(raw: &str) -> Option<Removal> {
        match raw {
            "changed" => Some(Removal::Changed),
            "deleted" => Some(Removal::Deleted),
            "missing" => Some(Removal::Missing),
            _ => None,
        }
    }
}

/// What happened to a person, as the inbound log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// First seen (or back after a removal).
    Created,
    /// A property changed.
    Updated,
    /// Soft-deleted.
    RemovedChanged,
    /// Deleted, or missing from a complete full round.
    RemovedDeleted,
    /// Re-evaluated by a full round without a change.
    FullPass,
}

impl Notification {
    /// Every notification, in declaration order.
    pub const ALL: [Notification; 5] = [
        Notification::Created,
        Notification::Updated,
        Notification::RemovedChanged,
        Notification::RemovedDeleted,
        Notification::FullPass,
    ];

    /// What two notifications for one person amount to when both arrive before the person is
    /// evaluated: `self` first, then `later`. This is the one rule: reading a page, committing it
    /// over a pending mark (the store renders this function as SQL) and a dry run's memory all
    /// use it.
    ///
    /// The result names how the person changed between their last evaluation and what the
    /// mirror holds now (the mirror keeps the latest report):
    ///
    /// 1. A removal reported later is the person's state now, so it wins over a creation, an
    ///    update or an earlier removal (`removed-changed` after `removed-deleted` too: the mirror
    ///    then holds the soft delete, and Graph reports a restorable object that way).
    /// 2. A person seen again after a removal came back: `created`, as the mirror names a
    ///    return (`updated` and `full-pass` included, whatever carried the sighting).
    /// 3. A person created and then seen again (updated, or passed by a full round) is still
    ///    `created`: nobody has evaluated the creation yet.
    /// 4. An update is not hidden by a full pass that follows it: `updated` stays.
    /// 5. Otherwise the later notification: it says more about the person now.
    ///
    /// The rule is associative, so the order in which pages, commits and marks group the
    /// reports does not change the outcome. A membership change is not a report about the
    /// person: it only makes sure they are evaluated (`updated` when nothing is pending) and
    /// leaves a pending mark as it is.
    pub fn then(self, later: Notification) -> Notification {
        use Notification::{Created, FullPass, RemovedChanged, RemovedDeleted, Updated};
        match (self, later) {
            (_, RemovedChanged | RemovedDeleted) => later,
            (RemovedChanged | RemovedDeleted, _) => Created,
            (Created, Updated | FullPass) => Created,
            (Updated, FullPass) => Updated,
            (_, later) => later,
        }
    }

    /// [`Notification::then`] over optional reports: `None` (nothing new, or nothing pending)
    /// leaves the other one as it is.
    pub fn combine(
        earlier: Option<Notification>,
        later: Option<Notification>,
    ) -> Option<Notification> {
        match (earlier, later) {
            (Some(earlier), Some(later)) => Some(earlier.then(later)),
            (earlier, later) => later.or(earlier),
        }
    }

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Notification::Created => "created",
            Notification::Updated => "updated",
            Notification::RemovedChanged => "removed-changed",
            Notification::RemovedDeleted => "removed-deleted",
            Notification::FullPass => "full-pass",
        }
    }

    /// Parses the column value.
    pub fn parse(raw: &str) -> Option<Notification> {
        Some(match raw {
            "created" => Notification::Created,
            "updated" => Notification::Updated,
            "removed-changed" => Notification::RemovedChanged,
            "removed-deleted" => Notification::RemovedDeleted,
            "full-pass" => Notification::FullPass,
            _ => return None,
        })
    }
}

impl From<Notification> for NotificationKind {
    /// The inbound log names the notification a person was evaluated for by its mark's word.
    fn from(notification: Notification) -> Self {
        match notification {
            Notification::Created => NotificationKind::Created,
            Notification::Updated => NotificationKind::Updated,
            Notification::RemovedChanged => NotificationKind::RemovedChanged,
            Notification::RemovedDeleted => NotificationKind::RemovedDeleted,
            Notification::FullPass => NotificationKind::FullPass,
        }
    }
}

/// A mirrored user.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorUser {
    /// Entra object id.
    pub entra_id: String,
    /// Selected attributes as last reported (`manager` held as the manager's id).
    pub attributes: Map<String, Value>,
    /// Set while the person is gone from the directory.
    pub removed: Option<Removal>,
}

impl MirrorUser {
    /// The user principal name, if known.
    pub fn upn(&self) -> Option<&str> {
        self.attributes
            .get("userPrincipalName")
            .and_then(Value::as_str)
    }

    /// The manager's object id, if any.
    pub fn manager_id(&self) -> Option<&str> {
        self.attributes.get("manager").and_then(Value::as_str)
    }
}

/// The result of merging one delta object.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The person after the merge.
    pub user: MirrorUser,
    /// What the change amounts to, or `None` when the object changed nothing (a replay).
    pub notification: Option<Notification>,
    /// The attributes whose text held characters no database can store (NUL), merged without
    /// them.
    pub cleaned: Vec<String>,
}

/// `value` with every NUL character removed from its text (keys included), and whether there was
/// any. PostgreSQL can store a NUL neither in text nor in JSON, and no Entra value means one; one
/// such value must not stop a page, and with it the connection's sync.
pub fn storable(value: Value) -> (Value, bool) {
    fn clean(text: String, found: &mut bool) -> String {
        if text.contains('\0') {
            *found = true;
            text.replace('\0', "")
        } else {
            text
        }
    }
    fn walk(value: Value, found: &mut bool) -> Value {
        match value {
            Value::String(text) => Value::String(clean(text, found)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| walk(v, found)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (clean(k, found), walk(v, found)))
                    .collect(),
            ),
            other => other,
        }
    }
    let mut found = false;
    let value = walk(value, &mut found);
    (value, found)
}

/// The object's `id`, if it has one the mirror can keep: text without a NUL character (no
/// database stores one, and no Entra id holds one).
pub fn object_id(object: &Map<String, Value>) -> Option<&str> {
    object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.contains('\0'))
}

/// Merges one `users/delta` object into the stored person (`None`: not yet mirrored, or the
/// object has no [id](object_id)). `initial` rounds report everyone: an unchanged person then
/// becomes a full-pass notification.
pub fn merge_user(
    stored: Option<&MirrorUser>,
    object: &Map<String, Value>,
    initial: bool,
) -> Option<Merged> {
    let entra_id = object_id(object)?.to_owned();
    if let Some(reason) = removed_reason(object) {
        let mut user = stored.cloned().unwrap_or_else(|| MirrorUser {
            entra_id,
            attributes: Map::new(),
            removed: None,
        });
        let changed = user.removed != Some(reason);
        user.removed = Some(reason);
        let notification = match reason {
            Removal::Changed => Notification::RemovedChanged,
            Removal::Deleted | Removal::Missing => Notification::RemovedDeleted,
        };
        return Some(Merged {
            user,
            notification: changed.then_some(notification),
            cleaned: Vec::new(),
        });
    }
    let mut user = stored.cloned().unwrap_or_else(|| MirrorUser {
        entra_id,
        attributes: Map::new(),
        removed: None,
    });
    // The object's properties under the names the mirror keeps them by, first: two properties
    // can land on one name (`manager` and `manager@delta`, `city` and `city` with a NUL), and
    // comparing each with the stored value in turn would make the first look changed on every
    // replay. The later property (in key order) wins, as it does in the mirror.
    let mut incoming = Map::new();
    let mut cleaned = Vec::new();
    for (key, value) in object {
        if key.starts_with("@odata.") || key == "@removed" {
            continue;
        }
        let (key, value) = match key.as_str() {
            "manager@delta" | "manager" => ("manager".to_owned(), manager_of(value)),
            _ => (key.clone(), value.clone()),
        };
        let (value, unstorable) = storable(value);
        let (key, unstorable_key) = match storable(Value::String(key)) {
            (Value::String(key), found) => (key, found),
            (_, found) => (String::new(), found),
        };
        if (unstorable || unstorable_key) && !cleaned.contains(&key) {
            cleaned.push(key.clone());
        }
        incoming.insert(key, value);
    }
    let mut changed = false;
    for (key, value) in incoming {
        if user.attributes.get(&key) != Some(&value) {
            user.attributes.insert(key, value);
            changed = true;
        }
    }
    let notification = match (stored, stored.and_then(|s| s.removed)) {
        (None, _) | (Some(_), Some(_)) => Some(Notification::Created),
        _ if changed => Some(Notification::Updated),
        _ if initial => Some(Notification::FullPass),
        _ => None,
    };
    user.removed = None;
    Some(Merged {
        user,
        notification,
        cleaned,
    })
}

fn removed_reason(object: &Map<String, Value>) -> Option<Removal> {
    let removed = object.get("@removed")?;
    match removed.get("reason").and_then(Value::as_str) {
        Some("deleted") => Some(Removal::Deleted),
        // Graph documents `changed` (soft delete); anything else is treated the same, safely.
        _ => Some(Removal::Changed),
    }
}

/// `manager@delta` (a list of `{id}` entries, `@removed` when the manager was unset), a bare
/// `{id}` object, or an id → the manager's id, or `null`.
fn manager_of(value: &Value) -> Value {
    match value {
        Value::String(id) => Value::String(id.clone()),
        Value::Object(entry) if entry.contains_key("@removed") => Value::Null,
        Value::Object(entry) => entry.get("id").cloned().unwrap_or(Value::Null),
        Value::Array(entries) => entries
            .iter()
            .map(manager_of)
            .find(|v| !v.is_null())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// One group's membership change from a `groups/delta` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDelta {
    /// The group's id.
    pub id: String,
    /// Its display name, when the object carries it.
    pub display_name: Option<String>,
    /// Its SMTP address, when the object carries one.
    pub mail: Option<String>,
    /// Whether it is mail-enabled, when the object says.
    pub mail_enabled: Option<bool>,
    /// The group itself was removed.
    pub removed: bool,
    /// Members added: `(id, type)` with type `user`, `group`, `contact` or `other`.
    pub added: Vec<(String, &'static str)>,
    /// Members removed.
    pub removed_members: BTreeSet<String>,
}

/// Reads a `groups/delta` object (`members@delta` entries, `@removed` on members or the group).
pub fn group_delta(object: &Map<String, Value>) -> Option<GroupDelta> {
    let id = object.get("id").and_then(Value::as_str)?.to_owned();
    let mut delta = GroupDelta {
        id,
        display_name: object
            .get("displayName")
            .and_then(Value::as_str)
            .map(|name| name.replace('\0', "")),
        mail: object
            .get("mail")
            .and_then(Value::as_str)
            .map(|mail| mail.replace('\0', "")),
        mail_enabled: object.get("mailEnabled").and_then(Value::as_bool),
        removed: object.contains_key("@removed"),
        ..GroupDelta::default()
    };
    if let Some(Value::Array(members)) = object.get("members@delta") {
        for member in members {
            let Some(member_id) = member.get("id").and_then(Value::as_str) else {
                continue;
            };
            if member.get("@removed").is_some() {
                delta.removed_members.insert(member_id.to_owned());
            } else {
                delta
                    .added
                    .push((member_id.to_owned(), member_type(member)));
            }
        }
    }
    Some(delta)
}

fn member_type(member: &Value) -> &'static str {
    match member.get("@odata.type").and_then(Value::as_str) {
        Some("#microsoft.graph.user") => "user",
        Some("#microsoft.graph.group") => "group",
        Some("#microsoft.graph.orgContact") => "contact",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
