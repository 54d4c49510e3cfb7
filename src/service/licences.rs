//! Licences outside a run: importing them now (Halo's "import manually", without a user sync),
//! and listing what was imported.

use super::{Service, ServiceError};
use crate::instance::ensure_enabled;
use crate::store::Licence;
use crate::sync::licences::{self, LicenceImport};

impl Service {
    /// Imports the connection's licences now, without a user sync: SKUs and their counts, and
    /// the marks of SKUs no longer subscribed. Users' links follow at their next sync.
    pub async fn import_licences(&self, connection: &str) -> Result<LicenceImport, ServiceError> {
        let connection = self.connection(connection)?;
        ensure_enabled(&self.settings, connection, "licences import")?;
        if !connection.licences.import || connection.licences.client.is_none() {
            return Err(ServiceError::Conflict(format!(
                "connection {} does not import licences (set [connection.licences] import = true and client)",
                connection.id
            )));
        }
        self.declare().await?;
        let graph = self.graph_client(connection)?;
        Ok(licences::import(&graph, self.store.as_ref(), connection, self.clock.now()).await?)
    }

    /// The licences the connection imported, by SKU id (unsubscribed ones included, marked).
    pub async fn licences(&self, connection: &str) -> Result<Vec<Licence>, ServiceError> {
        let connection = self.connection(connection)?;
        Ok(self.store.licences(connection.id.as_str()).await?)
    }
}
