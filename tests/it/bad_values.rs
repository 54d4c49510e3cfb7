//! Values a database cannot store, on both backends: one person's bad value never stops the
//! others from syncing.

use std::collections::BTreeSet;

use entra_sync::app;
use entra_sync::clock::SystemClock;
use entra_sync::config::load::Environment;
use entra_sync::ids::EntraId;
use entra_sync::store::LogQuery;
use entra_sync::sync::Mode;
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use graph_emulator::EmulatorConfig;
use serde_json::json;
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::emulator::{settings, start};
use crate::support::{backends, cid};
use crate::sync_runs::{fixture, request, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_display_name_is_stored_without_it_and_everyone_else_syncs() {
    let running = start(EmulatorConfig {
        users: 300,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = tenant(&running);
    for db in backends().await {
        // The clean tenant, on a database of its own: who is synced.
        let reference = backends()
            .await
            .into_iter()
            .find(|r| r.url.starts_with("sqlite") == db.url.starts_with("sqlite"))
            .expect("the same backend");
        let clean = fixture(&running, &reference, "").await;
        assert_eq!(clean.run(RunKind::Full).await.status, RunStatus::Succeeded);
        let people = clean.store.people(&cid("contoso")).await.expect("people");
        let synced: BTreeSet<EntraId> = people.users.keys().cloned().collect();
        let agents = people.agents.len();
        let who = synced.iter().next().expect("somebody synced").clone();
        drop(clean);
        reference.cleanup().await;

        let id = Uuid::parse_str(who.as_str()).expect("an Entra id");
        let before = running.control.user_json(tenant, id).expect("the person");
        running
            .control
            .update_user(tenant, id, json!({ "displayName": "Grace\u{0}Hopper" }))
            .expect("a bad display name");
        let f = fixture(&running, &db, "").await;
        let report = f.run(RunKind::Full).await;
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        let people = f.store.people(&cid("contoso")).await.expect("people");
        assert_eq!(
            people.users.keys().cloned().collect::<BTreeSet<_>>(),
            synced,
            "{}: everyone is synced",
            db.url
        );
        assert_eq!(people.agents.len(), agents);
        assert_eq!(people.users[&who].fields.name, "GraceHopper", "{}", db.url);
        let rows = f
            .store
            .inbound_log(&LogQuery {
                run_id: report.run_id,
                limit: 10_000,
                ..LogQuery::default()
            })
            .await
            .expect("the log");
        let warnings: Vec<_> = rows
            .iter()
            .filter(|r| {
                r.entra_id.as_ref() == Some(&who) && r.notification == NotificationKind::Warning
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{rows:?}");
        assert_eq!(warnings[0].action, Action::Error);
        assert_eq!(
            warnings[0].message.as_deref(),
            Some(
                "displayName held NUL characters, which the database cannot store; stored without \
                 them (correct the value in Entra)"
            )
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("displayName held NUL"))
        );
        drop(f);
        db.cleanup().await;
        running
            .control
            .update_user(tenant, id, json!({ "displayName": before["displayName"] }))
            .expect("the name as it was");
    }
}

/// Hostile and extreme values, on both backends: SQL that would inject, a 10 000-character
/// name, and Unicode that trips naive code (combining marks, an emoji with modifiers and a zero
/// width joiner, a right-to-left override, full-width letters) are stored exactly as Entra has
/// them, everyone else syncs, and the next run finds nothing to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_long_and_unusual_values_are_stored_verbatim_and_stay_unchanged() {
    let running = start(EmulatorConfig {
        users: 60,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = tenant(&running);
    let long: String = "Ωmega-"
        .repeat(10_000 / 6 + 1)
        .chars()
        .take(10_000)
        .collect();
    let values = json!({
        "displayName": "Robert'); DROP TABLE users;--",
        "givenName": long,
        "surname": "Ｚa\u{0301}lgo\u{0336} 👩🏽\u{200D}💻 \u{202E}lanoitanretni\u{202C}",
        "jobTitle": "%_\\ ' \" ; -- /* */ $1 ? :name",
        "department": "' OR '1'='1",
        "employeeId": "1; UPDATE users SET inactive = 1; --",
        "mail": "o'brien+%_\\@contoso.com",
    });
    // A group and a role whose names would inject, mapped one to the other: the name goes
    // into an OData filter, the mirror and the reference data.
    let group_name = "Ops'); DELETE FROM entra_groups WHERE ('1'='1";
    let role = "Role'); DROP TABLE roles;--";
    let group = running
        .control
        .create_group(tenant, group_name, graph_emulator::GroupKind::Security)
        .expect("a hostile group name");
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let hostile = settings(
            &ConfigFixture::contoso(&running, &db.url)
                .halo(|h| h.user_roles.push(role.to_owned()))
                .user_role(group_name, role)
                .render(),
            &Environment::default(),
            std::path::Path::new("."),
        );
        app::ensure_declared(&hostile, f.store.as_ref(), &SystemClock)
            .await
            .expect("hostile reference data");
        let (apply_delta, apply_full) = (
            request(RunKind::Delta, Mode::Apply),
            request(RunKind::Full, Mode::Apply),
        );
        let run_hostile = |kind| {
            let asked = if kind == RunKind::Full {
                &apply_full
            } else {
                &apply_delta
            };
            f.syncer.run(&hostile.connections[0], asked)
        };
        assert_eq!(f.run(RunKind::Full).await.status, RunStatus::Succeeded);
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let count = people.users.len();
        let inactive = people.users.values().filter(|u| u.inactive).count();
        let who = people.users.keys().next().expect("somebody").clone();
        let id = Uuid::parse_str(who.as_str()).expect("an Entra id");
        let before = running.control.user_json(tenant, id).expect("the person");
        running
            .control
            .update_user(tenant, id, values.clone())
            .expect("hostile values");
        let groups = f
            .store
            .mirror_groups(&cid("contoso"))
            .await
            .expect("groups");
        running
            .control
            .add_member(tenant, group, id)
            .expect("a member");

        let report = run_hostile(RunKind::Delta).await.expect("the run");
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        let people = f.store.people(&cid("contoso")).await.expect("people");
        assert_eq!(
            people.users.len(),
            count,
            "{}: everyone still there",
            db.url
        );
        let fields = &people.users[&who].fields;
        assert_eq!(fields.name, values["displayName"], "{}", db.url);
        assert_eq!(fields.firstname.as_deref(), values["givenName"].as_str());
        assert_eq!(
            fields.firstname.as_ref().map(|n| n.chars().count()),
            Some(10_000)
        );
        assert_eq!(fields.surname.as_deref(), values["surname"].as_str());
        assert_eq!(fields.jobtitle.as_deref(), values["jobTitle"].as_str());
        assert_eq!(fields.department.as_deref(), values["department"].as_str());
        assert_eq!(fields.emailaddress.as_deref(), values["mail"].as_str());
        assert_eq!(
            people.users[&who].custom_fields.get("CFEmployeeNumber"),
            values["employeeId"].as_str().map(str::to_owned).as_ref()
        );
        assert_eq!(
            people.users.values().filter(|u| u.inactive).count(),
            inactive,
            "{}: the injected UPDATE did not run",
            db.url
        );
        let after = f
            .store
            .mirror_groups(&cid("contoso"))
            .await
            .expect("groups");
        assert_eq!(
            after.len(),
            groups.len() + 1,
            "{}: every group kept",
            db.url
        );
        assert_eq!(
            after.get(&group.to_string()).map(String::as_str),
            Some(group_name)
        );
        assert!(
            people.users[&who].roles.contains_key(role),
            "{}: {:?}",
            db.url,
            people.users[&who].roles
        );

        // Stored as read: the next full run compares equal and changes nothing.
        let again = run_hostile(RunKind::Full).await.expect("the run");
        assert_eq!(again.status, RunStatus::Succeeded);
        assert_eq!(
            again.counts.get("updated").copied().unwrap_or(0),
            0,
            "{}: {:?}",
            db.url,
            again.counts
        );
        drop(f);
        db.cleanup().await;
        running
            .control
            .remove_member(tenant, group, id)
            .expect("out of the group");
        let restore: serde_json::Map<String, serde_json::Value> = values
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), before[k].clone()))
            .collect();
        running
            .control
            .update_user(tenant, id, serde_json::Value::Object(restore))
            .expect("the person as they were");
    }
}
