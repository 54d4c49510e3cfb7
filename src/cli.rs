//! The command line: `entra-sync [--config PATH] <command>`. This module parses it;
//! [`commands`] runs each command as a [`Service`](crate::service::Service) call and prints the
//! result; [`exit_code`] and [`run_exit_code`] map failures and runs to the codes below.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (including "nothing changed") |
//! | 1 | the command failed: a run failed, an unknown connection or person, a database error, or (`check --online`) a connection cannot sync |
//! | 2 | the configuration is invalid, or the command line is (an unknown `--action`, a `--limit` or `--since` out of range, …) |
//! | 3 | the run was quarantined: deactivations await `runs approve` |
//! | 4 | another run of the connection holds its lease (the message names its host, process id and since when); `--wait` waits for it instead |
//! | 5 | the connection is not enabled for this instance (`[instance].name` / `--instance`), so a command that would write for it refused; previews still run |

mod authorize;
pub mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::service::ServiceError;
pub use crate::service::Since;
use crate::sync::lease::LeaseWait;
use crate::telemetry::LogFormat;
use crate::vocab::{Action, RunStatus};

/// The most rows `log` and `runs` print at once (`--limit`).
pub const MAX_LIMIT: u32 = 10_000;

/// Keeps a service desk's users and agents in step with Microsoft Entra ID.
#[derive(Debug, Parser)]
#[command(
    name = "entra-sync",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 the command failed; 2 invalid configuration or command \
                  line; 3 run quarantined (see `runs approve`); 5 connection not enabled for this \
                  instance (previews still run)."
)]
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

    /// Overrides `[instance].name`. Commands that write for a connection (sync, import --apply,
    /// remap --apply, runs approve, delta reset) refuse one not enabled for this instance.
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
    /// Run one sync of a connection now and print a summary. Exit code 3 when the run is
    /// quarantined, 5 when the connection is not enabled for this instance (unless `--dry-run`).
    Sync {
        /// The connection id.
        connection: String,
        /// A full reconciliation (a fresh initial round) instead of a delta cycle.
        #[arg(long)]
        full: bool,
        /// Compute everything, write nothing (allowed on any instance).
        #[arg(long)]
        dry_run: bool,
        /// When another run of the connection is under way.
        #[command(flatten)]
        lease: LeaseArgs,
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
        /// When another run of the connection is under way.
        #[command(flatten)]
        lease: LeaseArgs,
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
        /// When another run of the connection is under way.
        #[command(flatten)]
        lease: LeaseArgs,
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
        /// Only this connection (one of the configured ones).
        connection: Option<String>,
        /// Only this user principal name.
        #[arg(long, value_name = "UPN")]
        user: Option<String>,
        /// Only this action.
        #[arg(long, value_name = "ACTION")]
        action: Option<Action>,
        /// Only rows since this long ago (`2h`, `7d`, at most `100y`) or this RFC 3339 time.
        #[arg(long, value_name = "WHEN", value_parser = Since::parse)]
        since: Option<Since>,
        /// At most this many rows (1 to 10000), newest first.
        #[arg(long, default_value_t = 100, value_parser = limit_range())]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Set (or with `--off` clear) a person's keep-active flag: the sync then never deactivates
    /// or reactivates their user record (nor their agent record). Recorded in the inbound log.
    KeepActive {
        /// The connection id.
        connection: String,
        /// The person's login or user principal name (case-insensitive).
        upn: String,
        /// Clear the flag instead.
        #[arg(long)]
        off: bool,
    },
    /// The end-to-end demo: the Graph emulator, SQLite and real syncs, with a report after each.
    Demo {
        /// People in the generated tenant.
        #[arg(long, default_value_t = 2_000)]
        users: usize,
        /// Where the demo's SQLite database goes (recreated on every demo).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Then run the daemon on the same tenant and database until Ctrl-C.
        #[arg(long)]
        daemon: bool,
    },
    /// Serve the Microsoft Graph + sign-in emulator (for trying the daemon and for benchmarks).
    Emulator(graph_emulator::EmulatorArgs),
    /// The daemon: keep every connection enabled for this instance in step (delta cycles every
    /// `sync.interval`, a full reconciliation every `full_interval`), serve `/healthz`,
    /// `/readyz` and `/metrics` on `[admin].listen`, reload on SIGHUP, stop on SIGTERM or
    /// SIGINT.
    Run,
    /// Ask the daemon to sync a connection now (whichever replica runs it picks the request up
    /// within a few seconds; requests made during a run become one follow-up run).
    Trigger {
        /// The connection id.
        connection: String,
        /// A full reconciliation rather than a delta cycle.
        #[arg(long)]
        full: bool,
    },
    /// Ask the daemon on `[admin].listen` to re-read its configuration (as SIGHUP does).
    Reload,
    /// The admin API's keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tenant's licences (Graph's subscribed SKUs).
    Licences {
        /// What to do.
        #[command(subcommand)]
        command: LicencesCommand,
    },
    /// Which agents may use a connection through the admin API.
    Access {
        /// What to do.
        #[command(subcommand)]
        command: AccessCommand,
    },
    /// Agents' permissions.
    Agents {
        /// What to do.
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Exit 0 when the daemon on `[admin].listen` answers `/healthz` (a container health check
    /// that needs no shell tools).
    Health,
    /// "Sign in with Microsoft" for a delegated connection, for headless set-ups: prints the
    /// `/authorize` URL alone on standard output and waits (up to ten minutes) for Entra's
    /// redirect to `/authcallback` on `[admin].listen`, served here, or by the daemon when it
    /// holds the listener. Exit 0 once the refresh token is stored.
    Authorize {
        /// The connection id.
        connection: String,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, alone on standard output. It is shown only this once.
    Create {
        /// The agent (by email) the key acts as.
        #[arg(long, value_name = "EMAIL", required_unless_present = "admin")]
        agent: Option<String>,
        /// An admin key: every connection and the access list; needs no agent.
        #[arg(long)]
        admin: bool,
        /// The key stops working at this RFC 3339 time or this long from now (`90d`).
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// List the keys (never the keys themselves: their first characters).
    List,
    /// Revoke a key.
    Revoke {
        /// The key's id (from `keys list`).
        id: i64,
    },
}

/// `licences` subcommands.
#[derive(Debug, Subcommand)]
pub enum LicencesCommand {
    /// Import the connection's licences now, without a user sync: SKUs, their unit counts and
    /// product names; SKUs the tenant no longer lists are marked, not deleted.
    Import {
        /// The connection id.
        connection: String,
    },
    /// List the licences the connection imported.
    List {
        /// The connection id.
        connection: String,
    },
}

/// `access` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Let an agent read (or read and modify) a connection through the admin API.
    Grant {
        /// The connection id.
        connection: String,
        /// The agent's email.
        #[arg(long, value_name = "EMAIL")]
        agent: String,
        /// `read`: status, runs, log, preview, online check; `read_modify`: also sync, delta
        /// reset, approve, authorise, keep-active.
        #[arg(long, value_parser = ["read", "read_modify"])]
        level: String,
    },
    /// Remove an agent's access to a connection.
    Revoke {
        /// The connection id.
        connection: String,
        /// The agent's email.
        #[arg(long, value_name = "EMAIL")]
        agent: String,
    },
    /// The agents who may use a connection.
    List {
        /// The connection id.
        connection: String,
    },
}

/// `agents` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Let an agent configure Entra: every connection and the access list (`--off` clears it).
    CanConfigure {
        /// The agent's email.
        email: String,
        /// Clear the permission instead.
        #[arg(long)]
        off: bool,
    },
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
    /// Only this connection (one of the configured ones).
    pub connection: Option<String>,
    /// At most this many runs (1 to 10000), newest first.
    #[arg(long, default_value_t = 20, value_parser = limit_range())]
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

/// What a run that writes does when another run of its connection holds the connection's lease.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LeaseArgs {
    /// Wait for the other run to end (at most this long; `--wait` alone: 1h) instead of refusing
    /// at once with exit code 4.
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "1h",
          value_parser = humantime::parse_duration)]
    pub wait: Option<std::time::Duration>,
}

impl LeaseArgs {
    /// What the run does when the lease is held.
    pub fn policy(self) -> LeaseWait {
        self.wait.map_or(LeaseWait::Refuse, LeaseWait::Wait)
    }
}

/// `--limit`: at least one row (zero would be a query that can only print a header), at most
/// [`MAX_LIMIT`].
fn limit_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT))
}

/// The exit code of a command that failed with `error` (the table above).
pub fn exit_code(error: &ServiceError) -> ExitCode {
    ExitCode::from(match error.cause() {
        ServiceError::Config(_) | ServiceError::Invalid(_) | ServiceError::Conflict(_) => 2,
        ServiceError::Busy { .. } | ServiceError::Overloaded(_) => 4,
        ServiceError::NotEnabled(_) => 5,
        _ => 1,
    })
}

/// The exit code of a command whose run ended with `status`: 0 when it succeeded, 3 when it was
/// quarantined, 1 otherwise.
pub fn run_exit_code(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Quarantined => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    }
}

/// `--action` takes the inbound log's actions ([`Action::ALL`]) and lists them when the
/// value is not one of them.
impl ValueEnum for Action {
    fn value_variants<'a>() -> &'a [Self] {
        Action::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_exits_with_its_documented_code() {
        use crate::instance::NotEnabled;
        let invalid = ServiceError::Invalid("--since".into());
        let unknown = ServiceError::UnknownConnection {
            id: "nope".into(),
            known: vec!["contoso".into()],
        };
        let not_enabled = ServiceError::NotEnabled(NotEnabled {
            connection: "contoso".into(),
            instance: "uat".into(),
            runs_on: vec!["production".into()],
            refused: "sync".into(),
        });
        assert_eq!(exit_code(&invalid), ExitCode::from(2));
        assert_eq!(exit_code(&unknown), ExitCode::FAILURE);
        assert_eq!(exit_code(&not_enabled), ExitCode::from(5));
        assert_eq!(run_exit_code(RunStatus::Succeeded), ExitCode::SUCCESS);
        assert_eq!(run_exit_code(RunStatus::Quarantined), ExitCode::from(3));
        assert_eq!(run_exit_code(RunStatus::Failed), ExitCode::FAILURE);
    }

    #[test]
    fn limits_outside_one_to_the_maximum_are_refused_by_the_parser() {
        let parse = |limit: &str| Cli::try_parse_from(["entra-sync", "log", "--limit", limit]);
        assert!(parse("1").is_ok());
        assert!(parse("10000").is_ok());
        for bad in ["0", "10001"] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(
                error.contains("--limit") && error.contains("1..=10000"),
                "{error}"
            );
        }
    }
}
