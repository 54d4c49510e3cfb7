//! Sync runs that a guard stops or a match decides, on SQLite and PostgreSQL: the deactivation
//! guard's quarantine and its approval, and fallback matching's adoption and conflicts.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use entra_sync::app;
use entra_sync::clock::{ManualClock, SystemClock};
use entra_sync::ids::EntraId;
use entra_sync::service::{ApproveRequest, Service};
use entra_sync::store::{self};
use entra_sync::vocab::{Action, RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, well_known};
use uuid::Uuid;

use crate::emulator::start;
use crate::support::{backends, cid};
use crate::sync_runs::{Fixture, fixture, log_for, tenant};

#[tokio::test]
async fn too_many_deactivations_quarantine_the_run_until_approved() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 150,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let mut f = f;
        f.settings.connections[0].sync.max_deactivations = entra_sync::config::MaxDeactivations {
            count: 2,
            percent: 100,
        };
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let mut plain: Vec<&EntraId> = people
            .users
            .iter()
            .filter(|(id, u)| !people.agents.contains_key(*id) && !u.inactive)
            .map(|(id, _)| id)
            .collect();
        plain.sort();
        for who in &plain[..5] {
            running
                .control
                .soft_delete_user(t, Uuid::parse_str(who.as_str()).expect("uuid"))
                .expect("soft delete");
        }
        let changed = plain[6];
        running
            .control
            .update_user(
                t,
                Uuid::parse_str(changed.as_str()).expect("uuid"),
                serde_json::json!({"department": "Quarantine Studies"}),
            )
            .expect("update");
        let report = f.run(RunKind::Delta).await;
        assert_eq!(report.status, RunStatus::Quarantined);
        assert_eq!(report.held_back, 5);
        let after = f.store.people(&cid("contoso")).await.expect("people");
        assert!(
            plain[..5].iter().all(|w| !after.users[*w].inactive),
            "no deactivation applied"
        );
        assert_eq!(
            after.users[changed].fields.department.as_deref(),
            Some("Quarantine Studies"),
            "everything else applied"
        );
        let rows = log_for(&f.store, report.run_id).await;
        assert_eq!(
            rows.iter()
                .filter(|r| r.action == Action::Quarantined)
                .count(),
            5
        );

        let run_id = report.run_id.expect("a run id");
        // Approval goes through the service, as `runs approve` and the admin API do.
        let Fixture {
            settings, store, ..
        } = f;
        let approved_at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 30, 0).unwrap();
        let clock = Arc::new(ManualClock::new(approved_at));
        let graph = app::LiveGraph {
            store: store.clone(),
            clock: clock.clone(),
        };
        let service = Service::new(Arc::new(settings), store.clone(), clock, Arc::new(graph));
        let approve = || {
            service.approve(ApproveRequest {
                run_id,
                by: "test".to_owned(),
            })
        };
        let approved = approve().await.expect("approval");
        assert_eq!(approved.counts.get("deactivated"), Some(&5), "{approved:?}");
        let after = store.people(&cid("contoso")).await.expect("people");
        assert!(plain[..5].iter().all(|w| after.users[*w].inactive));
        // The approved run shows who approved it and its final status.
        let row = store.run(run_id).await.expect("the approved run");
        assert_eq!(
            (row.status.as_str(), row.approved_by.as_deref()),
            ("succeeded", Some("test"))
        );
        assert_eq!(row.approved_at, Some(approved_at));
        let listed = entra_sync::output::runs(&[row]);
        assert!(
            listed.contains("succeeded (approved by test at "),
            "{listed}"
        );
        // Approved once: a second approval is refused and changes nothing.
        let again = approve().await;
        assert!(
            again
                .as_ref()
                .is_err_and(|e| format!("{e:#}").contains("not a quarantined run")),
            "{again:?}"
        );
        drop((service, store));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn matching_adopts_a_single_candidate_and_reports_a_conflict_for_two() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 120,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let f = fixture(&running, &db, "").await;
        let ada = running.control.create_user(t, serde_json::json!({"userPrincipalName": "ada@contoso.example", "mail": "Ada@Contoso.example", "displayName": "Ada"})).expect("ada");
        let bob = running.control.create_user(t, serde_json::json!({"userPrincipalName": "bob@contoso.example", "mail": "bob@contoso.example", "displayName": "Bob"})).expect("bob");
        let all_company = running
            .control
            .find_group(t, well_known::ALL_COMPANY)
            .expect("group");
        running
            .control
            .add_member(t, all_company, ada)
            .expect("member");
        running
            .control
            .add_member(t, all_company, bob)
            .expect("member");
        let now = entra_sync::clock::Clock::now(&SystemClock);
        let record = |email: &str| store::NewUser {
            fields: store::UserFields {
                name: email.to_owned(),
                emailaddress: Some(email.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        let existing_ada = f
            .store
            .insert_user(&record("ada@contoso.example"), now)
            .await
            .expect("ada record");
        f.store
            .insert_user(&record("bob@contoso.example"), now)
            .await
            .expect("bob record 1");
        f.store
            .insert_user(&record("BOB@contoso.example"), now)
            .await
            .expect("bob record 2");

        let report = f.run(RunKind::Full).await;
        let people = f.store.people(&cid("contoso")).await.expect("people");
        assert_eq!(
            people.users[&ada.to_string()].id,
            existing_ada,
            "adopted, not duplicated"
        );
        assert!(
            !people.users.contains_key(&bob.to_string()),
            "no record created for a conflict"
        );
        let rows = log_for(&f.store, report.run_id).await;
        let bob_row = rows
            .iter()
            .find(|r| r.entra_id.as_ref().map(EntraId::as_str) == Some(&bob.to_string()))
            .expect("bob's row");
        assert_eq!(bob_row.action, Action::Conflict);
        assert!(
            bob_row
                .message
                .as_deref()
                .unwrap_or_default()
                .contains("users"),
            "{bob_row:?}"
        );
        drop(f);
        db.cleanup().await;
    }
}
