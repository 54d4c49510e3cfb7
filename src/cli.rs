//! The command line: `entra-sync [--config PATH] <command>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Run one sync of a connection now and print a summary.
    Sync {
        /// The connection id.
        connection: String,
        /// A full reconciliation (a fresh initial round) instead of a delta cycle.
        #[arg(long)]
        full: bool,
        /// Compute everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The "Import Users/Agents" screen: read the tenant and show, per person, the mapping that
    /// matched, the planned action and the field changes. Writes only with `--apply`.
    Import {
        /// The connection id.
        connection: String,
        /// Only end users: plan (and with --apply write) user records, no agents.
        #[arg(long, conflicts_with = "agents")]
        users: bool,
        /// Only agents: plan (and with --apply write) agents and the user records they are
        /// linked to, no other users.
        #[arg(long)]
        agents: bool,
        /// Apply the import.
        #[arg(long)]
        apply: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Re-plan everyone from the mirror after a mapping change, without calling Graph. Writes
    /// only with `--apply`.
    Remap {
        /// The connection id.
        connection: String,
        /// Apply the result.
        #[arg(long)]
        apply: bool,
        /// Output format of the preview.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delta-link maintenance.
    Delta {
        /// What to do.
        #[command(subcommand)]
        command: DeltaCommand,
    },
    /// List runs, or approve a quarantined one.
    Runs(RunsArgs),
    /// Query the inbound log.
    Log {
        /// Only this connection.
        connection: Option<String>,
        /// Only this user principal name.
        #[arg(long, value_name = "UPN")]
        user: Option<String>,
        /// Only this action (created, updated, unchanged, deactivated, reactivated, out-of-scope,
        /// conflict, quarantined, error).
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
        /// Only rows since this long ago (`2h`, `7d`) or this RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many rows, newest first.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// The end-to-end demo: the Graph emulator, SQLite and real syncs, with a report after each.
    Demo {
        /// People in the generated tenant.
        #[arg(long, default_value_t = 2_000)]
        users: usize,
        /// Where the demo's SQLite database goes (recreated on every demo).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Serve the Microsoft Graph + sign-in emulator (for trying the daemon and for benchmarks).
    Emulator(graph_emulator::EmulatorArgs),
}

/// `delta` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Forget a connection's delta links: `--clear` makes the next run a full one; `--latest`
    /// starts from now, skipping history.
    Reset {
        /// The connection id.
        connection: String,
        /// The next run is a full initial round (safe).
        #[arg(long, conflicts_with = "latest", required_unless_present = "latest")]
        clear: bool,
        /// Store `$deltatoken=latest` links: people outside scope now stay unseen until they change.
        #[arg(long)]
        latest: bool,
    },
}

/// `runs [CONNECTION]` or `runs approve RUN`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// Approve a quarantined run.
    #[command(subcommand)]
    pub approve: Option<RunsCommand>,
    /// Only this connection.
    pub connection: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

/// `runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Apply the deactivations a quarantined run held back.
    Approve {
        /// The run id.
        run: i64,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// One JSON array.
    Json,
    /// Comma-separated values with a header.
    Csv,
}
