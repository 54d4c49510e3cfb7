//! The composition root: the only place that picks concrete implementations (store backend,
//! clock) and wires them to the command being run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::info;

use crate::auth::{AuthError, RefreshTokens, SealedRefreshTokens, TokenClient, TokenVault};
use crate::cli::{Cli, Command, DeltaCommand, LeaseArgs, RunsArgs, RunsCommand};
use crate::clock::{Clock, SystemClock};
use crate::config::load::Environment;
use crate::config::{
    self, ConfigError, ConfigOverrides, ConnectionSettings, Credentials, Secrets, Settings,
};
use crate::graph::permissions::{self, Verdict};
use crate::graph::{self, GraphClient, RetryPolicy};
use crate::instance::{NotEnabled, ensure_enabled};
use crate::output;
use crate::store::{
    self, ConnectionRow, DeltaState, InboundRow, KeepActiveChange, LogQuery, RunKind, RunStatus,
    Store,
};
use crate::sync::evaluate::Targets;
use crate::sync::lease::{LeaseError, LeasePolicy, LeaseWait};
use crate::sync::{Approval, Mode, Progress, RunReport, RunRequest, Step, SyncError, Syncer};
use crate::token_store::StoredRefreshTokens;

/// Exit code for an invalid configuration.
pub const EXIT_INVALID_CONFIG: u8 = 2;
/// Exit code when another run of the connection holds its lease (and `--wait` was not given, or
/// ran out).
pub const EXIT_BUSY: u8 = 4;

/// Exit code for a command refused because its connection is not enabled for this instance.
pub const EXIT_NOT_ENABLED: u8 = 5;

/// Runs one CLI invocation.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // These two bring their own configuration.
    match cli.command {
        Command::Emulator(args) => {
            graph_emulator::run(args, shutdown_signal()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Demo {
            users,
            ref data_dir,
        } => return crate::demo::run(users, data_dir, clock).await,
        _ => {}
    }
    let overrides = ConfigOverrides {
        database_url: cli.database_url.clone(),
        instance: cli.instance.clone(),
    };
    let env = Environment::from_process();
    let secrets = secrets_needed(&cli.command);
    let settings = match config::load_with(&cli.config, &env, &overrides, secrets) {
        Ok(settings) => settings,
        Err(error) => return Ok(report_config_error(&error)),
    };
    let store = open_store(&settings).await?;
    match cli.command {
        Command::Migrate => {
            println!("database migrated ({})", store.backend());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { online, connection } => {
            check(&settings, store.as_ref(), clock.as_ref()).await?;
            if !online {
                return Ok(ExitCode::SUCCESS);
            }
            let verdicts = check_online(&settings, store, clock, connection.as_deref()).await?;
            print_verdicts(&verdicts);
            Ok(if verdicts.iter().all(Verdict::can_sync) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sync {
            connection,
            full,
            dry_run,
            lease,
        } => {
            let kind = if full { RunKind::Full } else { RunKind::Delta };
            let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
            let request = RunRequest {
                lease: lease_policy(&settings, lease),
                ..RunRequest::new(kind, mode, "cli")
            };
            let report = run_once(&settings, store, clock, &connection, request).await?;
            print!("{}", output::summary(&connection, &report));
            Ok(exit_for(&report))
        }
        Command::Import {
            connection,
            users,
            agents,
            apply,
            output: format,
            lease,
        } => {
            let mode = if apply { Mode::Apply } else { Mode::DryRun };
            let targets = match (users, agents) {
                (true, false) => Targets::USERS,
                (false, true) => Targets::AGENTS,
                _ => Targets::BOTH,
            };
            let syncs =
                Targets::of_entities(find_connection(&settings, &connection)?.sync.entities());
            if !targets.and(syncs).any() {
                anyhow::bail!(
                    "connection {connection} does not sync {} ([connection.sync].entities)",
                    if users { "users" } else { "agents" }
                );
            }
            let bar = progress_bar();
            let request = RunRequest {
                progress: Some(bar.1),
                lease: lease_policy(&settings, lease),
                targets,
                ..RunRequest::new(RunKind::Import, mode, "cli")
            };
            let report = run_once(&settings, store.clone(), clock, &connection, request).await?;
            bar.0.finish_and_clear();
            let rows = match report.run_id {
                Some(run_id) => {
                    store
                        .inbound_log(&LogQuery {
                            run_id: Some(run_id),
                            limit: u32::MAX,
                            ..LogQuery::default()
                        })
                        .await?
                }
                None => report.rows.clone(),
            };
            // The run evaluated only its targets: its rows are what it did (or would do).
            print!("{}", output::log_rows(&rows, format));
            eprint!("{}", output::summary(&connection, &report));
            Ok(exit_for(&report))
        }
        Command::Remap {
            connection,
            apply,
            output: format,
            lease,
        } => {
            let mode = if apply { Mode::Apply } else { Mode::DryRun };
            // A remap re-plans from the mirror: it has no Graph client at all.
            let syncer = Syncer {
                store: store.clone(),
                graph: None,
                clock,
            };
            let connection_settings = find_connection(&settings, &connection)?;
            if apply {
                ensure_enabled(&settings, connection_settings, "remap")?;
            }
            let report = syncer
                .run(
                    connection_settings,
                    &RunRequest {
                        lease: lease_policy(&settings, lease),
                        ..RunRequest::new(RunKind::Remap, mode, "cli")
                    },
                )
                .await?;
            if !apply {
                let changed: Vec<InboundRow> = report
                    .rows
                    .iter()
                    .filter(|r| !matches!(r.action.as_str(), "unchanged" | "out-of-scope"))
                    .cloned()
                    .collect();
                print!("{}", output::log_rows(&changed, format));
            }
            eprint!("{}", output::summary(&connection, &report));
            Ok(exit_for(&report))
        }
        Command::Delta {
            command:
                DeltaCommand::Reset {
                    connection,
                    clear: _,
                    latest,
                },
        } => {
            let connection_settings = find_connection(&settings, &connection)?;
            ensure_enabled(&settings, connection_settings, "reset its delta links")?;
            let cleared = store.clear_delta_states(&connection).await?;
            if latest {
                let client = graph_client_default(
                    &settings,
                    connection_settings,
                    store.clone(),
                    clock.clone(),
                )?;
                let select = crate::sync::read::users_select(connection_settings).join(",");
                let link = client
                    .latest_users_delta_link(&select)
                    .await?
                    .context("Graph returned no deltaLink for $deltatoken=latest")?;
                store
                    .save_delta_state(
                        &DeltaState {
                            connection_id: connection.clone(),
                            chain: "users".to_owned(),
                            fingerprint: crate::sync::read::fingerprint(&["users", &select]),
                            delta_link: Some(link),
                            next_link: None,
                            round_id: None,
                            round_initial: false,
                        },
                        clock.now(),
                    )
                    .await?;
                println!(
                    "{connection}: delta links reset to \"latest\"; the next run sees only changes from now on."
                );
                println!(
                    "  warning: people outside scope now stay unseen until their Entra record changes; prefer --clear."
                );
            } else {
                println!(
                    "{connection}: {cleared} delta links cleared; the next run is a full initial round."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs(RunsArgs {
            approve: Some(RunsCommand::Approve { run }),
            ..
        }) => {
            let syncer = Syncer {
                store,
                graph: None,
                clock,
            };
            let report = approve_run(&syncer, &settings, run, "cli").await?;
            print!("{}", output::summary("approval", &report));
            Ok(exit_for(&report))
        }
        Command::Runs(RunsArgs {
            approve: None,
            connection,
            limit,
        }) => {
            if let Some(id) = &connection {
                find_connection(&settings, id)?;
            }
            print!(
                "{}",
                output::runs(&store.runs(connection.as_deref(), limit).await?)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Log {
            connection,
            user,
            action,
            since,
            limit,
            output: format,
        } => {
            if let Some(id) = &connection {
                find_connection(&settings, id)?;
            }
            let since = since
                .map(|since| since.resolve(clock.now()))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let query = LogQuery {
                connection_id: connection,
                run_id: None,
                upn: user,
                action,
                since,
                limit,
            };
            print!(
                "{}",
                output::log_rows(&store.inbound_log(&query).await?, format)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::KeepActive {
            connection,
            upn,
            off,
        } => {
            find_connection(&settings, &connection)?;
            let change = KeepActiveChange {
                connection_id: &connection,
                upn: &upn,
                keep_active: !off,
                source: "cli",
                message: if off {
                    "keep-active cleared by the command line"
                } else {
                    "keep-active set by the command line"
                },
            };
            let outcome = store.set_keep_active(&change, clock.now()).await?;
            print!("{}", output::keep_active(&upn, &change, &outcome));
            Ok(ExitCode::SUCCESS)
        }
        Command::Emulator(_) | Command::Demo { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// How a command's run holds its connection's lease: `[daemon] lease_ttl`, and `--wait`.
fn lease_policy(settings: &Settings, args: LeaseArgs) -> LeasePolicy {
    LeasePolicy {
        ttl: settings.daemon.lease_ttl,
        wait: args.wait.map_or(LeaseWait::Refuse, LeaseWait::Wait),
    }
}

/// Prints why a command failed and returns its exit code (the exit codes are listed in `cli`):
/// [`EXIT_BUSY`] when another run holds the connection's lease, [`EXIT_NOT_ENABLED`] for a
/// connection not enabled for this instance, 1 otherwise.
pub fn report_failure(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    match error.downcast_ref::<SyncError>() {
        Some(SyncError::Lease(LeaseError::Held { .. })) => {
            eprintln!("  hint: pass --wait to wait until that run ends");
            ExitCode::from(EXIT_BUSY)
        }
        _ if error.downcast_ref::<NotEnabled>().is_some() => ExitCode::from(EXIT_NOT_ENABLED),
        _ => ExitCode::FAILURE,
    }
}

/// Commands that never call Graph run without the connections' secrets.
fn secrets_needed(command: &Command) -> Secrets {
    match command {
        Command::Runs(_)
        | Command::Log { .. }
        | Command::KeepActive { .. }
        | Command::Delta {
            command: DeltaCommand::Reset { latest: false, .. },
        } => Secrets::Deferred,
        _ => Secrets::Required,
    }
}

fn exit_for(report: &RunReport) -> ExitCode {
    match report.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Quarantined => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    }
}

fn find_connection<'a>(settings: &'a Settings, id: &str) -> anyhow::Result<&'a ConnectionSettings> {
    settings
        .connections
        .iter()
        .find(|c| c.id.as_str() == id)
        .with_context(|| {
            let known: Vec<&str> = settings.connections.iter().map(|c| c.id.as_str()).collect();
            format!(
                "there is no connection {id:?} in the configuration (known: {})",
                known.join(", ")
            )
        })
}

fn graph_client_default(
    settings: &Settings,
    connection: &ConnectionSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<GraphClient> {
    let http = graph::http_client(Some(Duration::from_secs(120)))?;
    Ok(graph_client(
        settings,
        connection,
        store,
        clock,
        http,
        RetryPolicy::default(),
    )?)
}

/// One run of one connection, as the CLI starts it. A run that writes is refused for a
/// connection not enabled for this instance; a dry run goes ahead.
pub async fn run_once(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    connection: &str,
    request: RunRequest,
) -> anyhow::Result<RunReport> {
    let connection = find_connection(settings, connection)?;
    if request.mode == Mode::Apply {
        let refused = if request.kind == RunKind::Import {
            "import"
        } else {
            "sync"
        };
        ensure_enabled(settings, connection, refused)?;
    }
    ensure_declared(settings, store.as_ref(), clock.as_ref()).await?;
    let graph = graph_client_default(settings, connection, store.clone(), clock.clone())?;
    let syncer = Syncer {
        store,
        graph: Some(graph),
        clock,
    };
    Ok(syncer.run(connection, &request).await?)
}

/// A spinner on stderr that tells how far an import got; invisible when stderr is not a terminal.
fn progress_bar() -> (indicatif::ProgressBar, Progress) {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let shown = bar.clone();
    let progress = Progress(Arc::new(move |step| match step {
        Step::Read(n) => shown.set_message(format!("read {n} people from Entra")),
        Step::Evaluated(n) => shown.set_message(format!("planned {n} people")),
    }));
    (bar, progress)
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

fn report_config_error(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_INVALID_CONFIG)
}

/// Connects and migrates.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(Arc::from(store))
}

/// The Graph client of one connection: its token source (with the sealed refresh-token store
/// for delegated connections), the HTTP client and the retry policy.
pub fn graph_client(
    settings: &Settings,
    connection: &ConnectionSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    policy: RetryPolicy,
) -> Result<GraphClient, AuthError> {
    let refresh_tokens: Option<Arc<dyn RefreshTokens>> =
        match (&connection.credentials, &settings.token_encryption_key) {
            (Credentials::Delegated { .. }, Some(key)) => Some(Arc::new(SealedRefreshTokens {
                sealed: Arc::new(StoredRefreshTokens {
                    store,
                    clock: clock.clone(),
                }),
                vault: Arc::new(TokenVault::new(key)?),
                connection: connection.id.clone(),
            })),
            _ => None,
        };
    let tokens = TokenClient::for_connection(connection, http.clone(), clock, refresh_tokens)?;
    Ok(GraphClient::new(
        http,
        connection.graph_url.clone(),
        Arc::new(tokens),
        policy,
        connection.id.as_str(),
    ))
}

/// `runs approve RUN`: a run that records the approval, then applies the quarantined run's held
/// deactivations (and anything else still pending) without reading Graph; once it succeeds, the
/// quarantined run is recorded as succeeded. Refused for a connection not enabled for this
/// instance.
pub async fn approve_run(
    syncer: &Syncer,
    settings: &Settings,
    run_id: i64,
    by: &str,
) -> anyhow::Result<RunReport> {
    let run = syncer.store.run(run_id).await?;
    let connection = settings
        .connections
        .iter()
        .find(|c| c.id.as_str() == run.connection_id)
        .with_context(|| {
            format!(
                "run {run_id} belongs to connection {:?}, which is not configured",
                run.connection_id
            )
        })?;
    ensure_enabled(settings, connection, &format!("approve run {run_id}"))?;
    let request = RunRequest {
        override_guard: true,
        pending_only: true,
        approves: Some(Approval {
            run_id,
            by: by.to_owned(),
        }),
        lease: LeasePolicy {
            ttl: settings.daemon.lease_ttl,
            wait: LeaseWait::Refuse,
        },
        ..RunRequest::new(RunKind::Delta, Mode::Apply, &format!("approve #{run_id}"))
    };
    Ok(syncer.run(connection, &request).await?)
}

/// `check --online`: one verdict per connection (or only `only`).
pub async fn check_online(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    only: Option<&str>,
) -> anyhow::Result<Vec<Verdict>> {
    let http = graph::http_client(Some(Duration::from_secs(60)))?;
    let chosen: Vec<&ConnectionSettings> = settings
        .connections
        .iter()
        .filter(|c| only.is_none_or(|id| c.id.as_str() == id))
        .collect();
    if let (Some(id), true) = (only, chosen.is_empty()) {
        anyhow::bail!("there is no connection {id:?} in the configuration");
    }
    let policy = RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    };
    let mut verdicts = Vec::new();
    for connection in chosen {
        let verdict = match graph_client(
            settings,
            connection,
            store.clone(),
            clock.clone(),
            http.clone(),
            policy.clone(),
        ) {
            Ok(client) => permissions::check_online(&client, connection).await,
            Err(error) => Verdict {
                connection: connection.id.to_string(),
                failure: Some(error.to_string()),
                granted: Vec::new(),
                missing: Vec::new(),
                untracked: Vec::new(),
            },
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

fn print_verdicts(verdicts: &[Verdict]) {
    for v in verdicts {
        if v.can_sync() {
            println!(
                "connection {}: OK — signed in, read users; granted {}",
                v.connection,
                v.granted.join(", ")
            );
        } else {
            println!("connection {}: CANNOT SYNC", v.connection);
        }
        if let Some(failure) = &v.failure {
            println!("  - {failure}");
        }
        for (permission, why) in &v.missing {
            println!(
                "  - add the application permission {permission} (and grant admin consent): needed for {why}"
            );
        }
        for (attribute, used_at) in &v.untracked {
            println!(
                "  - note: {attribute} (used at {used_at}) is not tracked by delta queries; it is fetched separately"
            );
        }
    }
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

async fn check(settings: &Settings, store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<()> {
    let created = ensure_declared(settings, store, clock).await?;
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
        let runs_here = ensure_enabled(settings, c, "sync").is_ok();
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
        for untracked in c.mapping.delta_incompatible() {
            println!(
                "    note: {} (used at {}) is not tracked by delta queries; it is read separately \
                 (/users paging on full runs, batched requests for changed people)",
                untracked.attribute,
                untracked.used_at.join(", ")
            );
        }
    }
    Ok(())
}
