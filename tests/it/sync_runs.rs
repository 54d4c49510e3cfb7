//! Sync runs against the emulator, on SQLite and PostgreSQL (issue: sync runs).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use entra_sync::app;
use entra_sync::clock::{ManualClock, SystemClock};
use entra_sync::config::Settings;
use entra_sync::config::load::Environment;
use entra_sync::graph::RetryPolicy;
use entra_sync::ids::{EntraId, RunId};
use entra_sync::mirror::MirrorUser;
use entra_sync::service::{ApproveRequest, Service};
use entra_sync::store::{self, LogQuery, MirrorScope, Store, Ticket, TicketStatus};
use entra_sync::sync::directory::RunDirectory;
use entra_sync::sync::{Mode, RunReport, RunRequest, Syncer};
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, FaultKind, FaultRule, Running, well_known};
use mapping::Scope;
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::emulator::{client, settings, start};
use crate::support::{TestDb, backends, cid};

pub struct Fixture {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub syncer: Syncer,
}

pub async fn fixture(running: &Running, db: &TestDb, sync_extra: &str) -> Fixture {
    let settings = settings(
        &ConfigFixture::contoso(running, &db.url)
            .sync(sync_extra)
            .render(),
        &Environment::default(),
        std::path::Path::new("."),
    );
    let store: Arc<dyn Store> = Arc::from(
        store::connect(&db.url, 4)
            .await
            .expect("the database opens"),
    );
    store.migrate().await.expect("migrations");
    app::ensure_declared(&settings, store.as_ref(), &SystemClock)
        .await
        .expect("reference data");
    let graph = client(
        &settings,
        store.clone(),
        RetryPolicy::default(),
        Some(Duration::from_secs(30)),
    );
    let syncer = Syncer {
        store: store.clone(),
        graph: Some(graph),
        clock: Arc::new(SystemClock),
    };
    Fixture {
        settings,
        store,
        syncer,
    }
}

pub fn request(kind: RunKind, mode: Mode) -> RunRequest {
    RunRequest::new(kind, mode, "test")
}

impl Fixture {
    pub async fn run(&self, kind: RunKind) -> RunReport {
        let report = self
            .syncer
            .run(&self.settings.connections[0], &request(kind, Mode::Apply))
            .await
            .expect("the run");
        assert_eq!(report.error, None, "{report:?}");
        report
    }

    /// Runs `kind` with the test config edited (`from` → `to`; `from` must occur in it).
    pub async fn run_edited(
        &self,
        running: &Running,
        db_url: &str,
        from: &str,
        to: &str,
        kind: RunKind,
    ) -> RunReport {
        let original = ConfigFixture::contoso(running, db_url).render();
        let text = original.replacen(from, to, 1);
        assert_ne!(text, original, "the config holds {from:?}");
        let changed = settings(&text, &Environment::default(), std::path::Path::new("."));
        let report = self
            .syncer
            .run(&changed.connections[0], &request(kind, Mode::Apply))
            .await
            .expect("the run");
        assert_eq!(report.error, None, "{report:?}");
        report
    }

    /// Every mirrored person of the connection.
    pub async fn mirror(&self) -> Vec<MirrorUser> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let page = self
                .store
                .mirror_page(&cid("contoso"), &after, 1000, MirrorScope::All)
                .await
                .expect("mirror");
            let Some(last) = page.last() else { break };
            after = last.0.entra_id.clone();
            all.extend(page.into_iter().map(|(u, _)| u));
        }
        all
    }
}

pub fn tenant(running: &Running) -> Uuid {
    running.demo_app(0).expect("a demo app").tenant_id
}

pub async fn log_for(store: &Arc<dyn Store>, run_id: Option<RunId>) -> Vec<store::InboundRow> {
    store
        .inbound_log(&LogQuery {
            run_id,
            limit: 100_000,
            ..LogQuery::default()
        })
        .await
        .expect("the log")
}

#[tokio::test]
async fn a_full_import_writes_exactly_what_the_plans_call_for() {
    let running = start(EmulatorConfig {
        users: 300,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let report = f.run(RunKind::Full).await;
        assert_eq!(report.status, RunStatus::Succeeded);
        // The plans, recomputed from what the run mirrored.
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let memberships = f
            .store
            .memberships(&cid("contoso"))
            .await
            .expect("memberships");
        let groups = f
            .store
            .mirror_groups(&cid("contoso"))
            .await
            .expect("groups");
        let reference = f.store.reference().await.expect("reference");
        let directory = RunDirectory::new(
            &memberships,
            &groups,
            people.agents.keys().cloned(),
            &reference,
        );
        let mapping = &f.settings.connections[0].mapping;
        let mirror = f.mirror().await;
        assert!(mirror.len() >= 300, "{} mirrored", mirror.len());
        let (mut users, mut agents) = (0, 0);
        for person in &mirror {
            let mut object = person.attributes.clone();
            object.insert("id".into(), person.entra_id.clone().into());
            let plan = mapping.plan(
                &mapping::EntraUser::from_graph(&object).expect("a user"),
                &directory,
            );
            let user = people.users.get(&person.entra_id);
            let agent = people.agents.get(&person.entra_id);
            match (&plan.user, user) {
                (Scope::In(desired), Some(record)) => {
                    users += 1;
                    assert_eq!(
                        record.site,
                        Some((
                            desired.site.client.to_string(),
                            desired.site.name.to_string()
                        ))
                    );
                    let want: BTreeSet<String> =
                        desired.roles.keys().map(|r| r.to_string()).collect();
                    let have: BTreeSet<String> = record.roles.keys().cloned().collect();
                    assert_eq!(have, want, "{} roles", person.entra_id);
                    let want_cabs: BTreeSet<String> =
                        desired.cabs.keys().map(|r| r.to_string()).collect();
                    assert_eq!(
                        record.cabs.keys().cloned().collect::<BTreeSet<_>>(),
                        want_cabs
                    );
                    assert_eq!(
                        record.inactive,
                        desired.inactive.is_some(),
                        "{}",
                        person.entra_id
                    );
                    let name = desired
                        .fields
                        .get(&mapping::HaloField::Name)
                        .cloned()
                        .flatten();
                    assert_eq!(Some(record.fields.name.as_str()), name.as_deref());
                }
                (Scope::In(_), None) => panic!("{} should have a user record", person.entra_id),
                (Scope::Out(_), Some(_)) if plan.agent.desired().is_none() => {
                    panic!("{} is out of scope but has a user record", person.entra_id)
                }
                _ => {}
            }
            match (&plan.agent, agent) {
                (Scope::In(desired), Some(record)) => {
                    agents += 1;
                    let want: BTreeSet<String> =
                        desired.roles.keys().map(|r| r.to_string()).collect();
                    assert_eq!(record.roles.keys().cloned().collect::<BTreeSet<_>>(), want);
                    let want: BTreeSet<String> =
                        desired.teams.keys().map(|r| r.to_string()).collect();
                    assert_eq!(record.teams.keys().cloned().collect::<BTreeSet<_>>(), want);
                    assert_eq!(
                        record.inactive,
                        desired.inactive.is_some(),
                        "{}",
                        person.entra_id
                    );
                    let want_licence = match desired.licence {
                        Some(mapping::LicenceType::Named) => store::LicenceType::Named,
                        _ => store::LicenceType::Concurrent,
                    };
                    assert_eq!(record.licence_type, want_licence);
                }
                (Scope::In(_), None) => panic!("{} should have an agent record", person.entra_id),
                (Scope::Out(_), Some(_)) => panic!(
                    "{} is not an agent but has an agent record",
                    person.entra_id
                ),
                _ => {}
            }
        }
        assert!(users > 200 && agents > 5, "{users} users, {agents} agents");
        assert_eq!(
            people.users.len(),
            users + people.users.values().filter(|u| u.site.is_none()).count()
        );
        // One inbound-log row per person.
        let rows = log_for(&f.store, report.run_id).await;
        let logged: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r.entra_id.clone().map(String::from))
            .collect();
        assert_eq!(rows.len(), mirror.len());
        assert_eq!(logged, mirror.iter().map(|u| u.entra_id.clone()).collect());
        // Licence links follow assignedLicenses.
        let licensed = mirror.iter().find(|u| {
            u.attributes
                .get("assignedLicenses")
                .and_then(|l| l.as_array())
                .is_some_and(|l| !l.is_empty())
                && people.users.contains_key(&u.entra_id)
        });
        if let Some(person) = licensed {
            let id = people.users[&person.entra_id].id;
            let skus: BTreeSet<String> = f
                .store
                .user_licences(id)
                .await
                .expect("licences")
                .into_iter()
                .map(|l| l.sku_id)
                .collect();
            let want: BTreeSet<String> = person.attributes["assignedLicenses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["skuId"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(skus, want);
        }
        // A second full run changes nothing.
        let again = f.run(RunKind::Full).await;
        assert_eq!(again.counts.get("created"), None, "{:?}", again.counts);
        assert_eq!(again.counts.get("updated"), None, "{:?}", again.counts);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn delta_runs_follow_changes_deletions_scope_and_membership() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 200,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let control = &running.control;
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let all_company = control
            .find_group(t, well_known::ALL_COMPANY)
            .expect("group");
        // Pick plain users (not agents) with user records.
        let plain: Vec<String> = {
            let mut ids: Vec<String> = people
                .users
                .iter()
                .filter(|(id, u)| !people.agents.contains_key(*id) && !u.inactive)
                .map(|(id, _)| id.to_string())
                .collect();
            ids.sort();
            ids
        };
        let [mover, soft, hard, leaver, manual, keep, ..] = plain.as_slice() else {
            panic!("not enough users")
        };
        let id = |s: &String| Uuid::parse_str(s).expect("a uuid");

        control
            .update_user(
                t,
                id(mover),
                serde_json::json!({"jobTitle": "Chief Tea Officer"}),
            )
            .expect("update");
        control.soft_delete_user(t, id(soft)).expect("soft delete");
        control.hard_delete_user(t, id(hard)).expect("hard delete");
        control
            .remove_member(t, all_company, id(leaver))
            .expect("leave scope");
        // A record made inactive by hand, and one flagged keep-active, are left alone.
        set_flag(
            &db.url,
            "UPDATE users SET inactive = TRUE, inactive_reason = 'manual' WHERE entra_id = $1",
            manual,
        )
        .await;
        set_flag(
            &db.url,
            "UPDATE users SET keep_active = TRUE WHERE entra_id = $1",
            keep,
        )
        .await;
        control
            .remove_member(t, all_company, id(manual))
            .expect("leave scope");
        control.soft_delete_user(t, id(keep)).expect("soft delete");

        let report = f.run(RunKind::Delta).await;
        assert_eq!(report.status, RunStatus::Succeeded);
        assert!(!report.users.initial, "a delta round");
        let after = f.store.people(&cid("contoso")).await.expect("people");
        let rows = log_for(&f.store, report.run_id).await;
        let row = |who: &String| {
            rows.iter()
                .find(|r| r.entra_id.as_ref().is_some_and(|id| id.as_str() == who))
                .unwrap_or_else(|| panic!("no row for {who}"))
        };

        assert_eq!(
            after.users[mover].fields.jobtitle.as_deref(),
            Some("Chief Tea Officer")
        );
        let changes = row(mover).changes.as_array().expect("changes").clone();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0]["field"], "jobtitle");
        assert_eq!(
            changes[0]["before"],
            serde_json::Value::from(people.users[mover].fields.jobtitle.clone())
        );
        assert_eq!(changes[0]["after"], "Chief Tea Officer");
        assert_eq!(row(mover).action, Action::Updated);

        for (who, notification) in [
            (soft, NotificationKind::RemovedChanged),
            (hard, NotificationKind::RemovedDeleted),
            (leaver, NotificationKind::Updated),
        ] {
            assert!(after.users[who].inactive, "{who} is inactive");
            assert_eq!(after.users[who].inactive_reason.as_deref(), Some("entra"));
            assert_eq!(row(who).action, Action::Deactivated);
            assert_eq!(row(who).notification, notification);
        }
        assert_eq!(
            after.users[manual].inactive_reason.as_deref(),
            Some("manual")
        );
        assert!(
            !after.users[keep].inactive,
            "keep-active is never deactivated"
        );
        // Only changed people were evaluated.
        assert!(rows.len() <= 10, "{} rows", rows.len());

        // Coming back reactivates; the hand-made inactivity stays.
        control
            .add_member(t, all_company, id(leaver))
            .expect("back in scope");
        control
            .add_member(t, all_company, id(manual))
            .expect("back in scope");
        control.restore_user(t, id(soft)).expect("restore");
        let report = f.run(RunKind::Delta).await;
        let after = f.store.people(&cid("contoso")).await.expect("people");
        assert!(
            !after.users[leaver].inactive && !after.users[soft].inactive,
            "{:?}",
            report.counts
        );
        assert_eq!(
            after.users[manual].inactive_reason.as_deref(),
            Some("manual")
        );
        assert!(after.users[manual].inactive);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn group_changes_move_roles_and_teams_and_inactive_agents_lose_their_tickets() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 200,
            ..EmulatorConfig::default()
        })
        .await;
        let t = tenant(&running);
        let control = &running.control;
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let people = f.store.people(&cid("contoso")).await.expect("people");
        let l1 = control.find_group(t, well_known::AGENTS_L1).expect("L1");
        let l2 = control.find_group(t, well_known::AGENTS_L2).expect("L2");
        let infra = control
            .find_group(t, well_known::INFRASTRUCTURE)
            .expect("infra");
        let mut l1_agents: Vec<(&EntraId, &store::AgentSnapshot)> = people
            .agents
            .iter()
            .filter(|(_, a)| {
                a.roles.contains_key("1st Line") && !a.roles.contains_key("2nd Line") && !a.inactive
            })
            .collect();
        l1_agents.sort_by_key(|(id, _)| (*id).clone());
        let [(mover, _), (leaver, leaver_agent), ..] = l1_agents.as_slice() else {
            panic!("not enough L1 agents")
        };
        let mover_id = Uuid::parse_str(mover.as_str()).expect("uuid");
        control.remove_member(t, l1, mover_id).expect("leave L1");
        control.add_member(t, l2, mover_id).expect("join L2");
        control.add_member(t, infra, mover_id).expect("join infra");
        let ticket = f
            .store
            .insert_ticket(
                &Ticket {
                    id: 0,
                    summary: "VPN down".into(),
                    status: TicketStatus::Open,
                    agent_id: Some(leaver_agent.id),
                    team: None,
                },
                entra_sync::clock::Clock::now(&SystemClock),
            )
            .await
            .expect("a ticket");
        control
            .update_user(
                t,
                Uuid::parse_str(leaver.as_str()).expect("uuid"),
                serde_json::json!({"accountEnabled": false}),
            )
            .expect("disable");

        let report = f.run(RunKind::Delta).await;
        let after = f.store.people(&cid("contoso")).await.expect("people");
        let moved = &after.agents[*mover];
        assert_eq!(
            moved.roles.keys().cloned().collect::<Vec<_>>(),
            ["2nd Line"],
            "{report:?}"
        );
        assert!(moved.teams.contains_key("Infrastructure"));
        assert_eq!(
            moved.licence_type,
            store::LicenceType::Named,
            "2nd Line is a named-licence role"
        );
        assert!(
            after.agents[*leaver].inactive,
            "a disabled agent is inactive"
        );
        assert_eq!(
            f.store.ticket(ticket).await.expect("ticket").agent_id,
            None,
            "the open ticket was unassigned"
        );
        assert_eq!(report.counts.get("tickets_unassigned"), Some(&1));
        drop(f);
        db.cleanup().await;
    }
}

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

pub(crate) async fn set_flag(url: &str, sql: &'static str, entra_id: &str) {
    // Test-only direct edits standing in for an agent's manual change in the service desk.
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query(sql)
            .bind(entra_id)
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        sqlx::query(sql)
            .bind(entra_id)
            .execute(&pool)
            .await
            .expect("update");
        pool.close().await;
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
