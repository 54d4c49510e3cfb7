//! The command line: `entra-sync [--config PATH] <command>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Keeps a service desk's users and agents in step with Microsoft Entra ID.
#[derive(Debug, Parser)]
#[command(name = "entra-sync", version, about)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "entra-sync.toml",
        env = "ENTRA_SYNC_CONFIG"
    )]
    pub config: PathBuf,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Overrides `[database].url` (wins over the file and ENTRA_SYNC__DATABASE__URL).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Overrides `[instance].name`.
    #[arg(long, global = true, value_name = "NAME")]
    pub instance: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands. Each exists only once it works.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration, migrate the database and ensure the `[halo]` reference data.
    /// Exit code 2 when the configuration is invalid; with `--online`, 1 when a connection
    /// cannot sync.
    Check {
        /// Also sign in to each connection, read one user and compare the granted permissions
        /// with what the configuration needs.
        #[arg(long)]
        online: bool,
        /// Only this connection (with `--online`).
        #[arg(requires = "online")]
        connection: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
}
