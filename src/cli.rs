//! The command line: `entra-sync [--config PATH] <command>`.
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

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::LogAction;
use crate::telemetry::LogFormat;

/// The most rows `log` and `runs` print at once (`--limit`).
pub const MAX_LIMIT: u32 = 10_000;

/// The longest `--since` duration: 100 years back is well inside what the clock can represent.
pub const MAX_SINCE: Duration = Duration::from_secs(100 * 31_557_600);

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
        action: Option<LogAction>,
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

/// `--limit`: at least one row (zero would be a query that can only print a header), at most
/// [`MAX_LIMIT`].
fn limit_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT))
}

/// `--since`: a duration back from now, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long ago (at most [`MAX_SINCE`]).
    Ago(Duration),
    /// This moment.
    At(DateTime<Utc>),
}

impl Since {
    /// `2h`, `7d` (up to `100y`) or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Since, String> {
        let too_far = || {
            "a duration may reach back at most 100y (36525d); give an RFC 3339 time for \
             anything older"
                .to_owned()
        };
        match humantime::parse_duration(text) {
            Ok(ago) if ago <= MAX_SINCE => return Ok(Since::Ago(ago)),
            Ok(_) | Err(humantime::DurationError::NumberOverflow) => return Err(too_far()),
            Err(_) => {}
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Since::At(t.with_timezone(&Utc)))
            .map_err(|_| {
                "neither a duration (2h, 7d, at most 100y) nor an RFC 3339 time \
                 (2024-05-01T00:00:00Z)"
                    .to_owned()
            })
    }

    /// The moment this names, seen from `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match self {
            Since::At(at) => Ok(at),
            Since::Ago(ago) => chrono::Duration::from_std(ago)
                .ok()
                .and_then(|ago| now.checked_sub_signed(ago))
                .ok_or_else(|| "--since reaches back further than dates can be counted".to_owned()),
        }
    }
}

/// `--action` takes the inbound log's actions ([`LogAction::ALL`]) and lists them when the
/// value is not one of them.
impl ValueEnum for LogAction {
    fn value_variants<'a>() -> &'a [Self] {
        &LogAction::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_up_to_a_hundred_years_and_rfc_3339_times() {
        assert_eq!(
            Since::parse("2h"),
            Ok(Since::Ago(Duration::from_secs(7_200)))
        );
        assert!(matches!(Since::parse("100y"), Ok(Since::Ago(_))));
        let too_far = Since::parse("300000y").unwrap_err();
        assert!(too_far.contains("at most 100y"), "{too_far}");
        assert!(
            Since::parse("soon")
                .unwrap_err()
                .contains("neither a duration")
        );
        assert!(
            Since::parse("99999999999999999999y")
                .unwrap_err()
                .contains("at most 100y")
        );
        let at = Since::parse("2024-05-01T10:00:00+02:00").unwrap();
        assert_eq!(
            at.resolve(DateTime::<Utc>::MIN_UTC).unwrap().to_rfc3339(),
            "2024-05-01T08:00:00+00:00"
        );
    }

    #[test]
    fn the_longest_since_resolves_without_overflow() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let back = Since::Ago(MAX_SINCE).resolve(now).unwrap();
        assert_eq!(back.to_rfc3339(), "1925-01-01T00:00:00+00:00");
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
