//! Nested groups (`nested_groups = true`): a group that leaves the agents group, or is deleted,
//! takes exactly the people it made agents along in the next delta run, however deep they sit
//! below it; on SQLite and PostgreSQL.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use entra_sync::ids::EntraId;
use entra_sync::mirror::{GroupDelta, MirrorUser, Removal};
use entra_sync::store::{ConnectionRow, DeltaState, MemberMarks, MirrorScope, People, Store};
use entra_sync::vocab::{Action, RunKind, RunStatus};
use graph_emulator::{Control, EmulatorConfig, GroupKind, well_known};
use uuid::Uuid;

use crate::emulator::start;
use crate::support::{backends, cid};
use crate::sync_runs::{Fixture, fixture, log_for, tenant};

fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).expect("an Entra id")
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

/// People with an active user record and no agent record, in Entra-id order.
async fn plain_people(f: &Fixture) -> Vec<String> {
    let people = f.store.people(&cid("contoso")).await.expect("people");
    let mut ids: Vec<String> = people
        .users
        .iter()
        .filter(|(id, u)| !people.agents.contains_key(*id) && !u.inactive)
        .map(|(id, _)| id.to_string())
        .collect();
    ids.sort();
    ids
}

/// A new security group holding `members` (people's Entra ids or group ids).
fn group_of(control: &Control, t: Uuid, name: &str, members: &[Uuid]) -> Uuid {
    let group = control
        .create_group(t, name, GroupKind::Security)
        .expect("a group");
    for member in members {
        control.add_member(t, group, *member).expect("a member");
    }
    group
}

fn active_agents(people: &People) -> BTreeSet<String> {
    people
        .agents
        .iter()
        .filter(|(_, a)| !a.inactive)
        .map(|(id, _)| id.to_string())
        .collect()
}

/// One delta run; returns who stopped and who started being an active agent in it, and checks
/// that the inbound log says so for exactly those people.
async fn delta_run(f: &Fixture) -> (BTreeSet<String>, BTreeSet<String>) {
    let before = active_agents(&f.store.people(&cid("contoso")).await.expect("people"));
    let report = f.run(RunKind::Delta).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert!(!report.groups.initial, "a delta round: {report:?}");
    let after = active_agents(&f.store.people(&cid("contoso")).await.expect("people"));
    let lost: BTreeSet<String> = before.difference(&after).cloned().collect();
    let gained: BTreeSet<String> = after.difference(&before).cloned().collect();
    let rows = log_for(&f.store, report.run_id).await;
    let logged = |action: Action| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.action == action)
            .filter_map(|r| r.entra_id.as_ref().map(EntraId::to_string))
            .collect()
    };
    assert_eq!(logged(Action::Deactivated), lost, "{rows:#?}");
    assert_eq!(logged(Action::Reactivated), gained, "{rows:#?}");
    (lost, gained)
}

#[tokio::test]
async fn a_child_group_leaving_the_agents_group_or_deleted_takes_exactly_its_agents_along() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 150,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let control = &running.control;
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let plain = plain_people(&f).await;
        let [c1, c2, c3, both, ..] = plain.as_slice() else {
            panic!("not enough people outside the agents group")
        };
        let all_agents = control
            .find_group(t, well_known::ALL_AGENTS)
            .expect("the agents group");
        let child = group_of(
            control,
            t,
            "SG-Agents-Contractors",
            &[uuid(c1), uuid(c2), uuid(c3), uuid(both)],
        );
        control.add_member(t, all_agents, child).expect("nest");
        // `both` is in the agents group directly as well: an agent whatever the child does.
        control
            .add_member(t, all_agents, uuid(both))
            .expect("a direct member");
        f.run(RunKind::Full).await;
        let agents = active_agents(&f.store.people(&cid("contoso")).await.expect("people"));
        let through_child = set(&[c1, c2, c3]);
        assert!(
            agents.is_superset(&set(&[c1, c2, c3, both])),
            "the child's members are agents"
        );

        control
            .remove_member(t, all_agents, child)
            .expect("un-nest");
        let (lost, gained) = delta_run(&f).await;
        assert_eq!(lost, through_child, "un-nesting the child");
        assert!(gained.is_empty());
        let people = f.store.people(&cid("contoso")).await.expect("people");
        assert!(!people.agents[both].inactive, "still directly in the group");
        for who in &through_child {
            assert_eq!(people.agents[who].inactive_reason.as_deref(), Some("entra"));
        }

        control
            .add_member(t, all_agents, child)
            .expect("nest again");
        let (lost, gained) = delta_run(&f).await;
        assert_eq!(gained, through_child, "nesting the child again");
        assert!(lost.is_empty());

        control.delete_group(t, child).expect("delete the child");
        let (lost, gained) = delta_run(&f).await;
        assert_eq!(lost, through_child, "deleting the child");
        assert!(gained.is_empty());
        let people = f.store.people(&cid("contoso")).await.expect("people");
        assert!(!people.agents[both].inactive, "still directly in the group");
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn un_nesting_a_group_takes_the_agents_of_the_groups_nested_in_it_along() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 150,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let control = &running.control;
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let plain = plain_people(&f).await;
        let [c1, d1, d2, ..] = plain.as_slice() else {
            panic!("not enough people outside the agents group")
        };
        let all_agents = control
            .find_group(t, well_known::ALL_AGENTS)
            .expect("the agents group");
        // D ⊂ C ⊂ the agents group.
        let grandchild = group_of(control, t, "SG-Agents-Night", &[uuid(d1), uuid(d2)]);
        let child = group_of(control, t, "SG-Agents-Shifts", &[uuid(c1), grandchild]);
        control.add_member(t, all_agents, child).expect("nest");
        f.run(RunKind::Full).await;
        let everyone = set(&[c1, d1, d2]);
        let agents = active_agents(&f.store.people(&cid("contoso")).await.expect("people"));
        assert!(agents.is_superset(&everyone), "agents two levels down");

        control
            .remove_member(t, all_agents, child)
            .expect("un-nest");
        let (lost, _) = delta_run(&f).await;
        assert_eq!(lost, everyone, "the grandchild's members go too");

        control
            .add_member(t, all_agents, child)
            .expect("nest again");
        let (_, gained) = delta_run(&f).await;
        assert_eq!(gained, everyone, "and come back with it");

        // A deleted grandchild leaves the child: its members go, the child's stay.
        control
            .delete_group(t, grandchild)
            .expect("delete the grandchild");
        let (lost, gained) = delta_run(&f).await;
        assert_eq!(lost, set(&[d1, d2]));
        assert!(gained.is_empty());
        drop(f);
        db.cleanup().await;
    }
}

/// The store itself: removing a group, un-nesting one or resetting one marks every present
/// person below it, through any depth of nesting and a cycle of groups, in the same commit.
#[tokio::test]
async fn a_groups_commit_marks_everyone_below_a_removed_unnested_or_reset_group() {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
    for db in backends().await {
        let store = db.open().await;
        store.migrate().await.expect("migrations");
        let connections: Vec<ConnectionRow> = ["unnest", "delete", "reset"]
            .into_iter()
            .map(|id| ConnectionRow {
                id: id.into(),
                name: id.into(),
                tenant_id: "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
                client_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
            })
            .collect();
        store
            .ensure_connections(&connections, now)
            .await
            .expect("connections");
        for connection in &connections {
            mirror_with_nested_groups(store.as_ref(), &connection.id, now).await;
            assert!(pending(store.as_ref(), &connection.id).await.is_empty());
        }
        let below_c = ["both", "c1", "c2", "d1", "e1"];

        // C leaves A.
        let a_loses_c = GroupDelta {
            removed_members: BTreeSet::from(["C".to_owned()]),
            ..group("A", &[])
        };
        commit(store.as_ref(), "unnest", &[], &[a_loses_c], now).await;
        assert_eq!(pending(store.as_ref(), "unnest").await, below_c);

        // C is deleted: its own rows go, after everyone below it is marked.
        let c_deleted = GroupDelta {
            removed: true,
            ..group("C", &[])
        };
        commit(store.as_ref(), "delete", &[], &[c_deleted], now).await;
        assert_eq!(pending(store.as_ref(), "delete").await, below_c);
        let rows = store
            .memberships(&cid("delete"))
            .await
            .expect("memberships");
        assert!(rows.iter().all(|(g, _, _)| g != "C"), "{rows:?}");
        assert!(rows.iter().any(|(g, m, _)| g == "D" && m == "d1"));

        // A fresh round of A no longer holds C: A's members and everyone below C are marked.
        let a_again = group("A", &[("a1", "user"), ("both", "user")]);
        commit(store.as_ref(), "reset", &["A".to_owned()], &[a_again], now).await;
        assert_eq!(
            pending(store.as_ref(), "reset").await,
            ["a1", "both", "c1", "c2", "d1", "e1"]
        );
        drop(store);
        db.cleanup().await;
    }
}

fn group(id: &str, added: &[(&str, &'static str)]) -> GroupDelta {
    GroupDelta {
        id: id.into(),
        display_name: Some(id.into()),
        mail: None,
        mail_enabled: None,
        removed: false,
        added: added.iter().map(|(m, k)| ((*m).to_owned(), *k)).collect(),
        removed_members: BTreeSet::new(),
    }
}

fn state(connection: &str, chain: &str) -> DeltaState {
    DeltaState {
        connection_id: cid(connection),
        chain: chain.into(),
        fingerprint: "f".into(),
        delta_link: Some("link".into()),
        next_link: None,
        round_id: Some(1),
        round_initial: false,
    }
}

async fn commit(
    store: &dyn Store,
    connection: &str,
    reset: &[String],
    groups: &[GroupDelta],
    now: chrono::DateTime<Utc>,
) {
    let marks = if reset.is_empty() {
        MemberMarks::Changed
    } else {
        MemberMarks::Later
    };
    store
        .commit_groups_page(
            &cid(connection),
            reset,
            groups,
            marks,
            &state(connection, "groups:0"),
            now,
        )
        .await
        .expect("a groups page");
}

async fn pending(store: &dyn Store, connection: &str) -> Vec<String> {
    store
        .mirror_page(&cid(connection), "", 100, MirrorScope::Pending)
        .await
        .expect("pending")
        .into_iter()
        .map(|(u, _)| u.entra_id)
        .collect()
}

/// A ⊃ {a1, both, C}; C ⊃ {c1, c2, both, gone, D}; D ⊃ {d1, E, C} (a cycle); E ⊃ {e1};
/// X ⊃ {x}. "gone" has left Entra. Nobody is pending.
async fn mirror_with_nested_groups(
    store: &dyn Store,
    connection: &str,
    now: chrono::DateTime<Utc>,
) {
    let people: Vec<(MirrorUser, _)> = ["a1", "both", "c1", "c2", "d1", "e1", "gone", "x"]
        .into_iter()
        .map(|id| {
            let user = MirrorUser {
                entra_id: id.into(),
                attributes: serde_json::Map::new(),
                removed: (id == "gone").then_some(Removal::Deleted),
            };
            (user, None)
        })
        .collect();
    store
        .commit_users_page(
            &cid(connection),
            1,
            &people,
            &state(connection, "users"),
            now,
        )
        .await
        .expect("users");
    let groups = [
        group("A", &[("a1", "user"), ("both", "user"), ("C", "group")]),
        group(
            "C",
            &[
                ("c1", "user"),
                ("c2", "user"),
                ("both", "user"),
                ("gone", "user"),
                ("D", "group"),
            ],
        ),
        group("D", &[("d1", "user"), ("E", "group"), ("C", "group")]),
        group("E", &[("e1", "user")]),
        group("X", &[("x", "user")]),
    ];
    store
        .commit_groups_page(
            &cid(connection),
            &[],
            &groups,
            MemberMarks::Later,
            &state(connection, "groups:0"),
            now,
        )
        .await
        .expect("the groups");
}
