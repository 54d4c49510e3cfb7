//! `entra-sync demo`: the Graph emulator with a generated tenant, a fresh SQLite database and
//! real syncs — a full import, then a handful of everyday changes and a delta cycle — with a
//! short report after each.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use graph_emulator::directory::UserProp;
use graph_emulator::{EmulatorConfig, GraphEmulator, well_known};
use serde_json::json;
use uuid::Uuid;

use crate::app;
use crate::clock::Clock;
use crate::config::ConfigOverrides;
use crate::config::load::{Environment, load_str};
use crate::daemon::pacing::Jitter;
use crate::daemon::{Configs, Daemon, Signals};
use crate::ids::EntraId;
use crate::output;
use crate::service::{Service, ServiceError, SyncRequest};
use crate::store::{InboundRow, LogQuery, People, Store};
use crate::sync::lease::LeaseWait;
use crate::sync::{Mode, RunReport};

/// The demo's configuration template (also `config/demo.toml`).
const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

/// Runs the demo with a tenant of `users` people, keeping the database under `data_dir`; with
/// `daemon`, the daemon then keeps that tenant in step until Ctrl-C.
pub async fn run(
    users: usize,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    daemon: bool,
) -> anyhow::Result<()> {
    println!("Starting the Graph emulator with a generated tenant of {users} people…");
    let emulator = GraphEmulator::start(EmulatorConfig {
        users,
        groups: 60,
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the emulator")?;
    let demo_app = emulator
        .demo_app(0)
        .context("the emulator has no demo app")?
        .clone();
    let tenant = demo_app.tenant_id;

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let db = data_dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let env: Environment = [
        (
            "ENTRA_SYNC__DATABASE__URL",
            format!("sqlite://{}", db.display()),
        ),
        (
            "ENTRA_SYNC__CONNECTION__DEMO__TENANT_ID",
            tenant.to_string(),
        ),
        (
            "ENTRA_SYNC__CONNECTION__DEMO__CLIENT_ID",
            demo_app.client_id.to_string(),
        ),
        (
            "ENTRA_SYNC__CONNECTION__DEMO__AUTHORITY_URL",
            emulator.authority_url.clone(),
        ),
        (
            "ENTRA_SYNC__CONNECTION__DEMO__GRAPH_URL",
            emulator.graph_url.clone(),
        ),
        (
            "ENTRA_SYNC__CONNECTION__DEMO__AUTH__SECRET",
            demo_app.client_secret.clone(),
        ),
    ]
    .into_iter()
    .collect();
    let settings = load_str(
        DEMO_CONFIG,
        "config/demo.toml",
        Path::new("."),
        &env,
        &ConfigOverrides::default(),
    )?;
    let store = app::open_store(&settings).await?;
    let demo = DemoConfigs {
        env,
        store: store.clone(),
        clock: clock.clone(),
    };
    let service = Service::new(
        Arc::new(settings),
        store.clone(),
        clock.clone(),
        demo.graph(),
    );
    let sync = |full| SyncRequest {
        connection: "demo".to_owned(),
        full,
        mode: Mode::Apply,
        wait: LeaseWait::Refuse,
        trigger: "demo".to_owned(),
    };
    println!(
        "Emulator at {}; database {}\n",
        emulator.graph_url,
        db.display()
    );

    println!("== 1. Full import");
    let full = service.sync(sync(true)).await?;
    print!("{}", output::summary("demo", &full));
    let people = store.people(&service.connection("demo")?.id).await?;
    println!(
        "  the service desk now has {} users ({} inactive) and {} agents\n",
        people.users.len(),
        people.users.values().filter(|u| u.inactive).count(),
        people.agents.len()
    );

    println!("== 2. Changes in Entra");
    let control = &emulator.control;
    let all_company = control
        .find_group(tenant, well_known::ALL_COMPANY)
        .context("All Company")?;
    let l1 = control
        .find_group(tenant, well_known::AGENTS_L1)
        .context("SG-Agents-L1")?;
    let l2 = control
        .find_group(tenant, well_known::AGENTS_L2)
        .context("SG-Agents-L2")?;
    let joiner = control.create_user(
        tenant,
        json!({
            "userPrincipalName": "joan.joiner@contoso.example", "mail": "joan.joiner@contoso.example",
            "displayName": "Joan Joiner", "givenName": "Joan", "surname": "Joiner",
            "department": "Finance", "jobTitle": "Accountant", "officeLocation": "London"
        }),
    )?;
    control.add_member(tenant, all_company, joiner)?;
    let (leaver, mover, disabled) = pick(&people)?;
    control.soft_delete_user(tenant, leaver)?;
    control.remove_member(tenant, l1, mover)?;
    control.add_member(tenant, l2, mover)?;
    control.update_user(tenant, disabled, json!({"accountEnabled": false}))?;
    let renamed = rename_department(control, tenant)?;
    println!("  joiner   Joan Joiner joins, in All Company");
    println!(
        "  leaver   {} is deleted (soft delete)",
        upn(control, tenant, leaver)
    );
    println!(
        "  mover    agent {} moves from SG-Agents-L1 to SG-Agents-L2",
        upn(control, tenant, mover)
    );
    println!(
        "  disabled agent {} has their account disabled",
        upn(control, tenant, disabled)
    );
    println!(
        "  renamed  department \"{}\" becomes \"{}\" for {} people\n",
        renamed.0, renamed.1, renamed.2
    );

    println!("== 3. Delta cycle");
    let delta = service.sync(sync(false)).await?;
    print!("{}", output::summary("demo", &delta));
    let rows = rows_of(store.as_ref(), &delta).await?;
    for (label, who) in [
        ("joiner", joiner),
        ("leaver", leaver),
        ("mover", mover),
        ("disabled agent", disabled),
    ] {
        if let Some(row) = rows
            .iter()
            .find(|r| r.entra_id.as_ref().map(EntraId::as_str) == Some(who.to_string().as_str()))
        {
            println!(
                "  {label:<15} {:<12} {}",
                row.action,
                output::changes_of(row)
            );
        }
    }
    println!(
        "\nExplore the result: entra-sync --config config/demo.toml --database-url sqlite://{} log demo",
        db.display()
    );
    if daemon {
        let listen = service.settings().admin.listen;
        println!(
            "\n== The daemon (`entra-sync run`) keeps the tenant in step: delta cycles every {}; \
             http://{listen}/metrics and /readyz; Ctrl-C stops it",
            humantime::format_duration(service.connection("demo")?.sync.interval)
        );
        let signals = Signals::from_process().context("listening for signals")?;
        Daemon {
            configs: Arc::new(demo),
            clock,
            metrics: Some(crate::daemon::metrics::install()?),
            jitter: Jitter::default(),
            notifier: None,
            unauthorised: Arc::default(),
            expiring: Arc::default(),
        }
        .run(signals)
        .await?;
    }
    emulator.shutdown().await;
    Ok(())
}

/// The demo's configuration, for each of the daemon's generations: the template with the
/// emulator's addresses and demo app.
struct DemoConfigs {
    env: Environment,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl DemoConfigs {
    fn graph(&self) -> Arc<app::LiveGraph> {
        Arc::new(app::LiveGraph {
            store: self.store.clone(),
            clock: self.clock.clone(),
        })
    }
}

#[async_trait::async_trait]
impl Configs for DemoConfigs {
    async fn load(&self) -> Result<Service, ServiceError> {
        let settings = load_str(
            DEMO_CONFIG,
            "config/demo.toml",
            Path::new("."),
            &self.env,
            &ConfigOverrides::default(),
        )?;
        Ok(Service::new(
            Arc::new(settings),
            self.store.clone(),
            self.clock.clone(),
            self.graph(),
        ))
    }
}

/// A plain user (the leaver) and two first-line agents (the mover and the disabled one), chosen
/// deterministically.
fn pick(people: &People) -> anyhow::Result<(Uuid, Uuid, Uuid)> {
    let mut plain: Vec<&EntraId> = people
        .users
        .iter()
        .filter(|(id, u)| !people.agents.contains_key(*id) && !u.inactive && u.site.is_some())
        .map(|(id, _)| id)
        .collect();
    plain.sort();
    let mut agents: Vec<&EntraId> = people
        .agents
        .iter()
        .filter(|(_, a)| {
            !a.inactive && a.roles.contains_key("1st Line") && !a.roles.contains_key("2nd Line")
        })
        .map(|(id, _)| id)
        .collect();
    agents.sort();
    let (Some(leaver), [mover, disabled, ..]) = (plain.first(), agents.as_slice()) else {
        anyhow::bail!("the generated tenant is too small for the demo's changes");
    };
    Ok((
        Uuid::parse_str(leaver.as_str())?,
        Uuid::parse_str(mover.as_str())?,
        Uuid::parse_str(disabled.as_str())?,
    ))
}

fn rename_department(
    control: &graph_emulator::Control,
    tenant: Uuid,
) -> anyhow::Result<(String, String, usize)> {
    let members: Vec<Uuid> = control.with_directory(tenant, |d| {
        d.live_users()
            .filter(|u| u.value(UserProp::Department).as_str() == Some("Finance"))
            .map(|u| u.id)
            .collect()
    })?;
    for id in &members {
        control.update_user(tenant, *id, json!({"department": "Finance & Procurement"}))?;
    }
    Ok((
        "Finance".to_owned(),
        "Finance & Procurement".to_owned(),
        members.len(),
    ))
}

fn upn(control: &graph_emulator::Control, tenant: Uuid, id: Uuid) -> String {
    control
        .user_json(tenant, id)
        .and_then(|u| {
            u.get("userPrincipalName")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| id.to_string())
}

async fn rows_of(store: &dyn Store, report: &RunReport) -> anyhow::Result<Vec<InboundRow>> {
    let Some(run_id) = report.run_id else {
        return Ok(Vec::new());
    };
    Ok(store
        .inbound_log(&LogQuery {
            run_id: Some(run_id),
            limit: u32::MAX,
            ..LogQuery::default()
        })
        .await?)
}
