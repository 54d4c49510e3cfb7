//! Why an operation failed, shaped by what its caller decides: the command line maps each
//! variant to an exit code ([`crate::cli::exit_code`]), the admin API to a status.

use crate::config::ConfigError;
use crate::graph::GraphError;
use crate::ids::RunId;
use crate::instance::NotEnabled;
use crate::store::StoreError;
use crate::store::lease::LeaseInfo;
use crate::sync::SyncError;
use crate::sync::evaluate::Targets;
use crate::sync::lease::LeaseError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration cannot be used (every problem is named).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request itself is malformed (a bound out of range).
    #[error("{0}")]
    Invalid(String),
    /// No connection with this id is configured.
    #[error(
        "there is no connection {id:?} in the configuration (known: {})",
        .known.join(", ")
    )]
    UnknownConnection {
        /// The id asked for.
        id: String,
        /// The configured connections' ids.
        known: Vec<String>,
    },
    /// A run of a connection that is no longer configured.
    #[error("run {run_id} belongs to connection {connection:?}, which is not configured")]
    RunOfUnknownConnection {
        /// The run.
        run_id: RunId,
        /// Its connection.
        connection: String,
    },
    /// The request does not fit the state it finds (sign-in for a connection that does not use
    /// it, a run that awaits no approval).
    #[error("{0}")]
    Conflict(String),
    /// A sign-in step failed at the identity platform, or a sealed token would not open.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// What was asked for does not exist (a run, a person), or the caller may not see it.
    #[error("not found: {0}")]
    NotFound(String),
    /// The admin API's caller presented no usable key.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The caller may see this but not change it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request names records the connection does not sync (`[connection.sync].entities`).
    #[error(
        "connection {connection} does not sync {} ([connection.sync].entities)",
        records(*.targets)
    )]
    NotSynced {
        /// The connection.
        connection: String,
        /// The records asked for.
        targets: Targets,
    },
    /// The connection is not enabled for this instance; nothing was written.
    #[error(transparent)]
    NotEnabled(#[from] NotEnabled),
    /// A costly read that is computed one at a time is under way for another caller.
    #[error("{0} is being computed for another request; try again in a few seconds")]
    Overloaded(String),
    /// Another run of the connection holds its lease.
    #[error("{}", busy(.connection, .holder))]
    Busy {
        /// The connection.
        connection: String,
        /// Who holds its lease, and until when (boxed: the other variants are small).
        holder: Box<LeaseInfo>,
    },
    /// A run could not start or finish its bookkeeping (boxed: the other variants are small).
    #[error(transparent)]
    Sync(Box<SyncError>),
    /// Microsoft Graph refused a change the caller asked for: its sentence, verbatim, and what
    /// to do about it.
    #[error("{what}: {graph} ({advice})")]
    Refused {
        /// The change refused.
        what: String,
        /// Graph's message.
        graph: String,
        /// What to do.
        advice: String,
    },
    /// Microsoft Graph (or signing in to it) failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The database failed while doing this.
    #[error("{doing}")]
    Database {
        /// What was being done (`opening the database`).
        doing: &'static str,
        /// Why it failed.
        #[source]
        source: StoreError,
    },
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// A failure told to several callers (everyone who waited for one import preview).
    #[error(transparent)]
    Shared(std::sync::Arc<ServiceError>),
}

impl ServiceError {
    /// The failure itself, seen through any [`ServiceError::Shared`].
    pub fn cause(&self) -> &ServiceError {
        match self {
            ServiceError::Shared(shared) => shared.cause(),
            other => other,
        }
    }

    /// A store failure while doing `doing`.
    pub fn database(doing: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
        move |source| ServiceError::Database { doing, source }
    }
}

impl From<crate::sync::licences::LicenceImportError> for ServiceError {
    fn from(error: crate::sync::licences::LicenceImportError) -> Self {
        match error {
            crate::sync::licences::LicenceImportError::Graph(e) => ServiceError::Graph(e),
            crate::sync::licences::LicenceImportError::Store(e) => ServiceError::from(e),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            other => ServiceError::Store(other),
        }
    }
}

impl From<SyncError> for ServiceError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Lease(LeaseError::Held { connection, holder }) => ServiceError::Busy {
                connection,
                holder: Box::new(holder),
            },
            other => ServiceError::Sync(Box::new(other)),
        }
    }
}

/// The refusal's text is the lease's own.
fn busy(connection: &str, holder: &LeaseInfo) -> String {
    LeaseError::Held {
        connection: connection.to_owned(),
        holder: holder.clone(),
    }
    .to_string()
}

fn records(targets: Targets) -> &'static str {
    match (targets.users, targets.agents) {
        (true, false) => "users",
        (false, true) => "agents",
        _ => "users or agents",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_becomes_busy_naming_the_holder() {
        let at = chrono::DateTime::UNIX_EPOCH;
        let holder = LeaseInfo {
            name: "connection:contoso".into(),
            holder: "h".into(),
            host: "box-1".into(),
            pid: 42,
            token: 3,
            acquired_at: at,
            expires_at: at,
        };
        let error = ServiceError::from(SyncError::Lease(LeaseError::Held {
            connection: "contoso".into(),
            holder: holder.clone(),
        }));
        assert!(
            matches!(&error, ServiceError::Busy { connection, holder: h } if connection == "contoso" && **h == holder),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "connection \"contoso\" is already being synced by box-1 (pid 42) since \
             1970-01-01T00:00:00+00:00; its lease expires at 1970-01-01T00:00:00+00:00 unless \
             that run renews it"
        );
    }

    #[test]
    fn a_missing_row_is_not_found_and_keeps_its_text() {
        let error = ServiceError::from(StoreError::NotFound("run 9".into()));
        assert!(matches!(error, ServiceError::NotFound(_)));
        assert_eq!(error.to_string(), "not found: run 9");
    }

    #[test]
    fn a_selection_outside_the_entities_names_the_records() {
        let error = ServiceError::NotSynced {
            connection: "contoso".into(),
            targets: Targets::AGENTS,
        };
        assert_eq!(
            error.to_string(),
            "connection contoso does not sync agents ([connection.sync].entities)"
        );
    }
}
