//! The application layer: every operation the command line offers, as a typed request and a
//! typed result, for every entry point (the CLI today; the scheduler and the admin API call the
//! same methods). The entry points parse, call one method and present its result; none of them
//! reaches [`crate::sync`] or [`crate::store`] around it.
//!
//! What holds for every entry point lives here: a command that writes for a connection is
//! refused unless the connection is enabled for this instance ([`crate::instance`]), and a run
//! that writes holds its connection's lease for `[daemon] lease_ttl`, waiting for another run of
//! the connection only as its request says.
//!
//! - [`run`]: sync (and its dry run), import preview and apply, remap, approval.
//! - [`cycle`]: the daemon's scheduled cycles (what is due, by [`cadence`]), operators'
//!   triggers, and housekeeping.
//! - [`delta`]: forgetting a connection's delta links (`--clear`, `--latest`).
//! - [`query`]: listing runs, querying the inbound log.
//! - [`licences`]: importing licences without a user sync, and listing them.
//! - [`keep_active`]: a person's keep-active flag.
//! - [`notify`]: the webhook's events and their delivery.
//! - [`access`]: the admin API's keys, who calls, and what each caller may reach.
//! - [`sessions`]: the status page's sign-in sessions and their CSRF tokens.
//! - [`sign_in`]: the delegated sign-in that gives a delegated connection its refresh token.
//! - [`credentials`]: when a connection's secret or certificate expires, and the warning.
//! - [`check`]: validating the configuration against the database, and the online check.
//! - [`error`]: [`ServiceError`], shaped by what the entry points decide (exit codes, statuses).

pub mod access;
pub mod cadence;
pub mod check;
pub mod credentials;
pub mod cycle;
pub mod delta;
pub mod error;
pub mod followers;
pub mod keep_active;
pub mod licences;
pub mod notify;
pub mod preview;
pub mod query;
pub mod run;
pub mod sessions;
pub mod sign_in;
pub mod write_back;

use std::sync::Arc;
use std::time::Duration;

pub use self::access::{Caller, CreatedKey, KeyRequest};
pub use self::check::{CheckReport, ConnectionCheck, ensure_declared};
pub use self::credentials::{CredentialExpiry, ExpirySource};
pub use self::cycle::{CycleResult, TriggerRequest};
pub use self::delta::{DeltaReset, DeltaResetRequest};
pub use self::error::ServiceError;
pub use self::followers::{FollowMode, FollowOutcome, FollowRequest, GroupChoice, Skipped};
pub use self::keep_active::KeepActiveRequest;
pub use self::preview::{ComputedPreview, Preview};
pub use self::query::{ConnectionStatus, LogRequest, RunsRequest, Since};
pub use self::run::{
    ApproveRequest, ImportRequest, ImportResult, RemapRequest, RemapResult, SyncRequest,
};
pub use self::sessions::{OpenedSession, PageSession};
pub use self::sign_in::{Callback, SignInOutcome, SignInProgress, SignInStart};
pub use self::write_back::{LicenceRequest, LicenceWritten};
/// `check --online`'s verdict on one connection.
pub use crate::graph::permissions::Verdict;
/// The rows the service's queries answer with (runs, inbound-log rows, access grants).
pub use crate::store::{
    AccessGrant, CopyKind, Follower, InboundRow, Licence, RunRow, TicketFollower,
};
/// What a run did, as every operation that runs one returns it.
pub use crate::sync::RunReport;
/// Which records (users, agents) an import or a preview covers.
pub use crate::sync::evaluate::Targets;
/// What a licence import did.
pub use crate::sync::licences::LicenceImport;

use crate::clock::Clock;
use crate::config::{ConnectionSettings, Settings};
use crate::graph::{GraphClient, GraphError, RetryPolicy};
use crate::store::Store;

/// What a Graph client is for: it sets the client's request timeout and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphUse {
    /// A run or a delta reset: long reads, the default retry policy.
    Run,
    /// `check --online`: one sign-in and one read, few retries, so a broken connection is
    /// reported quickly.
    Probe,
}

impl GraphUse {
    /// How long one request may take.
    pub fn timeout(self) -> Duration {
        match self {
            GraphUse::Run => Duration::from_secs(120),
            GraphUse::Probe => Duration::from_secs(60),
        }
    }

    /// How failed requests are retried.
    pub fn retry_policy(self) -> RetryPolicy {
        match self {
            GraphUse::Run => RetryPolicy::default(),
            // Someone waits for a probe's answer: a minute of throttling, then say so.
            GraphUse::Probe => RetryPolicy {
                max_retries: 2,
                max_throttled: Duration::from_secs(60),
                ..RetryPolicy::default()
            },
        }
    }
}

/// Builds the Graph client of a connection, with [`GraphUse::timeout`] and
/// [`GraphUse::retry_policy`]. The composition root provides the real one (token sources,
/// refresh-token store, HTTP client); tests may provide their own.
pub trait GraphClients: Send + Sync {
    /// The client of `connection`, configured by `settings`, for `purpose`.
    fn client(
        &self,
        settings: &Settings,
        connection: &ConnectionSettings,
        purpose: GraphUse,
    ) -> Result<GraphClient, GraphError>;
}

/// The application: the settings, the store, the clock and the Graph clients every operation
/// works with.
#[derive(Clone)]
pub struct Service {
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    graph: Arc<dyn GraphClients>,
    /// Cancelled when the process is asked to stop: every run the service starts stops then
    /// (recorded `cancelled`, nobody deactivated, resumed by the next run).
    shutdown: Shutdown,
    /// Import previews, computed once and shared by their callers.
    previews: Arc<preview::Previews>,
}

/// The process's stop request, as the runs of a [`Service`] see it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Cancelled to stop every run.
    pub token: tokio_util::sync::CancellationToken,
    /// Why, as the stopped runs record it.
    pub reason: String,
}

impl Shutdown {
    /// A stop request made when `signal` resolves (the command line: Ctrl-C), for `reason`.
    pub fn when(signal: impl Future<Output = ()> + Send + 'static, reason: &str) -> Self {
        let token = tokio_util::sync::CancellationToken::new();
        let stop = token.clone();
        tokio::spawn(async move {
            signal.await;
            stop.cancel();
        });
        Self {
            token,
            reason: reason.to_owned(),
        }
    }
}

impl Service {
    /// The application over these collaborators.
    pub fn new(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        graph: Arc<dyn GraphClients>,
    ) -> Self {
        Self {
            settings,
            store,
            clock,
            graph,
            shutdown: Shutdown {
                token: tokio_util::sync::CancellationToken::new(),
                reason: "the daemon is shutting down".to_owned(),
            },
            previews: Arc::default(),
        }
    }

    /// The same service, its runs stopping when `shutdown` is cancelled.
    pub fn with_shutdown(self, shutdown: Shutdown) -> Self {
        Self { shutdown, ..self }
    }

    /// The validated configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies pending migrations (there are none after start-up, which migrates) and names the
    /// database backend.
    pub async fn migrate(&self) -> Result<&'static str, ServiceError> {
        self.store.migrate().await?;
        Ok(self.store.backend())
    }

    /// Which database backend the store is (`sqlite` or `postgres`).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Creates the reference data and connections the configuration declares and the database
    /// lacks (see [`ensure_declared`]).
    pub async fn declare(&self) -> Result<(), ServiceError> {
        ensure_declared(&self.settings, self.store.as_ref(), self.clock.as_ref()).await?;
        Ok(())
    }

    /// The configured connection `id`, or the error naming the configured ones.
    pub fn connection(&self, id: &str) -> Result<&ConnectionSettings, ServiceError> {
        find_connection(&self.settings, id)
    }
}

/// The connection `id` of `settings`, or the error naming the configured ones.
fn find_connection<'a>(
    settings: &'a Settings,
    id: &str,
) -> Result<&'a ConnectionSettings, ServiceError> {
    settings
        .connections
        .iter()
        .find(|c| c.id.as_str() == id)
        .ok_or_else(|| ServiceError::UnknownConnection {
            id: id.to_owned(),
            known: settings
                .connections
                .iter()
                .map(|c| c.id.to_string())
                .collect(),
        })
}
