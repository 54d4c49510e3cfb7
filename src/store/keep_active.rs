//! An operator's keep-active change: what is asked ([`KeepActiveChange`]) and what was found and
//! done ([`KeepActiveOutcome`]), for [`Integration::set_keep_active`].

#[cfg(doc)]
use super::Integration;
use super::run_log::InboundRow;
use crate::ids::ConnectionId;

/// An operator's change of a person's keep-active flag ([`Integration::set_keep_active`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepActiveChange<'a> {
    /// The connection the person belongs to.
    pub connection_id: &'a ConnectionId,
    /// The person's login or UPN (case-insensitive).
    pub upn: &'a str,
    /// The flag's new value.
    pub keep_active: bool,
    /// The inbound-log row's `source` (`cli`).
    pub source: &'a str,
    /// The inbound-log row's message.
    pub message: &'a str,
}

/// What [`Integration::set_keep_active`] found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepActiveOutcome {
    /// The user record.
    pub user_id: i64,
    /// The linked agent record, if the person is an agent.
    pub agent_id: Option<i64>,
    /// The inbound-log row written, or `None` when every flag already had the value.
    pub logged: Option<InboundRow>,
}
