//! Checking the configuration against the world: `check` ensures what the configuration
//! declares exists in the database (`[halo]` reference data, the connections) and summarises
//! each connection; `check --online` signs in to each connection, reads one user and names any
//! missing Graph permission.

use mapping::AttributeUse;
use tracing::info;

use crate::clock::Clock;
use crate::config::Settings;
use crate::graph::permissions::{self, Verdict};
use crate::instance::ensure_enabled;
use crate::store::{ConnectionRow, Store};

use super::{GraphClients, GraphUse, Service, ServiceError, find_connection};

/// What `check` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The database backend (`sqlite`, `postgres`).
    pub backend: &'static str,
    /// Reference rows created because the configuration declared them.
    pub created: u64,
    /// This instance (`[instance].name`).
    pub instance: String,
    /// Every connection, in file order.
    pub connections: Vec<ConnectionCheck>,
}

/// One connection as `check` sees it.
#[derive(Debug, Clone)]
pub struct ConnectionCheck {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its tenant.
    pub tenant_id: String,
    /// How many site mappings it has.
    pub site_mappings: usize,
    /// How many field mappings it has.
    pub field_mappings: usize,
    /// Whether it runs on this instance.
    pub enabled_here: bool,
    /// Attributes its mappings use that delta queries do not track.
    pub untracked: Vec<AttributeUse>,
}

impl Service {
    /// Ensures the declared reference data and connections exist, and summarises each
    /// connection.
    pub async fn check(&self) -> Result<CheckReport, ServiceError> {
        let store = self.store.as_ref();
        let created = ensure_declared(&self.settings, store, self.clock.as_ref()).await?;
        info!(
            backend = store.backend(),
            created, "Reference data ensured."
        );
        let connections = self
            .settings
            .connections
            .iter()
            .map(|c| ConnectionCheck {
                id: c.id.to_string(),
                name: c.name.clone(),
                tenant_id: c.tenant_id.to_string(),
                site_mappings: c.mapping_spec.site_mapping.len(),
                field_mappings: c.mapping_spec.field_mapping.len(),
                enabled_here: ensure_enabled(&self.settings, c, "sync").is_ok(),
                untracked: c.mapping.delta_incompatible(),
            })
            .collect();
        Ok(CheckReport {
            backend: store.backend(),
            created,
            instance: self.settings.instance.name.clone(),
            connections,
        })
    }

    /// One verdict per connection (or only `only`).
    pub async fn check_online(&self, only: Option<&str>) -> Result<Vec<Verdict>, ServiceError> {
        online(&self.settings, self.graph.as_ref(), only).await
    }
}

/// `check --online` for `settings`, with clients from `graph`: one verdict per connection (or
/// only `only`). A connection whose client cannot be built gets a verdict saying why.
pub async fn online(
    settings: &Settings,
    graph: &dyn GraphClients,
    only: Option<&str>,
) -> Result<Vec<Verdict>, ServiceError> {
    let chosen = match only {
        Some(id) => vec![find_connection(settings, id)?],
        None => settings.connections.iter().collect(),
    };
    let mut verdicts = Vec::new();
    for connection in chosen {
        let verdict = match graph.client(settings, connection, GraphUse::Probe) {
            Ok(client) => permissions::check_online(&client, connection).await,
            Err(error) => Verdict {
                connection: connection.id.to_string(),
                failure: Some(error.to_string()),
                granted: Vec::new(),
                missing: Vec::new(),
                untracked: Vec::new(),
                optional: Vec::new(),
            },
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Ensures what `settings` declares exists in the database: reference data and connections.
/// Returns how many reference rows it created.
pub async fn ensure_declared(
    settings: &Settings,
    store: &dyn Store,
    clock: &dyn Clock,
) -> Result<u64, ServiceError> {
    let report = store
        .ensure_reference(&settings.halo)
        .await
        .map_err(ServiceError::database("ensuring [halo] reference data"))?;
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
        .map_err(ServiceError::database("recording connections"))?;
    Ok(report.created)
}
