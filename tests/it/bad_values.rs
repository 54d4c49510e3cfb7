//! Values a database cannot store, on both backends: one person's bad value never stops the
//! others from syncing.

use std::collections::BTreeSet;

use entra_sync::ids::EntraId;
use entra_sync::store::LogQuery;
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use graph_emulator::EmulatorConfig;
use serde_json::json;
use uuid::Uuid;

use crate::emulator::start;
use crate::support::{backends, cid};
use crate::sync_runs::{fixture, tenant};

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
