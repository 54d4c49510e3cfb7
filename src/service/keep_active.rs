//! A person's keep-active flag: on their user record and, for an agent, their agent record; the
//! sync then never deactivates or reactivates them. Each change is logged in the inbound log; a
//! flag already so changes nothing and logs nothing. Allowed on any instance: it edits the
//! service desk, not the sync.

use crate::store::{KeepActiveChange, KeepActiveOutcome};

use super::{Service, ServiceError};

/// Set or clear one person's keep-active flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepActiveRequest {
    /// The connection the person belongs to.
    pub connection: String,
    /// The person's login or user principal name (case-insensitive).
    pub upn: String,
    /// The flag's new value.
    pub keep_active: bool,
    /// The inbound-log row's `source` (`cli`, `api`).
    pub source: String,
    /// Who changed it, for the inbound-log message (`the command line`).
    pub by: String,
}

impl Service {
    /// Sets (or clears) a person's keep-active flag; an unknown person is [`ServiceError::NotFound`].
    pub async fn keep_active(
        &self,
        request: &KeepActiveRequest,
    ) -> Result<KeepActiveOutcome, ServiceError> {
        let connection = self.connection(&request.connection)?;
        let message = format!(
            "keep-active {} by {}",
            if request.keep_active {
                "set"
            } else {
                "cleared"
            },
            request.by
        );
        let change = KeepActiveChange {
            connection_id: &connection.id,
            upn: &request.upn,
            keep_active: request.keep_active,
            source: &request.source,
            message: &message,
        };
        Ok(self
            .store
            .set_keep_active(&change, self.clock.now())
            .await?)
    }
}
