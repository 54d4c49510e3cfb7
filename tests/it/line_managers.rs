//! Line managers, on both backends: an agent's line manager is linked to the manager's agent
//! whatever order people are evaluated and written in, in full and delta runs alike.

use std::collections::{BTreeMap, BTreeSet};

use entra_sync::vocab::{RunKind, RunStatus};
use graph_emulator::{EmulatorConfig, Running, well_known};
use serde_json::json;
use uuid::Uuid;

use crate::emulator::start;
use crate::support::{backends, cid};
use crate::sync_runs::{Fixture, fixture, tenant};

/// Agent Entra id → the Entra id of the agent its `linemanager_id` links to.
async fn linked(url: &str) -> BTreeMap<String, Option<String>> {
    let sql = "SELECT a.entra_id, m.entra_id FROM agents a LEFT JOIN agents m ON m.id = a.linemanager_id \
               WHERE a.entra_id IS NOT NULL";
    let rows: Vec<(String, Option<String>)> = if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("rows");
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect("rows");
        pool.close().await;
        rows
    };
    rows.into_iter().collect()
}

/// What every agent's line manager must be: their Entra manager, when that manager is an agent.
async fn expected(f: &Fixture) -> BTreeMap<String, Option<String>> {
    let agents: BTreeSet<String> = f
        .store
        .people(&cid("contoso"))
        .await
        .expect("people")
        .agents
        .into_keys()
        .map(String::from)
        .collect();
    f.mirror()
        .await
        .into_iter()
        .filter(|u| agents.contains(&u.entra_id))
        .map(|u| {
            let manager = u
                .attributes
                .get("manager")
                .and_then(|m| m.as_str())
                .filter(|m| agents.contains(*m))
                .map(str::to_owned);
            (u.entra_id, manager)
        })
        .collect()
}

/// The live members of the all-agents group and of its member groups, as the mapping reads them.
fn agents_of(running: &Running) -> Vec<Uuid> {
    let tenant = tenant(running);
    let group = running
        .control
        .find_group(tenant, well_known::ALL_AGENTS)
        .expect("the agents group");
    let mut agents: Vec<Uuid> = running
        .control
        .with_directory(tenant, |d| {
            let mut people = BTreeSet::new();
            let mut groups = vec![group];
            while let Some(id) = groups.pop() {
                let Some(g) = d.groups.iter().find(|g| g.id == id) else {
                    continue;
                };
                for member in &g.members {
                    match d.user(member.id) {
                        Some(u) if u.is_live() => {
                            people.insert(member.id);
                        }
                        Some(_) => {}
                        None => groups.push(member.id),
                    }
                }
            }
            people.into_iter().collect()
        })
        .expect("the tenant");
    agents.sort_by_key(Uuid::to_string);
    agents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_evaluated_before_their_managers_get_their_line_manager_on_the_first_import() {
    // 3 000 people: six batches of 500. Two agents in three report to the agent after them in
    // Entra-id order (the order of evaluation), the others to the agent before them, so many
    // line managers are created in a later batch, or in one written side by side.
    let running = start(EmulatorConfig {
        users: 3_000,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = tenant(&running);
    let agents = agents_of(&running);
    assert!(agents.len() >= 30, "{} agents", agents.len());
    let mut before_their_manager = 0;
    for (i, agent) in agents.iter().enumerate() {
        let manager = if i % 3 != 2 {
            agents.get(i + 1)
        } else {
            agents.get(i - 1)
        };
        if let Some(manager) = manager {
            running
                .control
                .set_manager(tenant, *agent, Some(*manager))
                .expect("a manager");
            before_their_manager += usize::from(agent.to_string() < manager.to_string());
        }
    }
    assert!(
        before_their_manager * 10 >= agents.len() * 3,
        "{before_their_manager} of {} agents sort before their managers",
        agents.len()
    );
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        let report = f.run(RunKind::Full).await;
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        let want = expected(&f).await;
        let with_manager = want.values().filter(|m| m.is_some()).count();
        assert!(
            with_manager + 1 >= agents.len(),
            "{with_manager} of {}",
            agents.len()
        );
        assert_eq!(linked(&db.url).await, want, "{}", db.url);

        // The unchanged tenant again: nobody is updated.
        let again = f.run(RunKind::Full).await;
        assert_eq!(again.counts.get("updated"), None, "{:?}", again.counts);
        assert_eq!(linked(&db.url).await, want);
        drop(f);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_runs_link_line_managers_whatever_the_order_and_when_a_manager_becomes_an_agent() {
    let running = start(EmulatorConfig {
        users: 400,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = tenant(&running);
    let agents_group = running
        .control
        .find_group(tenant, well_known::ALL_AGENTS)
        .expect("the agents group");
    let agents = agents_of(&running);
    // An agent whose manager is a plain user: no line manager until that user becomes an agent.
    let plain: Uuid = running
        .control
        .with_directory(tenant, |d| {
            d.users
                .iter()
                .filter(|u| u.is_live())
                .map(|u| u.id)
                .find(|id| !agents.contains(id))
        })
        .expect("the tenant")
        .expect("a user who is not an agent");
    running
        .control
        .set_manager(tenant, agents[0], Some(plain))
        .expect("a manager");
    for db in backends().await {
        let f = fixture(&running, &db, "").await;
        assert_eq!(f.run(RunKind::Full).await.status, RunStatus::Succeeded);
        let first = agents[0].to_string();
        assert_eq!(linked(&db.url).await[&first], None);

        // Two new agents in one delta run, the one evaluated first reporting to the other.
        let [low, high] = [
            "00000000-0000-4000-8000-00000000000a",
            "ffffffff-0000-4000-8000-00000000000b",
        ]
        .map(|id| {
            let upn = format!("agent-{}@contoso.example", &id[..8]);
            running
                .control
                .create_user(
                    tenant,
                    json!({ "id": id, "displayName": upn, "userPrincipalName": upn,
                                "mail": upn, "accountEnabled": true }),
                )
                .expect("a new user")
        });
        for id in [low, high] {
            running
                .control
                .add_member(tenant, agents_group, id)
                .expect("joins the agents");
        }
        running
            .control
            .set_manager(tenant, low, Some(high))
            .expect("a manager");
        let report = f.run(RunKind::Delta).await;
        assert_eq!(report.status, RunStatus::Succeeded);
        assert_eq!(
            linked(&db.url).await.get(&low.to_string()),
            Some(&Some(high.to_string()))
        );

        // The plain manager joins the agents: the agent reporting to them is linked, although
        // that agent's own record did not change.
        running
            .control
            .add_member(tenant, agents_group, plain)
            .expect("joins the agents");
        assert_eq!(f.run(RunKind::Delta).await.status, RunStatus::Succeeded);
        assert_eq!(linked(&db.url).await[&first], Some(plain.to_string()));
        assert_eq!(linked(&db.url).await, expected(&f).await);
        drop(f);
        db.cleanup().await;
        running.control.reset().expect("the tenant as generated");
        running
            .control
            .set_manager(tenant, agents[0], Some(plain))
            .expect("a manager");
    }
}
