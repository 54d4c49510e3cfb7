//! The composition root: the only place that picks concrete implementations (store backend,
//! clock, Graph clients). It wires the command line to them: it loads the settings, opens the
//! store, builds the [`Service`] and hands it the parsed command ([`cli::commands`] turns that
//! into a request, and the result into output and an exit code).

mod daemon;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::auth::{AuthError, RefreshTokens, TokenClient};
use crate::cli::{self, Cli, Command};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigOverrides, ConnectionSettings, Credentials, Settings};
use crate::graph::{self, GraphClient, GraphError, RetryPolicy};
use crate::output;
pub use crate::service::ensure_declared;
use crate::service::{self as s, GraphClients, GraphUse, Service, ServiceError};
use crate::store::{self, Store};
use crate::token_store::sealed_refresh_tokens;

/// Runs one CLI invocation, prints what it did, and returns its exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let overrides = ConfigOverrides {
        database_url: cli.database_url,
        instance: cli.instance,
    };
    let done = match cli.command {
        Command::Emulator(args) => graph_emulator::run(args, cli::commands::interrupted())
            .await
            .map_err(anyhow::Error::from),
        Command::Demo {
            users,
            data_dir,
            daemon,
        } => crate::demo::run(users, &data_dir, clock, daemon).await,
        command => {
            let outcome = match command {
                Command::Run => daemon::run(&cli.config, &overrides, clock).await,
                Command::Reload => daemon::ask(&cli.config, &overrides, true).await,
                Command::Health => daemon::ask(&cli.config, &overrides, false).await,
                command => serve(&cli.config, &overrides, command, clock).await,
            };
            return outcome.unwrap_or_else(|e| fail(&output::failure(&e), cli::exit_code(&e)));
        }
    };
    done.map_or_else(
        |e| fail(&output::failure_of(e.as_ref()), ExitCode::FAILURE),
        |()| ExitCode::SUCCESS,
    )
}

async fn serve(
    path: &Path,
    overrides: &ConfigOverrides,
    command: Command,
    clock: Arc<dyn Clock>,
) -> Result<ExitCode, ServiceError> {
    let env = config::load::Environment::from_process();
    let settings = config::load_with(path, &env, overrides, cli::commands::secrets(&command))?;
    let store = open_store(&settings).await?;
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    // Ctrl-C stops a run at its next checkpoint rather than killing it mid-write.
    let shutdown = s::Shutdown::when(cli::commands::interrupted(), "the command was interrupted");
    let service = Service::new(Arc::new(settings), store, clock, graph).with_shutdown(shutdown);
    cli::commands::execute(&service, command).await
}

/// Prints why the command failed; it exits with `code`.
fn fail(stderr: &str, code: ExitCode) -> ExitCode {
    output::print("", stderr);
    code
}

/// Connects and migrates.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, ServiceError> {
    let store = store::connect(&settings.database.url, settings.database.max_connections)
        .await
        .map_err(ServiceError::database("opening the database"))?;
    store
        .migrate()
        .await
        .map_err(ServiceError::database("migrating the database"))?;
    Ok(Arc::from(store))
}

/// The real Graph clients: [`graph_client`] over an HTTP client with the use's timeout.
pub struct LiveGraph {
    /// Where delegated connections' refresh tokens are sealed.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl GraphClients for LiveGraph {
    fn client(
        &self,
        settings: &Settings,
        connection: &ConnectionSettings,
        purpose: GraphUse,
    ) -> Result<GraphClient, GraphError> {
        let http = graph::http_client(Some(purpose.timeout()), connection.trusted_ca.as_ref())?;
        Ok(graph_client(
            settings,
            connection,
            self.store.clone(),
            self.clock.clone(),
            http,
            purpose.retry_policy(),
        )?)
    }
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
            (Credentials::Delegated { .. }, Some(key)) => Some(Arc::new(sealed_refresh_tokens(
                store,
                clock.clone(),
                key,
                &connection.id,
            )?)),
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
