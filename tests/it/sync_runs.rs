//! Sync runs against the emulator, on SQLite and PostgreSQL: a full import, delta changes and
//! group changes; the fixture the other run tests share. Guards and matching are in
//! `sync_guards.rs`, later rounds in `sync_rounds.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use entra_sync::app;
use entra_sync::clock::SystemClock;
use entra_sync::config::Settings;
use entra_sync::config::load::Environment;
use entra_sync::graph::RetryPolicy;
use entra_sync::ids::{EntraId, RunId};
use entra_sync::mirror::MirrorUser;
use entra_sync::store::{self, LogQuery, MirrorScope, Store, Ticket, TicketStatus};
use entra_sync::sync::directory::RunDirectory;
use entra_sync::sync::{Mode, RunReport, RunRequest, Syncer};
use entra_sync::vocab::{Action, NotificationKind, RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, Running, well_known};
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
