//! Forgetting a connection's delta links: `--clear` makes the next run a full initial round;
//! `--latest` stores Graph's `$deltatoken=latest` link for the users chain, so the next run sees
//! only changes from now on (people outside scope stay unseen until they change). Refused for a
//! connection not enabled for this instance.

use crate::graph::{GraphClient, GraphError};
use crate::instance::ensure_enabled;
use crate::store::DeltaState;
use crate::sync::read::{fingerprint, users_select};

use super::{Service, ServiceError};

/// Which delta links to store after forgetting them.
#[derive(Debug, Clone)]
pub struct DeltaResetRequest {
    /// The connection id.
    pub connection: String,
    /// Store the `latest` link for the users chain instead of nothing.
    pub latest: bool,
}

/// What a delta reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaReset {
    /// The links are gone: the next run is a full initial round.
    Cleared {
        /// The connection.
        connection: String,
        /// How many links were forgotten.
        links: u64,
    },
    /// The users chain starts from now.
    Latest {
        /// The connection.
        connection: String,
    },
}

impl Service {
    /// Forgets a connection's delta links, and with `latest` stores the users chain's link for
    /// "from now on".
    pub async fn reset_delta(
        &self,
        request: DeltaResetRequest,
    ) -> Result<DeltaReset, ServiceError> {
        let connection = self.connection(&request.connection)?;
        ensure_enabled(&self.settings, connection, "reset its delta links")?;
        let links = self.store.clear_delta_states(&connection.id).await?;
        if !request.latest {
            return Ok(DeltaReset::Cleared {
                connection: request.connection,
                links,
            });
        }
        let client = self.graph_client(connection)?;
        let select = users_select(connection).join(",");
        let link = latest_users_link(&client, &select).await?;
        let state = DeltaState {
            connection_id: connection.id.clone(),
            chain: "users".to_owned(),
            fingerprint: fingerprint(&["users", &select]),
            delta_link: Some(link),
            next_link: None,
            round_id: None,
            round_initial: false,
        };
        self.store
            .save_delta_state(&state, self.clock.now())
            .await?;
        Ok(DeltaReset::Latest {
            connection: request.connection,
        })
    }
}

/// The users chain's `$deltatoken=latest` link, for the attributes in `select`.
async fn latest_users_link(client: &GraphClient, select: &str) -> Result<String, GraphError> {
    client
        .latest_users_delta_link(select)
        .await?
        .ok_or_else(|| GraphError::InvalidResponse {
            url: "users delta ($deltatoken=latest)".to_owned(),
            message: "Graph returned no deltaLink for $deltatoken=latest".to_owned(),
        })
}
