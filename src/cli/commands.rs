//! What each command does: its arguments become a [`Service`] request, its result becomes
//! output ([`crate::output`]) and an exit code (the table in [`crate::cli`]). Nothing here
//! decides anything the service decides, or formats anything `output` formats.

use std::process::ExitCode;

use super::{
    AccessCommand, AgentsCommand, Command, DeltaCommand, KeysCommand, LeaseArgs, LicencesCommand,
    RunsArgs, RunsCommand, run_exit_code,
};
use crate::config::Secrets;
use crate::graph::permissions::Verdict;
use crate::ids::RunId;
use crate::output::{self, Spinner, print};
use crate::service::{self as s, Service, ServiceError};
use crate::sync::{Mode, evaluate::Targets};

/// Runs `command` with `service`, prints its result, and returns its exit code.
pub async fn execute(service: &Service, command: Command) -> Result<ExitCode, ServiceError> {
    let mode = |apply: bool| if apply { Mode::Apply } else { Mode::DryRun };
    let (wait, by) = (LeaseArgs::policy, || "cli".to_owned());
    Ok(match command {
        Command::Migrate => shown(&output::migrated(service.migrate().await?)),
        Command::Check { online, connection } => {
            let checked = shown(&output::check(&service.check().await?));
            if !online {
                return Ok(checked);
            }
            let verdicts = service.check_online(connection.as_deref()).await?;
            print(&output::verdicts(&verdicts), "");
            if verdicts.iter().all(Verdict::can_sync) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Sync {
            connection,
            full,
            dry_run,
            lease,
        } => {
            let request = s::SyncRequest {
                connection: connection.clone(),
                full,
                mode: mode(!dry_run),
                wait: wait(lease),
                trigger: by(),
            };
            let report = service.sync(request).await?;
            print(&output::summary(&connection, &report), "");
            run_exit_code(report.status)
        }
        Command::Import {
            connection,
            users,
            agents,
            apply,
            output: format,
            lease,
        } => {
            let targets = match (users, agents) {
                (true, false) => Targets::USERS,
                (false, true) => Targets::AGENTS,
                _ => Targets::BOTH,
            };
            let (spinner, progress) = Spinner::start();
            let request = s::ImportRequest {
                connection: connection.clone(),
                targets,
                mode: mode(apply),
                wait: wait(lease),
                trigger: by(),
                progress: Some(progress),
            };
            let import = service.import(request).await;
            spinner.finish();
            let import = import?;
            print(
                &output::log_rows(&import.rows, format),
                &output::summary(&connection, &import.report),
            );
            run_exit_code(import.report.status)
        }
        Command::Remap {
            connection,
            apply,
            output: format,
            lease,
        } => {
            let request = s::RemapRequest {
                connection: connection.clone(),
                mode: mode(apply),
                wait: wait(lease),
                trigger: by(),
            };
            let remap = service.remap(request).await?;
            let preview = remap.preview.map(|rows| output::log_rows(&rows, format));
            print(
                &preview.unwrap_or_default(),
                &output::summary(&connection, &remap.report),
            );
            run_exit_code(remap.report.status)
        }
        Command::Delta {
            command:
                DeltaCommand::Reset {
                    connection,
                    clear: _,
                    latest,
                },
        } => {
            let reset = service
                .reset_delta(s::DeltaResetRequest { connection, latest })
                .await?;
            shown(&output::delta_reset(&reset))
        }
        Command::Runs(RunsArgs {
            approve: Some(RunsCommand::Approve { run }),
            ..
        }) => {
            let report = service
                .approve(s::ApproveRequest {
                    run_id: RunId(run),
                    by: by(),
                })
                .await?;
            print(&output::summary("approval", &report), "");
            run_exit_code(report.status)
        }
        Command::Runs(RunsArgs {
            approve: None,
            connection,
            limit,
        }) => shown(&output::runs(
            &service.runs(s::RunsRequest { connection, limit }).await?,
        )),
        Command::Log {
            connection,
            user,
            action,
            since,
            limit,
            output: format,
        } => {
            let request = s::LogRequest {
                connection,
                user,
                action,
                since,
                run: None,
                before: None,
                limit,
            };
            shown(&output::log_rows(&service.log(request).await?, format))
        }
        Command::KeepActive {
            connection,
            upn,
            off,
        } => {
            let request = s::KeepActiveRequest {
                connection,
                upn,
                keep_active: !off,
                source: by(),
                by: "the command line".to_owned(),
            };
            let outcome = service.keep_active(&request).await?;
            shown(&output::keep_active(
                &request.upn,
                request.keep_active,
                &outcome,
            ))
        }
        Command::Trigger { connection, full } => {
            let request = s::TriggerRequest {
                connection: connection.clone(),
                full,
                by: by(),
            };
            service.trigger(request).await?;
            shown(&output::triggered(&connection, full))
        }
        Command::Keys { command } => keys(service, command).await?,
        Command::Licences {
            command: LicencesCommand::Import { connection },
        } => shown(&output::licences_imported(
            &connection,
            &service.import_licences(&connection).await?,
        )),
        Command::Licences {
            command: LicencesCommand::List { connection },
        } => shown(&output::licences(&service.licences(&connection).await?)),
        Command::Authorize { connection } => {
            super::authorize::authorize(service, &connection).await?
        }
        Command::Access { command } => access(service, command).await?,
        Command::Agents {
            command: AgentsCommand::CanConfigure { email, off },
        } => {
            service.set_can_configure(&email, !off).await?;
            shown(&output::can_configure(&email, !off))
        }
        Command::Emulator(_)
        | Command::Demo { .. }
        | Command::Run
        | Command::Reload
        | Command::Health => ExitCode::SUCCESS,
    })
}

async fn keys(service: &Service, command: KeysCommand) -> Result<ExitCode, ServiceError> {
    Ok(match command {
        KeysCommand::Create {
            agent,
            admin,
            expires,
        } => {
            let expires_at = expires
                .map(|when| service.resolve_expiry(&when))
                .transpose()?;
            let request = s::KeyRequest {
                agent,
                admin,
                expires_at,
            };
            let created = service.create_key(&request).await?;
            print(
                &output::created_key(&created),
                &output::created_key_note(&created),
            );
            ExitCode::SUCCESS
        }
        KeysCommand::List => shown(&output::keys(&service.keys().await?)),
        KeysCommand::Revoke { id } => {
            service.revoke_key(id).await?;
            shown(&format!("Key {id} revoked.\n"))
        }
    })
}

async fn access(service: &Service, command: AccessCommand) -> Result<ExitCode, ServiceError> {
    Ok(match command {
        AccessCommand::Grant {
            connection,
            agent,
            level,
        } => {
            let level = level
                .parse()
                .map_err(|e| ServiceError::Invalid(format!("--level: {e}")))?;
            service.grant_access(&connection, &agent, level).await?;
            shown(&format!("{agent} has {level} access to {connection}.\n"))
        }
        AccessCommand::Revoke { connection, agent } => {
            service.revoke_access(&connection, &agent).await?;
            shown(&format!(
                "{agent} has no access to {connection} any more.\n"
            ))
        }
        AccessCommand::List { connection } => shown(&output::access_list(
            &service.access_list(&connection).await?,
        )),
    })
}

/// Prints a command's output; it succeeded.
fn shown(stdout: &str) -> ExitCode {
    print(stdout, "");
    ExitCode::SUCCESS
}

/// Commands that never call Graph run without the connections' secrets.
pub fn secrets(command: &Command) -> Secrets {
    match command {
        Command::Runs(_)
        | Command::Log { .. }
        | Command::KeepActive { .. }
        | Command::Trigger { .. }
        | Command::Keys { .. }
        | Command::Licences {
            command: LicencesCommand::List { .. },
        }
        | Command::Access { .. }
        | Command::Agents { .. }
        | Command::Reload
        | Command::Health => Secrets::Deferred,
        Command::Delta {
            command: DeltaCommand::Reset { latest: false, .. },
        } => Secrets::Deferred,
        _ => Secrets::Required,
    }
}

/// Resolves on Ctrl-C (SIGINT); never, where it cannot be listened for.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
