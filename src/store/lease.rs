//! Leases: one holder at a time per name (`connection:<id>` for a connection's runs), shared by
//! every process and replica that uses the database, with a fencing token.
//!
//! A lease is claimed when it is free or its expiry has passed, renewed by its holder, and
//! released by setting its expiry to the past. Expiry is computed with the database's clock,
//! the one clock every replica shares. Each acquisition increments the lease's `token`; a store
//! [fenced](crate::store::Integration::fenced) by a lease checks, inside every write
//! transaction, that the lease row still names its holder and token, so a holder that lost its
//! lease (paused past its expiry while another took over) writes nothing more.

use chrono::{DateTime, Utc};

use crate::ids::ConnectionId;

/// The name of the lease a connection's runs hold.
pub fn connection_lease(connection_id: &ConnectionId) -> String {
    format!("connection:{connection_id}")
}

/// Who claims a lease: one acquisition by one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Unique per acquisition (two runs in one process are two holders).
    pub id: String,
    /// The host the holder runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
}

/// A lease this holder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// The holder's id.
    pub holder: String,
    /// The fencing token of this acquisition.
    pub token: i64,
}

/// A lease as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The lease's name.
    pub name: String,
    /// The holder's id.
    pub holder: String,
    /// The host the holder runs on.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// The fencing token of the current acquisition.
    pub token: i64,
    /// When the holder acquired it.
    pub acquired_at: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours.
    Acquired(Lease),
    /// Somebody else holds it, and it has not expired.
    Held(LeaseInfo),
}
