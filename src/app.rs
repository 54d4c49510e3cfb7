//! The composition root: the only place that picks concrete implementations (store backend,
//! clock) and wires them to the command being run.

use std::process::ExitCode;

use anyhow::Context;
use tracing::info;

use crate::cli::{Cli, Command};
use crate::clock::{Clock, SystemClock};
use crate::config::load::Environment;
use crate::config::{self, ConfigError, ConfigOverrides, Settings};
use crate::store::{self, ConnectionRow, Store};

/// Exit code for an invalid configuration.
pub const EXIT_INVALID_CONFIG: u8 = 2;

/// Runs one CLI invocation.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = ConfigOverrides {
        database_url: cli.database_url.clone(),
        instance: cli.instance.clone(),
    };
    let settings = match config::load(&cli.config, &Environment::from_process(), &overrides) {
        Ok(settings) => settings,
        Err(error) => return Ok(report_config_error(&error)),
    };
    let clock = SystemClock;
    match cli.command {
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!("database migrated ({})", store.backend());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => check(&settings, &clock).await,
    }
}

fn report_config_error(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_INVALID_CONFIG)
}

/// Connects and migrates.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Box<dyn Store>> {
    let store = store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Ensures what the config declares exists in the database: reference data and connections.
pub async fn ensure_declared(
    settings: &Settings,
    store: &dyn Store,
    clock: &dyn Clock,
) -> anyhow::Result<u64> {
    let report = store
        .ensure_reference(&settings.halo)
        .await
        .context("ensuring [halo] reference data")?;
    let rows: Vec<ConnectionRow> = settings
        .connections
        .iter()
        .map(|c| ConnectionRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            tenant_id: c.tenant_id.to_string(),
            client_id: c.client_id.to_string(),
        })
        .collect();
    store
        .ensure_connections(&rows, clock.now())
        .await
        .context("recording connections")?;
    Ok(report.created)
}

async fn check(settings: &Settings, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let created = ensure_declared(settings, store.as_ref(), clock).await?;
    info!(
        backend = store.backend(),
        created, "Reference data ensured."
    );
    println!("configuration OK");
    println!(
        "  database: {} (migrated; {created} reference rows created)",
        store.backend()
    );
    println!("  instance: {}", settings.instance.name);
    for c in &settings.connections {
        let runs_here = c.enabled_for_instances.contains(&settings.instance.name);
        println!(
            "  connection {} ({}): tenant {}, {} site mappings, {} field mappings{}",
            c.id,
            c.name,
            c.tenant_id,
            c.mapping_spec.site_mapping.len(),
            c.mapping_spec.field_mapping.len(),
            if runs_here {
                ""
            } else {
                " — not enabled for this instance"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
