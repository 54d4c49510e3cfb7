//! Sync runs across rounds, on SQLite and PostgreSQL: expired delta links and select changes,
//! dry runs, sign-in activity, group warnings, licences, remaps and newly mapped groups.

use std::collections::BTreeSet;
use std::sync::Arc;

use entra_sync::clock::SystemClock;
use entra_sync::config::load::Environment;
use entra_sync::ids::EntraId;
use entra_sync::sync::{Mode, Syncer};
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, FaultKind, FaultRule, well_known};
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::emulator::{settings, start};
use crate::support::{backends, cid};
use crate::sync_runs::{fixture, log_for, request, tenant};

#[tokio::test]
async fn an_expired_delta_link_and_a_select_change_each_lead_to_a_full_initial_round() {
    let running = start(EmulatorConfig {
        users: 1_200,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let first = f.run(RunKind::Full).await;
        let everyone = first.users.objects;
        assert_eq!(
            first.users.pages, 2,
            "1 200 people come in two pages of 999"
        );

        running.control.add_fault(FaultRule::once(
            FaultKind::SyncStateNotFound,
            "GET /v1.0/users/delta",
        ));
        running.control.reset_counters();
        let report = f.run(RunKind::Delta).await;
        let counters = running.control.counters();
        assert_eq!(
            counters.count_status("GET /v1.0/users/delta", 400),
            1,
            "the stored link was refused"
        );
        assert_eq!(
            counters.count_status("GET /v1.0/users/delta", 200),
            2,
            "then a whole initial round was read"
        );
        assert!(report.users.initial, "{report:?}");
        assert!(
            report.users.restarted.iter().any(|r| r.contains("resync")),
            "{:?}",
            report.users.restarted
        );
        assert_eq!(
            report.users.objects, everyone,
            "the whole tenant was read again"
        );

        // A config change that alters the users $select starts over too, never from "latest".
        let text = ConfigFixture::contoso(&running, &db.url)
            .sync("delta_method = \"mapped_fields\"")
            .render();
        let changed = settings(&text, &Environment::default(), std::path::Path::new("."));
        let syncer = Syncer {
            store: f.store.clone(),
            graph: f.syncer.graph.clone(),
            clock: Arc::new(SystemClock),
        };
        running.control.reset_counters();
        let report = syncer
            .run(
                &changed.connections[0],
                &request(RunKind::Delta, Mode::Apply),
            )
            .await
            .expect("run");
        let counters = running.control.counters();
        assert_eq!(
            counters.count_status("GET /v1.0/users/delta", 200),
            2,
            "an initial round of two pages"
        );
        assert!(report.users.initial);
        assert_eq!(report.users.objects, everyone);
        assert!(
            report
                .users
                .restarted
                .iter()
                .any(|r| r.contains("$select changed")),
            "{:?}",
            report.users.restarted
        );
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn dry_runs_imports_and_remaps_without_apply_change_no_table() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 120,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let mut ids: Vec<&EntraId> = people.users.keys().collect();
        ids.sort();
        running
            .control
            .update_user(
                t,
                Uuid::parse_str(ids[0].as_str()).expect("uuid"),
                serde_json::json!({"jobTitle": "Dry"}),
            )
            .expect("update");
        running
            .control
            .soft_delete_user(t, Uuid::parse_str(ids[1].as_str()).expect("uuid"))
            .expect("delete");
        let before = crate::snapshot::tables(&db.url).await;
        for kind in [
            RunKind::Delta,
            RunKind::Full,
            RunKind::Import,
            RunKind::Remap,
        ] {
            let report = f
                .syncer
                .run(&f.settings.connections[0], &request(kind, Mode::DryRun))
                .await
                .expect("dry run");
            assert_eq!(report.run_id, None);
            if kind == RunKind::Delta {
                assert!(
                    report.rows.iter().any(|r| r.action == Action::Updated),
                    "{:?}",
                    report.counts
                );
                assert!(
                    report.rows.iter().any(|r| r.action == Action::Deactivated),
                    "{:?}",
                    report.counts
                );
            }
        }
        assert_eq!(
            crate::snapshot::tables(&db.url).await,
            before,
            "no table changed"
        );
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sign_in_activity_is_read_separately_in_full_and_for_changed_people_in_delta_runs() {
    let running = start(EmulatorConfig {
        users: 120,
        ..EmulatorConfig::default()
    })
    .await;
    let t = tenant(&running);
    let dbs = backends().await;
    let db = &dbs[0];
    let text = ConfigFixture::contoso(&running, &db.url)
        .field_mapping("user", "signInActivity.lastSignInDateTime", "last_sign_in")
        .render();
    let settings = settings(&text, &Environment::default(), std::path::Path::new("."));
    let f = fixture(&running, db, "").await;
    let syncer = Syncer {
        store: f.store.clone(),
        graph: f.syncer.graph.clone(),
        clock: Arc::new(SystemClock),
    };
    let connection = &settings.connections[0];
    syncer
        .run(connection, &request(RunKind::Full, Mode::Apply))
        .await
        .expect("full run");
    let people = f.store.people(&cid("contoso")).await.expect("people");
    let mut ids: Vec<&EntraId> = people.users.keys().collect();
    ids.sort();
    let (signed_in, untouched) = (ids[0].clone(), ids[1].clone());
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:30:00Z")
        .expect("a time")
        .with_timezone(&chrono::Utc);
    for who in [&signed_in, &untouched] {
        running
            .control
            .record_sign_in(t, Uuid::parse_str(who.as_str()).expect("uuid"), at)
            .expect("sign-in");
    }
    // Only `signed_in` also changes something delta tracks.
    running
        .control
        .update_user(
            t,
            Uuid::parse_str(signed_in.as_str()).expect("uuid"),
            serde_json::json!({"jobTitle": "Early Riser"}),
        )
        .expect("update");
    running.control.reset_counters();
    let report = syncer
        .run(connection, &request(RunKind::Delta, Mode::Apply))
        .await
        .expect("delta run");
    assert_eq!(report.error, None);
    let after = f.store.people(&cid("contoso")).await.expect("people");
    assert!(
        after.users[&signed_in]
            .fields
            .last_sign_in
            .as_deref()
            .is_some_and(|s| s.starts_with("2026-11-20T08:30:00")),
        "{:?}",
        after.users[&signed_in].fields
    );
    assert_eq!(
        after.users[&untouched].fields.last_sign_in, people.users[&untouched].fields.last_sign_in,
        "delta runs read it only for changed people"
    );
    assert_eq!(
        running.control.counters().count("GET /v1.0/users/{id}"),
        1,
        "one read of the changed person"
    );
    // A full run reads it for everyone.
    syncer
        .run(connection, &request(RunKind::Full, Mode::Apply))
        .await
        .expect("full run");
    let after = f.store.people(&cid("contoso")).await.expect("people");
    assert!(
        after.users[&untouched]
            .fields
            .last_sign_in
            .as_deref()
            .is_some_and(|s| s.starts_with("2026-11-20T08:30:00"))
    );
    drop(f);
    for db in dbs {
        db.cleanup().await;
    }
}

#[tokio::test]
async fn groups_that_resolve_to_none_or_several_are_run_warnings_in_the_inbound_log() {
    let running = start(EmulatorConfig {
        users: 60,
        ..EmulatorConfig::default()
    })
    .await;
    let t = tenant(&running);
    for _ in 0..2 {
        running
            .control
            .create_group(t, "SG-Twins", graph_emulator::GroupKind::Security)
            .expect("group");
    }
    let dbs = backends().await;
    let db = &dbs[0];
    let text = ConfigFixture::contoso(&running, &db.url)
        .team("SG-Nope", "Infrastructure")
        .team("SG-Twins", "Service Desk")
        .render();
    let settings = settings(&text, &Environment::default(), std::path::Path::new("."));
    let f = fixture(&running, db, "").await;
    let syncer = Syncer {
        store: f.store.clone(),
        graph: f.syncer.graph.clone(),
        clock: Arc::new(SystemClock),
    };
    let report = syncer
        .run(
            &settings.connections[0],
            &request(RunKind::Full, Mode::Apply),
        )
        .await
        .expect("run");
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "a warning does not fail the run"
    );
    let warnings: Vec<_> = log_for(&f.store, report.run_id)
        .await
        .into_iter()
        .filter(|r| r.notification == NotificationKind::Warning)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.action == Action::Error && w.entra_id.is_none())
    );
    let messages: Vec<String> = warnings.iter().filter_map(|w| w.message.clone()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"SG-Nope\" was not found")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"SG-Twins\" matches 2 groups")),
        "{messages:?}"
    );
    drop(f);
    for db in dbs {
        db.cleanup().await;
    }
}

#[tokio::test]
async fn licences_are_relinked_and_reread_only_when_assignments_change() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 150,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let control = &running.control;
        let f = fixture(&running, &db, "").await;
        control.reset_counters();
        f.run(RunKind::Full).await;
        let skus = "GET /v1.0/subscribedSkus";
        assert_eq!(control.counters().count(skus), 1, "a full run reads SKUs");
        let before = f.store.people(&cid("contoso")).await.expect("people");
        let all_skus: Vec<Uuid> = control
            .with_directory(t, |d| d.skus.iter().map(|s| s.sku_id).collect())
            .expect("skus");
        // An active user who lacks one of the tenant's SKUs.
        let (who, record, new_sku) = before
            .users
            .iter()
            .filter(|(_, u)| !u.inactive)
            .find_map(|(id, u)| {
                all_skus
                    .iter()
                    .find(|s| !u.licences.contains(&s.to_string()))
                    .map(|s| (id.clone(), u.clone(), *s))
            })
            .expect("a user lacking a SKU");
        let id = Uuid::parse_str(who.as_str()).expect("a uuid");

        // A change that is not a licence: SKUs are not read again.
        control
            .update_user(t, id, serde_json::json!({"jobTitle": "Licence Auditor"}))
            .expect("update");
        control.reset_counters();
        f.run(RunKind::Delta).await;
        assert_eq!(control.counters().count(skus), 0, "no licence changed");

        // A new assignment: SKUs are read once, and the person's links follow.
        control
            .assign_licences(t, id, &[new_sku], &[])
            .expect("assign");
        control.reset_counters();
        f.run(RunKind::Delta).await;
        assert_eq!(control.counters().count(skus), 1, "an assignment changed");
        let after = f.store.people(&cid("contoso")).await.expect("people");
        let mut want = record.licences.clone();
        want.insert(new_sku.to_string());
        assert_eq!(after.users[&who].licences, want);
        for (other, u) in &before.users {
            if *other != who {
                assert_eq!(after.users[other].licences, u.licences, "{other}");
            }
        }
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_remap_writes_and_logs_only_the_people_the_new_mapping_changes() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let before = f.store.people(&cid("contoso")).await.expect("people");

        // The same mapping: everyone is evaluated, nothing changes, nothing is logged.
        let report = f.run(RunKind::Remap).await;
        assert_eq!(report.status, RunStatus::Succeeded);
        assert_eq!(report.graph_requests, 0);
        let evaluated: u64 = report.counts.values().sum();
        assert!(evaluated >= 150, "{:?}", report.counts);
        assert!(
            report
                .counts
                .keys()
                .all(|action| action == "unchanged" || action == "out-of-scope"),
            "{:?}",
            report.counts
        );
        assert!(log_for(&f.store, report.run_id).await.is_empty());
        assert_eq!(
            f.store.people(&cid("contoso")).await.expect("people"),
            before
        );

        // "Office staff" moves from Head Office to Remote: exactly those people change.
        let moved: BTreeSet<String> = before
            .users
            .iter()
            .filter(|(_, u)| u.site.as_ref().is_some_and(|(_, s)| s == "Head Office"))
            .map(|(id, _)| id.to_string())
            .collect();
        assert!(!moved.is_empty());
        let report = f
            .run_edited(
                &running,
                &db.url,
                "site = \"Head Office\"\nuser_role",
                "site = \"Remote\"\nuser_role",
                RunKind::Remap,
            )
            .await;
        let rows = log_for(&f.store, report.run_id).await;
        let logged: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r.entra_id.clone().map(String::from))
            .collect();
        assert_eq!(logged, moved);
        assert!(rows.iter().all(|r| r.action == Action::Updated), "{rows:?}");
        assert_eq!(
            report.counts.get("updated").copied(),
            Some(moved.len() as u64)
        );
        let after = f.store.people(&cid("contoso")).await.expect("people");
        for id in &moved {
            assert_eq!(
                after.users[id].site.as_ref().map(|(_, s)| s.as_str()),
                Some("Remote")
            );
        }
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_newly_mapped_group_is_read_group_by_group_and_its_members_are_evaluated() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;

        // "Senior Staff" now follows the helpdesk group, which no chain read before. The users
        // chain has nothing new, so only the groups read can put anyone up for evaluation.
        let report = f
            .run_edited(
                &running,
                &db.url,
                &format!(
                    "group = \"{}\", role = \"Senior Staff\"",
                    well_known::SENIORS
                ),
                &format!(
                    "group = \"{}\", role = \"Senior Staff\"",
                    well_known::HELPDESK_USERS
                ),
                RunKind::Delta,
            )
            .await;
        assert!(!report.users.initial, "{:?}", report.users);
        assert!(report.groups.initial, "{:?}", report.groups);
        assert!(
            report
                .groups
                .restarted
                .iter()
                .any(|r| r.contains("tracked groups changed")),
            "{:?}",
            report.groups.restarted
        );

        // Exactly the helpdesk group's present members hold the role now.
        let names = f
            .store
            .mirror_groups(&cid("contoso"))
            .await
            .expect("groups");
        let id_of = |name: &str| {
            names
                .iter()
                .find(|(_, n)| n.as_str() == name)
                .map(|(id, _)| id.clone())
                .expect("the group is mirrored")
        };
        let helpdesk = id_of(well_known::HELPDESK_USERS);
        let members: BTreeSet<String> = f
            .store
            .memberships(&cid("contoso"))
            .await
            .expect("memberships")
            .into_iter()
            .filter(|(g, _, _)| *g == helpdesk)
            .map(|(_, m, _)| m)
            .collect();
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let seniors: BTreeSet<String> = people
            .users
            .iter()
            .filter(|(_, u)| u.roles.contains_key("Senior Staff"))
            .map(|(id, _)| id.to_string())
            .collect();
        let present: BTreeSet<String> = members
            .into_iter()
            .filter(|m| people.users.contains_key(m))
            .collect();
        assert!(!present.is_empty());
        assert_eq!(seniors, present);
        // Each of them was evaluated and logged in this run.
        let logged: BTreeSet<String> = log_for(&f.store, report.run_id)
            .await
            .into_iter()
            .filter_map(|r| r.entra_id.map(String::from))
            .collect();
        assert!(present.is_subset(&logged), "{present:?} vs {logged:?}");
        drop(f);
        db.cleanup().await;
    }
}
