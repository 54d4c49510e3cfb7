//! The rules a run follows whatever it reads, on SQLite and PostgreSQL: one rule for combining
//! notifications, one composer for inbound-log messages, `[connection.sync].entities`, the
//! targets of `import --users|--agents`, and what a quarantined run's summary suggests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use entra_sync::ids::EntraId;
use entra_sync::mirror::{MirrorUser, Notification};
use entra_sync::store::{
    ConnectionRow, DeltaState, InboundRow, LogQuery, MirrorScope, People, Store,
};
use entra_sync::sync::evaluate::Targets;
use entra_sync::sync::sink::{MemorySink, Sink};
use entra_sync::sync::{Mode, RunReport};
use entra_sync::vocab::{RecordKind, RunKind};
use graph_emulator::{EmulatorConfig, Running, well_known};
use serde_json::json;
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::{TestDb, backends, cid};
use crate::sync_runs::{Fixture, fixture, request};

const ALL_ENTITIES: &str = r#"entities = ["users", "agents", "licences"]"#;

fn tenant(running: &Running) -> Uuid {
    running.demo_app(0).expect("a demo app").tenant_id
}

fn uuid(id: impl AsRef<str>) -> Uuid {
    Uuid::parse_str(id.as_ref()).expect("an Entra id is a uuid")
}

async fn log_of(store: &Arc<dyn Store>, report: &RunReport) -> Vec<InboundRow> {
    store
        .inbound_log(&LogQuery {
            run_id: Some(report.run_id.expect("an applied run")),
            limit: 100_000,
            ..LogQuery::default()
        })
        .await
        .expect("the log")
}

async fn people(f: &Fixture) -> People {
    f.store.people(&cid("contoso")).await.expect("people")
}

// ---------------------------------------------------------------------------------------------
// One rule for combining notifications

fn person(id: &str) -> MirrorUser {
    let mut attributes = serde_json::Map::new();
    attributes.insert(
        "userPrincipalName".into(),
        json!(format!("{id}@contoso.example")),
    );
    MirrorUser {
        entra_id: id.to_owned(),
        attributes,
        removed: None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("a time")
}

fn checkpoint() -> DeltaState {
    DeltaState {
        connection_id: cid("contoso"),
        chain: "users".into(),
        fingerprint: "test".into(),
        delta_link: None,
        next_link: Some("https://graph.invalid/next".into()),
        round_id: Some(1),
        round_initial: false,
    }
}

/// A person's id, what the first page says about them, and what the second says.
type Pair = (String, Option<Notification>, Option<Notification>);

/// Every ordered pair of optional notifications, one person each: `None` is a page that changed
/// nothing about the person (or, first, a person committed without a mark).
fn pairs() -> Vec<Pair> {
    let options: Vec<Option<Notification>> = std::iter::once(None)
        .chain(Notification::ALL.map(Some))
        .collect();
    let mut pairs = Vec::new();
    for (i, earlier) in options.iter().enumerate() {
        for (j, later) in options.iter().enumerate() {
            pairs.push((format!("p{i}{j}"), *earlier, *later));
        }
    }
    pairs
}

async fn pending_of(sink: &dyn Sink) -> BTreeMap<String, Notification> {
    sink.pending("", 1000)
        .await
        .expect("pending")
        .into_iter()
        .filter_map(|(u, n)| Some((u.entra_id, n?)))
        .collect()
}

#[tokio::test]
async fn the_store_and_a_dry_run_combine_every_pair_of_notifications_as_the_rust_rule_does() {
    for db in backends().await {
        let store: Arc<dyn Store> = Arc::from(db.open().await);
        store.migrate().await.expect("migrations");
        let contoso = ConnectionRow {
            id: "contoso".into(),
            name: "Contoso".into(),
            tenant_id: Uuid::new_v4().to_string(),
            client_id: Uuid::new_v4().to_string(),
        };
        store
            .ensure_connections(&[contoso], now())
            .await
            .expect("the connection");
        let pairs = pairs();
        let page = |pick: fn(&Pair) -> Option<Notification>| {
            pairs
                .iter()
                .map(|p| (person(&p.0), pick(p)))
                .collect::<Vec<_>>()
        };
        let want: BTreeMap<String, Notification> = pairs
            .iter()
            .filter_map(|(id, a, b)| Some((id.clone(), Notification::combine(*a, *b)?)))
            .collect();
        assert!(want.len() > 30, "the pairs cover the table");

        // A dry run reading both pages: its memory combines them.
        let memory = MemorySink::new(store.clone(), &cid("contoso"), false);
        memory
            .users_page(1, &page(|p| p.1), &checkpoint())
            .await
            .expect("first page");
        memory
            .users_page(1, &page(|p| p.2), &checkpoint())
            .await
            .expect("second page");
        assert_eq!(pending_of(&memory).await, want, "a dry run's memory");

        // Two commits: the store combines the second with the pending marks of the first.
        let commit = |people: Vec<(MirrorUser, Option<Notification>)>| {
            let store = store.clone();
            async move {
                store
                    .commit_users_page(&cid("contoso"), 1, &people, &checkpoint(), now())
                    .await
                    .expect("a commit")
            }
        };
        commit(page(|p| p.1)).await;
        // A dry run over the first commit combines its read with the stored marks.
        let over_store = MemorySink::new(store.clone(), &cid("contoso"), false);
        over_store
            .users_page(1, &page(|p| p.2), &checkpoint())
            .await
            .expect("a page in memory");
        assert_eq!(
            pending_of(&over_store).await,
            want,
            "a dry run over stored marks"
        );
        commit(page(|p| p.2)).await;
        let stored: BTreeMap<String, Notification> = store
            .mirror_page(&cid("contoso"), "", 1000, MirrorScope::All)
            .await
            .expect("the mirror")
            .into_iter()
            .filter_map(|(u, n)| Some((u.entra_id, n?)))
            .collect();
        assert_eq!(stored, want, "the store");
        // Marking people missing is one more notification by the same rule.
        store
            .mark_missing(&cid("contoso"), 2, now())
            .await
            .expect("missing");
        let missing = store
            .mirror_page(&cid("contoso"), "", 1000, MirrorScope::Pending)
            .await
            .expect("pending");
        for (user, n) in missing {
            let before = want.get(&user.entra_id).copied();
            assert_eq!(
                n,
                Notification::combine(before, Some(Notification::RemovedDeleted)),
                "{}",
                user.entra_id
            );
        }
        drop(store);
        db.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// One composer for inbound-log messages

#[tokio::test]
async fn inbound_log_messages_say_each_clause_once_give_every_reason_and_name_managers() {
    let running = start(EmulatorConfig {
        users: 200,
        ..EmulatorConfig::default()
    })
    .await;
    let t = tenant(&running);
    for db in backends().await {
        running.control.reset().expect("a fresh tenant");
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let before = people(&f).await;
        let mut plain: Vec<&EntraId> = before
            .users
            .iter()
            .filter(|(id, u)| !before.agents.contains_key(*id) && !u.inactive && u.site.is_some())
            .map(|(id, _)| id)
            .collect();
        plain.sort();
        let mut agents: Vec<&EntraId> = before
            .agents
            .iter()
            .filter(|(id, a)| {
                !a.inactive && before.users.get(*id).is_some_and(|u| u.site.is_some())
            })
            .map(|(id, _)| id)
            .collect();
        agents.sort();
        let (disabled, managed) = (agents[0].clone(), agents[1].clone());
        let (leaver, manager) = (plain[0].clone(), plain[1].clone());
        // An agent disabled in Entra: both their records are deactivated for the same reason.
        running
            .control
            .update_user(t, uuid(&disabled), json!({"accountEnabled": false}))
            .expect("disable");
        // A soft-deleted user: out of every mapping's scope, with no miss to name.
        running
            .control
            .soft_delete_user(t, uuid(&leaver))
            .expect("soft delete");
        // An agent whose manager is a plain user, known to the mirror by name.
        running
            .control
            .set_manager(t, uuid(&managed), Some(uuid(&manager)))
            .expect("manager");
        let report = f.run(RunKind::Delta).await;
        let rows = log_of(&f.store, &report).await;
        let messages: Vec<&str> = rows.iter().filter_map(|r| r.message.as_deref()).collect();
        assert!(messages.len() >= 3, "{rows:#?}");
        for message in &messages {
            let clauses: Vec<&str> = message.split("; ").collect();
            let distinct: BTreeSet<&str> = clauses.iter().copied().collect();
            assert_eq!(distinct.len(), clauses.len(), "a clause repeats: {message}");
            assert!(
                !message.trim_end().ends_with(':'),
                "an empty reason: {message}"
            );
            assert!(
                clauses
                    .iter()
                    .all(|c| !c.trim().is_empty() && !c.trim_end().ends_with(':')),
                "an empty reason: {message}"
            );
        }
        let message_of = |who: &EntraId| {
            rows.iter()
                .find(|r| r.entra_id.as_ref() == Some(who))
                .and_then(|r| r.message.clone())
                .unwrap_or_else(|| panic!("a message for {who}: {rows:#?}"))
        };
        let both = message_of(&disabled);
        assert_eq!(
            both.matches("deactivated: account disabled in Entra")
                .count(),
            1,
            "{both}"
        );
        assert_eq!(
            message_of(&leaver),
            "deactivated: deleted in Entra (soft delete, restorable for 30 days)"
        );
        let upn = running
            .control
            .user_json(t, uuid(&manager))
            .and_then(|u| u["userPrincipalName"].as_str().map(str::to_owned))
            .expect("the manager's UPN");
        let noted = message_of(&managed);
        assert!(
            noted.contains(&format!("line manager {upn} is not imported as an agent")),
            "{noted}"
        );
        assert!(!noted.contains(manager.as_str()), "named by id: {noted}");
        drop(f);
        db.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// [connection.sync].entities

#[tokio::test]
async fn a_connection_without_agents_creates_none_and_leaves_existing_agents_alone() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    let t = tenant(&running);
    let users_only = r#"entities = ["users", "licences"]"#;
    for db in backends().await {
        running.control.reset().expect("a fresh tenant");
        let f = fixture(&running, &db, "").await;
        let first = f
            .run_edited(&running, &db.url, ALL_ENTITIES, users_only, RunKind::Full)
            .await;
        let after_first = people(&f).await;
        assert_eq!(after_first.agents.len(), 0, "a users-only connection");
        assert!(after_first.users.len() > 100);
        let rows = log_of(&f.store, &first).await;
        assert!(rows.iter().all(|r| r.target == Some(RecordKind::User)));
        assert!(
            rows.iter()
                .all(|r| r.matched.get("agent_mapping").is_none())
        );

        // Agents imported by a connection that syncs them …
        f.run(RunKind::Full).await;
        let with_agents = people(&f).await;
        assert!(with_agents.agents.len() > 5);
        // … are left exactly as they are by one that does not: not deactivated for want of an
        // agent mapping, and not even when disabled in Entra.
        let mut ids: Vec<&EntraId> = with_agents
            .agents
            .keys()
            .filter(|id| with_agents.users[*id].site.is_some())
            .collect();
        ids.sort();
        let disabled = ids[0].clone();
        running
            .control
            .update_user(t, uuid(&disabled), json!({"accountEnabled": false}))
            .expect("disable");
        let report = f
            .run_edited(&running, &db.url, ALL_ENTITIES, users_only, RunKind::Full)
            .await;
        let after = people(&f).await;
        assert_eq!(after.agents, with_agents.agents, "agents untouched");
        assert!(
            after.users[&disabled].inactive,
            "the user record follows Entra"
        );
        let agent_rows = log_of(&f.store, &report)
            .await
            .iter()
            .filter(|r| r.target == Some(RecordKind::Agent))
            .count();
        assert_eq!(agent_rows, 0);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_connection_without_licences_reads_no_skus_and_leaves_licence_links_alone() {
    let running = start(EmulatorConfig {
        users: 120,
        ..EmulatorConfig::default()
    })
    .await;
    let t = tenant(&running);
    let control = &running.control;
    let skus = "GET /v1.0/subscribedSkus";
    let no_licences = r#"entities = ["users", "agents"]"#;
    for db in backends().await {
        control.reset().expect("a fresh tenant");
        let f = fixture(&running, &db, "").await;
        control.reset_counters();
        f.run_edited(&running, &db.url, ALL_ENTITIES, no_licences, RunKind::Full)
            .await;
        assert_eq!(control.counters().count(skus), 0);
        let unlinked = people(&f).await;
        assert!(unlinked.users.values().all(|u| u.licences.is_empty()));

        // With licences the same run reads SKUs and links people …
        control.reset_counters();
        f.run(RunKind::Full).await;
        assert_eq!(control.counters().count(skus), 1);
        let linked = people(&f).await;
        let (who, record) = linked
            .users
            .iter()
            .find(|(_, u)| !u.licences.is_empty() && !u.inactive)
            .expect("somebody licensed");
        // … and without them a changed assignment reads nothing and relinks nobody.
        let current: Vec<Uuid> = record.licences.iter().map(uuid).collect();
        control
            .assign_licences(t, uuid(who), &[], &current)
            .expect("unassign");
        control.reset_counters();
        f.run_edited(&running, &db.url, ALL_ENTITIES, no_licences, RunKind::Delta)
            .await;
        assert_eq!(control.counters().count(skus), 0);
        assert_eq!(people(&f).await.users[who].licences, record.licences);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_agents_only_connection_creates_agents_with_bare_user_records_and_no_other_users() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        running.control.reset().expect("a fresh tenant");
        let f = fixture(&running, &db, "").await;
        let agents_only = r#"entities = ["agents"]"#;
        f.run_edited(&running, &db.url, ALL_ENTITIES, agents_only, RunKind::Full)
            .await;
        assert_agents_only(&people(&f).await);
        drop(f);
        db.cleanup().await;
    }
}

/// Agents were created, and the only user records are the bare ones they are linked to.
fn assert_agents_only(people: &People) {
    assert!(people.agents.len() > 5, "{} agents", people.agents.len());
    let linked: BTreeSet<i64> = people.agents.values().map(|a| a.user_id).collect();
    let users: BTreeSet<i64> = people.users.values().map(|u| u.id).collect();
    assert_eq!(users, linked, "every user record belongs to an agent");
    assert!(
        people
            .users
            .values()
            .all(|u| u.site.is_none() && u.roles.is_empty())
    );
}

// ---------------------------------------------------------------------------------------------
// import --users | --agents

/// Runs the binary with a config file for `db` (`edit`: `(from, to)` replacements).
async fn cli(
    running: &Running,
    db: &TestDb,
    edits: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("entra-sync.toml");
    let mut text = ConfigFixture::contoso(running, &db.url).render();
    for (from, to) in edits {
        assert!(text.contains(from), "the config holds {from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).expect("config");
    let mut all = vec!["--config".to_owned(), path.display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        crate::cli::entra_sync(&all.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("join");
    drop(dir);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_agents_and_import_users_write_only_what_they_show() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for (agents_db, users_db) in backends().await.into_iter().zip(backends().await) {
        let (code, out, err) = cli(
            &running,
            &agents_db,
            &[],
            &[
                "import", "contoso", "--agents", "--apply", "--output", "json",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}\n{err}");
        let shown: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json rows");
        assert!(
            shown.iter().all(|r| r["target"] == "agent"),
            "shows only agents"
        );
        let f = fixture(&running, &agents_db, "").await;
        let imported = people(&f).await;
        assert_eq!(shown.len(), imported.agents.len());
        assert_agents_only(&imported);
        // The people it left out stay pending: the next run writes their user records, and
        // fills in the user records of agents who are users too.
        f.run(RunKind::Delta).await;
        let after = people(&f).await;
        assert!(after.users.len() > imported.users.len() + 50);
        assert!(after.users.values().any(|u| u.site.is_some()));
        drop(f);
        agents_db.cleanup().await;

        let (code, out, err) = cli(
            &running,
            &users_db,
            &[],
            &[
                "import", "contoso", "--users", "--apply", "--output", "json",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}\n{err}");
        let shown: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json rows");
        assert!(shown.iter().all(|r| r["target"] == "user"));
        let f = fixture(&running, &users_db, "").await;
        let imported = people(&f).await;
        assert_eq!(imported.agents.len(), 0, "no agents");
        assert!(imported.users.len() > 100);
        // A selection the connection does not sync is an error, not an empty run.
        let (code, _, err) = cli(
            &running,
            &users_db,
            &[(ALL_ENTITIES, r#"entities = ["users"]"#)],
            &["import", "contoso", "--agents"],
        )
        .await;
        assert_ne!(code, 0);
        assert!(err.contains("does not sync agents"), "{err}");
        drop(f);
        users_db.cleanup().await;
    }
}

#[tokio::test]
async fn an_agents_only_import_request_creates_agents_and_no_user_only_people() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let mut agents = request(RunKind::Import, Mode::Apply);
        agents.targets = Targets::AGENTS;
        let report = f
            .syncer
            .run(&f.settings.connections[0], &agents)
            .await
            .expect("the import");
        assert_eq!(report.error, None);
        assert_agents_only(&people(&f).await);
        let rows = log_of(&f.store, &report).await;
        assert!(rows.iter().all(|r| r.target == Some(RecordKind::Agent)));
        drop(f);
        db.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Run status hints

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_dry_run_remap_suggests_no_run_to_approve() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    // Both user mappings now take seniors only, and only one deactivation is allowed.
    let everyone = format!("group = \"{}\"", well_known::ALL_COMPANY);
    let seniors = format!("group = \"{}\"", well_known::SENIORS);
    let edits = [
        (everyone.as_str(), seniors.as_str()),
        (everyone.as_str(), seniors.as_str()),
        ("count = 1000, percent = 100", "count = 1, percent = 100"),
    ];
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        f.run(RunKind::Full).await;
        let (code, out, err) = cli(&running, &db, &edits, &["remap", "contoso"]).await;
        assert_eq!(code, 3, "quarantined: {out}\n{err}");
        assert!(err.contains("contoso: dry run quarantined"), "{err}");
        assert!(!err.contains("runs approve"), "{err}");
        assert!(
            err.contains("deactivations exceed max_deactivations; an applied run would hold them back until approved"),
            "{err}"
        );
        let (code, out, err) = cli(&running, &db, &edits, &["remap", "contoso", "--apply"]).await;
        assert_eq!(code, 3, "{out}\n{err}");
        let runs = f.store.runs(Some(&cid("contoso")), 10).await.expect("runs");
        let remap = runs.iter().map(|r| r.id).max().expect("the remap's run");
        assert!(
            err.contains(&format!("approve with `entra-sync runs approve {remap}`")),
            "{err}"
        );
        drop(f);
        db.cleanup().await;
    }
}
