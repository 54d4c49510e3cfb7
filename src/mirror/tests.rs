//! The mirror's merge rules, one case at a time.

use serde_json::json;

use super::*;

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[test]
fn a_partial_object_changes_only_what_it_carries_and_honours_nulls() {
    let first = merge_user(
        None,
        &obj(json!({"id": "1", "displayName": "Ada", "jobTitle": "Dev", "city": "Leeds"})),
        true,
    )
    .unwrap();
    assert_eq!(first.notification, Some(Notification::Created));
    let second = merge_user(
        Some(&first.user),
        &obj(json!({"id": "1", "jobTitle": "Lead", "city": null})),
        false,
    )
    .unwrap();
    assert_eq!(second.notification, Some(Notification::Updated));
    assert_eq!(second.user.attributes["displayName"], "Ada");
    assert_eq!(second.user.attributes["jobTitle"], "Lead");
    assert_eq!(second.user.attributes["city"], Value::Null);
}

#[test]
fn replaying_an_object_is_a_no_op_and_initial_rounds_mark_a_full_pass() {
    let object = obj(json!({"id": "1", "displayName": "Ada"}));
    let first = merge_user(None, &object, false).unwrap();
    let replay = merge_user(Some(&first.user), &object, false).unwrap();
    assert_eq!(replay.notification, None);
    assert_eq!(replay.user, first.user);
    let full = merge_user(Some(&first.user), &object, true).unwrap();
    assert_eq!(full.notification, Some(Notification::FullPass));
}

#[test]
fn removals_keep_attributes_and_a_return_is_a_creation() {
    let first = merge_user(None, &obj(json!({"id": "1", "displayName": "Ada"})), false).unwrap();
    let soft = merge_user(
        Some(&first.user),
        &obj(json!({"id": "1", "@removed": {"reason": "changed"}})),
        false,
    )
    .unwrap();
    assert_eq!(soft.notification, Some(Notification::RemovedChanged));
    assert_eq!(soft.user.removed, Some(Removal::Changed));
    assert_eq!(soft.user.attributes["displayName"], "Ada");
    let again = merge_user(
        Some(&soft.user),
        &obj(json!({"id": "1", "@removed": {"reason": "changed"}})),
        false,
    )
    .unwrap();
    assert_eq!(
        again.notification, None,
        "a replayed removal changes nothing"
    );
    let hard = merge_user(
        Some(&soft.user),
        &obj(json!({"id": "1", "@removed": {"reason": "deleted"}})),
        false,
    )
    .unwrap();
    assert_eq!(hard.notification, Some(Notification::RemovedDeleted));
    let back = merge_user(
        Some(&soft.user),
        &obj(json!({"id": "1", "displayName": "Ada"})),
        false,
    )
    .unwrap();
    assert_eq!(
        (back.notification, back.user.removed),
        (Some(Notification::Created), None)
    );
}

use Notification::{Created, FullPass, RemovedChanged, RemovedDeleted, Updated};

#[test]
fn the_inbound_log_names_each_notification_by_its_mark() {
    for notification in Notification::ALL {
        let kind = NotificationKind::from(notification);
        assert_eq!(kind.as_str(), notification.as_str());
        assert_eq!(Notification::parse(kind.as_str()), Some(notification));
    }
    assert_eq!(
        Notification::parse(NotificationKind::Warning.as_str()),
        None
    );
}

#[test]
fn combining_two_notifications_follows_one_table() {
    // Rows: earlier; columns: later, in the order of `Notification::ALL`.
    let table = [
        (
            Created,
            [Created, Created, RemovedChanged, RemovedDeleted, Created],
        ),
        (
            Updated,
            [Created, Updated, RemovedChanged, RemovedDeleted, Updated],
        ),
        (
            RemovedChanged,
            [Created, Created, RemovedChanged, RemovedDeleted, Created],
        ),
        (
            RemovedDeleted,
            [Created, Created, RemovedChanged, RemovedDeleted, Created],
        ),
        (
            FullPass,
            [Created, Updated, RemovedChanged, RemovedDeleted, FullPass],
        ),
    ];
    for (earlier, row) in table {
        for (later, want) in Notification::ALL.into_iter().zip(row) {
            assert_eq!(earlier.then(later), want, "{earlier:?} then {later:?}");
        }
    }
}

#[test]
fn combining_is_associative_and_nothing_new_changes_nothing() {
    let options = std::iter::once(None).chain(Notification::ALL.map(Some));
    for a in options.clone() {
        assert_eq!(Notification::combine(a, None), a);
        assert_eq!(Notification::combine(None, a), a);
        for b in options.clone() {
            for c in options.clone() {
                assert_eq!(
                    Notification::combine(Notification::combine(a, b), c),
                    Notification::combine(a, Notification::combine(b, c)),
                    "{a:?}, {b:?}, {c:?}"
                );
            }
        }
    }
}

#[test]
fn a_creation_replayed_in_the_same_round_is_still_a_creation() {
    let object = obj(json!({"id": "1", "displayName": "Ada"}));
    let first = merge_user(None, &object, true).unwrap();
    let replay = merge_user(Some(&first.user), &object, true).unwrap();
    assert_eq!(
        (first.notification, replay.notification),
        (Some(Created), Some(FullPass))
    );
    assert_eq!(
        Notification::combine(first.notification, replay.notification),
        Some(Created)
    );
}

#[test]
fn replaying_an_object_whose_properties_share_a_mirrored_name_is_a_no_op() {
    for object in [
        json!({"id": "1", "manager": "a", "manager@delta": [{"id": "b"}]}),
        json!({"id": "1", "city": "Leeds", "city\0": "York"}),
    ] {
        let object = obj(object);
        let first = merge_user(None, &object, false).unwrap();
        let replay = merge_user(Some(&first.user), &object, false).unwrap();
        assert_eq!(replay.notification, None, "{object:?}");
        assert_eq!(replay.user, first.user);
    }
}

#[test]
fn an_object_whose_id_holds_a_nul_is_not_mirrored() {
    let object = obj(json!({"id": "1\0", "displayName": "Ada"}));
    assert_eq!(object_id(&object), None);
    assert_eq!(merge_user(None, &object, true), None);
    assert_eq!(object_id(&obj(json!({"id": "1"}))), Some("1"));
}

#[test]
fn the_manager_is_kept_as_an_id() {
    let set = merge_user(None, &obj(json!({"id": "1", "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": "m"}]})), false).unwrap();
    assert_eq!(set.user.manager_id(), Some("m"));
    let unset = merge_user(
        Some(&set.user),
        &obj(json!({"id": "1", "manager@delta": [{"id": "m", "@removed": {"reason": "deleted"}}]})),
        false,
    )
    .unwrap();
    assert_eq!(unset.user.manager_id(), None);
    assert_eq!(unset.notification, Some(Notification::Updated));
}

#[test]
fn group_members_arrive_added_or_removed() {
    let delta = group_delta(&obj(json!({
        "id": "g", "displayName": "SG",
        "members@delta": [
            {"@odata.type": "#microsoft.graph.user", "id": "u1"},
            {"@odata.type": "#microsoft.graph.group", "id": "g2"},
            {"@odata.type": "#microsoft.graph.user", "id": "u3", "@removed": {"reason": "deleted"}}
        ]
    })))
    .unwrap();
    assert_eq!(delta.display_name.as_deref(), Some("SG"));
    assert_eq!(
        delta.added,
        [("u1".to_owned(), "user"), ("g2".to_owned(), "group")]
    );
    assert!(delta.removed_members.contains("u3"));
}
