//! Who may use the admin API, and what for.
//!
//! - **Keys.** A key is `esk_` and 43 characters of URL-safe base64 (32 random bytes). The
//!   database keeps only its SHA-256 digest and its first 12 characters (for listings); the key
//!   is shown once, when it is created. A key may expire, and may be revoked.
//! - **Callers.** An admin key, or a key of an agent with `can_configure_entra`, may do
//!   everything with every connection, and manage the access list. Any other agent reaches only
//!   the connections granted to it: `read` (status, runs, the inbound log, the import preview,
//!   the online check) or `read_modify` (also sync, delta reset, approval, authorisation,
//!   keep-active). A connection a caller cannot reach is answered as if it did not exist.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Service, ServiceError};
use crate::ids::ConnectionId;
use crate::store::{AccessGrant, ApiKeyRow, NewApiKey};
use crate::vocab::AccessLevel;

/// What every key starts with, so a leaked one is recognisable.
const KEY_PREFIX: &str = "esk_";
/// How much of a key listings show.
const SHOWN: usize = 12;

/// Who is calling, once their key is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An admin key: everything.
    Admin {
        /// The key's id.
        key_id: i64,
    },
    /// An agent's key.
    Agent {
        /// The key's id.
        key_id: i64,
        /// The agent.
        agent_id: i64,
        /// It has `can_configure_entra`: everything, like an admin key.
        can_configure: bool,
        /// Its grants.
        grants: Vec<(ConnectionId, AccessLevel)>,
    },
}

impl Caller {
    /// What the caller may do with `connection`; `None` when it may not see it.
    pub fn level(&self, connection: &ConnectionId) -> Option<AccessLevel> {
        match self {
            Caller::Admin { .. }
            | Caller::Agent {
                can_configure: true,
                ..
            } => Some(AccessLevel::ReadModify),
            Caller::Agent { grants, .. } => grants
                .iter()
                .find(|(c, _)| c == connection)
                .map(|(_, level)| *level),
        }
    }

    /// The caller manages every connection and the access list.
    pub fn configures(&self) -> bool {
        matches!(
            self,
            Caller::Admin { .. }
                | Caller::Agent {
                    can_configure: true,
                    ..
                }
        )
    }

    /// The caller's agent (none for an admin key).
    pub fn agent(&self) -> Option<i64> {
        match self {
            Caller::Admin { .. } => None,
            Caller::Agent { agent_id, .. } => Some(*agent_id),
        }
    }

    /// The key the caller presented.
    pub fn key_id(&self) -> i64 {
        match self {
            Caller::Admin { key_id } | Caller::Agent { key_id, .. } => *key_id,
        }
    }

    /// Who the caller is, for the records an operation writes (`api key 7`).
    pub fn name(&self) -> String {
        match self {
            Caller::Admin { key_id } | Caller::Agent { key_id, .. } => format!("api key {key_id}"),
        }
    }

    /// The connection `id`, if the caller may reach it at `needed`: one it cannot see is not
    /// found, one it may only read is forbidden to change.
    pub fn reach(&self, id: &str, needed: AccessLevel) -> Result<ConnectionId, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("connection {id:?}"));
        let connection = ConnectionId::parse(id).map_err(|_| not_found())?;
        match self.level(&connection) {
            None => Err(not_found()),
            Some(level) if level < needed => Err(ServiceError::Forbidden(format!(
                "this key may only read connection {id:?}"
            ))),
            Some(_) => Ok(connection),
        }
    }
}

/// `keys create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    /// The agent the key acts as (by email); `None` with `admin`.
    pub agent: Option<String>,
    /// An admin key.
    pub admin: bool,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time the key itself exists outside the caller's hands.
#[derive(Debug)]
pub struct CreatedKey {
    /// Its id.
    pub id: i64,
    /// The key.
    pub key: SecretString,
}

/// The digest the database keeps of a key.
fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Service {
    /// Creates a key (for an agent, by email, or an admin key) and returns it.
    pub async fn create_key(&self, request: &KeyRequest) -> Result<CreatedKey, ServiceError> {
        let agent_id = match (&request.agent, request.admin) {
            (Some(email), _) => Some(self.agent_id(email).await?),
            (None, true) => None,
            (None, false) => {
                return Err(ServiceError::Invalid(
                    "a key needs an agent (--agent EMAIL) unless it is an admin key (--admin)"
                        .to_owned(),
                ));
            }
        };
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let new = NewApiKey {
            agent_id,
            is_admin: request.admin,
            prefix: key[..SHOWN].to_owned(),
            digest: digest(&key),
            expires_at: request.expires_at,
        };
        let id = self
            .store
            .create_api_key(&new, self.clock.now())
            .await
            .map_err(ServiceError::database("recording the key"))?;
        Ok(CreatedKey {
            id,
            key: SecretString::from(key),
        })
    }

    /// When a key given `--expires WHEN` stops working: an RFC 3339 time, or a duration
    /// (`90d`) from now.
    pub fn resolve_expiry(&self, when: &str) -> Result<DateTime<Utc>, ServiceError> {
        let invalid = |e: String| ServiceError::Invalid(format!("--expires: {e}"));
        match super::Since::parse(when).map_err(invalid)? {
            super::Since::At(at) => Ok(at),
            super::Since::Ago(ahead) => {
                let ahead =
                    chrono::Duration::from_std(ahead).map_err(|e| invalid(e.to_string()))?;
                self.clock
                    .now()
                    .checked_add_signed(ahead)
                    .ok_or_else(|| invalid(format!("{when} from now is past the calendar")))
            }
        }
    }

    /// Every key, newest first.
    pub async fn keys(&self) -> Result<Vec<ApiKeyRow>, ServiceError> {
        Ok(self.store.api_keys().await?)
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, id: i64) -> Result<(), ServiceError> {
        if self.store.revoke_api_key(id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "key {id} (or it is revoked already)"
            )))
        }
    }

    /// The caller presenting `key`, or why it may not call.
    pub async fn authenticate(&self, key: &SecretString) -> Result<Caller, ServiceError> {
        let key = key.expose_secret();
        let refused = |why: &str| Err(ServiceError::Unauthenticated(why.to_owned()));
        if !key.starts_with(KEY_PREFIX) || key.len() != KEY_PREFIX.len() + 43 {
            return refused("the key is not an entra-sync API key");
        }
        let now = self.clock.now();
        let Some(row) = self.store.use_api_key(&digest(key), now).await? else {
            return refused("no such key");
        };
        self.caller_of(row).await
    }

    /// The caller the key `id` makes, if it may still call.
    pub(super) async fn caller_of_key(&self, id: i64) -> Result<Caller, ServiceError> {
        let row = self
            .store
            .api_keys()
            .await?
            .into_iter()
            .find(|k| k.id == id);
        match row {
            Some(row) => self.caller_of(row).await,
            None => Err(ServiceError::Unauthenticated("no such key".to_owned())),
        }
    }

    async fn caller_of(&self, row: ApiKeyRow) -> Result<Caller, ServiceError> {
        let refused = |why: &str| Err(ServiceError::Unauthenticated(why.to_owned()));
        if row.revoked_at.is_some() {
            return refused("the key is revoked");
        }
        if row.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return refused("the key has expired");
        }
        match row.agent_id {
            Some(agent_id) if !row.is_admin => {
                let access = self.store.agent_access(agent_id).await?;
                Ok(Caller::Agent {
                    key_id: row.id,
                    agent_id,
                    can_configure: access.can_configure,
                    grants: access.grants,
                })
            }
            _ => Ok(Caller::Admin { key_id: row.id }),
        }
    }

    /// Sets or clears an agent's permission to configure every connection.
    pub async fn set_can_configure(&self, email: &str, on: bool) -> Result<(), ServiceError> {
        let agent = self.agent_id(email).await?;
        Ok(self.store.set_can_configure(agent, on).await?)
    }

    /// Grants an agent (by email) access to a configured connection.
    pub async fn grant_access(
        &self,
        connection: &str,
        email: &str,
        level: AccessLevel,
    ) -> Result<(), ServiceError> {
        let connection = self.connection(connection)?.id.clone();
        let agent = self.agent_id(email).await?;
        Ok(self.store.grant_access(&connection, agent, level).await?)
    }

    /// Removes an agent's access to a connection.
    pub async fn revoke_access(&self, connection: &str, email: &str) -> Result<(), ServiceError> {
        let connection = self.connection(connection)?.id.clone();
        let agent = self.agent_id(email).await?;
        if self.store.revoke_access(&connection, agent).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "access of {email} to connection {connection}"
            )))
        }
    }

    /// The grants on a configured connection.
    pub async fn access_list(&self, connection: &str) -> Result<Vec<AccessGrant>, ServiceError> {
        let connection = self.connection(connection)?.id.clone();
        Ok(self.store.access_list(&connection).await?)
    }

    async fn agent_id(&self, email: &str) -> Result<i64, ServiceError> {
        match self.store.agent_by_email(email).await? {
            Some((id, _)) => Ok(id),
            None => Err(ServiceError::NotFound(format!(
                "an agent with email {email:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(grants: &[(&str, AccessLevel)]) -> Caller {
        Caller::Agent {
            key_id: 1,
            agent_id: 2,
            can_configure: false,
            grants: grants
                .iter()
                .map(|(c, l)| (ConnectionId::parse(c).unwrap(), *l))
                .collect(),
        }
    }

    #[test]
    fn an_agent_reaches_only_its_grants_and_changes_only_what_it_may_modify() {
        let caller = agent(&[("a", AccessLevel::Read), ("b", AccessLevel::ReadModify)]);
        assert!(caller.reach("a", AccessLevel::Read).is_ok());
        assert!(matches!(
            caller.reach("a", AccessLevel::ReadModify),
            Err(ServiceError::Forbidden(_))
        ));
        assert_eq!(
            caller.reach("b", AccessLevel::ReadModify).unwrap().as_str(),
            "b"
        );
        assert!(matches!(
            caller.reach("c", AccessLevel::Read),
            Err(ServiceError::NotFound(_))
        ));
        assert!(!caller.configures());
    }

    #[test]
    fn an_admin_key_and_a_configuring_agent_reach_everything() {
        let configuring = Caller::Agent {
            key_id: 1,
            agent_id: 2,
            can_configure: true,
            grants: Vec::new(),
        };
        for caller in [Caller::Admin { key_id: 1 }, configuring] {
            assert_eq!(
                caller.level(&ConnectionId::parse("x").unwrap()),
                Some(AccessLevel::ReadModify)
            );
            assert!(caller.configures());
        }
    }

    #[test]
    fn the_digest_of_a_digest_is_not_the_digest() {
        let key = "esk_0123456789012345678901234567890123456789012";
        assert_ne!(digest(&digest(key)), digest(key));
        assert_eq!(digest(key).len(), 64);
    }
}
