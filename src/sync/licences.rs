//! Importing the tenant's licences: Graph's subscribed SKUs become `licences` rows of the
//! connection's `[connection.licences] client`, with their unit counts (enabled, in their grace
//! period, suspended, consumed), their capability status and Microsoft's product name where the
//! shipped table knows the part number. A SKU the tenant no longer lists is marked unsubscribed,
//! never deleted. Full runs, delta runs that saw a licence change, and `licences import` (without
//! a user sync, as Halo's "import manually") all import through [`import`].

use chrono::{DateTime, Utc};

use crate::config::ConnectionSettings;
use crate::graph::product_names::product_name;
use crate::graph::{GraphClient, GraphError};
use crate::store::{Licence, Store, StoreError};

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenceImport {
    /// SKUs the tenant subscribes to, imported.
    pub skus: usize,
    /// Licences marked as no longer subscribed by this import.
    pub unsubscribed: u64,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum LicenceImportError {
    /// Graph could not be read.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports the SKUs of `connection`'s tenant into its licence client; nothing without a client.
pub async fn import(
    graph: &GraphClient,
    store: &dyn Store,
    connection: &ConnectionSettings,
    now: DateTime<Utc>,
) -> Result<LicenceImport, LicenceImportError> {
    let Some(client) = &connection.licences.client else {
        return Ok(LicenceImport {
            skus: 0,
            unsubscribed: 0,
        });
    };
    let mut subscribed = Vec::new();
    for sku in graph.subscribed_skus().await? {
        if sku.sku_id.is_empty() {
            continue;
        }
        let display_name = product_name(&sku.sku_part_number)
            .map(str::to_owned)
            .unwrap_or_else(|| sku.sku_part_number.clone());
        let licence = Licence {
            client: client.clone(),
            connection_id: Some(connection.id.to_string()),
            display_name,
            part_number: sku.sku_part_number,
            sku_id: sku.sku_id,
            enabled_units: sku.prepaid_units.enabled,
            warning_units: sku.prepaid_units.warning,
            suspended_units: sku.prepaid_units.suspended,
            consumed_units: sku.consumed_units,
            capability_status: if sku.capability_status.is_empty() {
                "Enabled".to_owned()
            } else {
                sku.capability_status
            },
            unsubscribed_at: None,
        };
        store.upsert_licence(&licence, now).await?;
        subscribed.push(licence.sku_id);
    }
    let unsubscribed = store
        .mark_unsubscribed(client, connection.id.as_str(), &subscribed, now)
        .await?;
    Ok(LicenceImport {
        skus: subscribed.len(),
        unsubscribed,
    })
}
