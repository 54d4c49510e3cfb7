//! Reading Entra: the users chain and the groups chains, each a delta round
//! that starts fresh, resumes from its checkpoint, or continues from the stored delta link.
//!
//! This file owns what the chains share: their errors and reports, where a round starts
//! ([`RoundStart`]), the chains' fingerprints, and the mirror's stored people by id.
//!
//! - `users`: the users chain, merged page by page into the mirror.
//! - `groups`: the configured groups resolved, and their chains (nested levels, group by group).
//! - `untracked`: the attributes delta cannot track, read beside the users chain.

mod groups;
mod untracked;
mod users;

use std::collections::BTreeMap;

use aws_lc_rs::digest;

use super::sink::Sink;
use crate::graph::{GraphClient, GraphError};
use crate::ids::EntraId;
use crate::mirror::MirrorUser;
use crate::store::{DeltaState, StoreError};

pub use self::groups::{read_groups, resolve_groups};
pub use self::untracked::read_untracked;
pub use self::users::{read_users, users_select};

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a chain's round went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Pages read.
    pub pages: u64,
    /// Objects read.
    pub objects: u64,
    /// The round was an initial (full) one.
    pub initial: bool,
    /// Why it started over, when it did (fingerprint change, expired token, …).
    pub restarted: Vec<String>,
    /// Somebody's `assignedLicenses` changed (users chain only).
    pub licences_changed: bool,
    /// People whose attributes held text no database can store (NUL characters), mirrored
    /// without it (users chain only).
    pub cleaned: Vec<Cleaned>,
}

/// A person some of whose attributes held NUL characters, mirrored with them removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The person's Entra id.
    pub entra_id: String,
    /// Their user principal name, when known.
    pub upn: Option<String>,
    /// The attributes that were cleaned.
    pub attributes: Vec<String>,
}

/// Where a chain's round starts: a fresh initial round when the chain is new, its
/// fingerprint changed or a full run is asked for; the checkpoint of an unfinished round; else the
/// stored delta link. Never a jump to "latest".
struct RoundStart<'a> {
    config_fingerprint: &'a str,
    initial_url: &'a url::Url,
    run_id: i64,
    full: bool,
    delta: bool,
}

impl RoundStart<'_> {
    /// `(url, round id, initial)`.
    fn decide(
        &self,
        graph: &GraphClient,
        stored: Option<&DeltaState>,
        changed: &str,
        report: &mut ChainReport,
    ) -> Result<(url::Url, i64, bool), GraphError> {
        let fresh = (self.initial_url.clone(), self.run_id, true);
        Ok(match stored {
            Some(s) if s.fingerprint != self.config_fingerprint => {
                report.restarted.push(changed.to_owned());
                fresh
            }
            Some(DeltaState {
                next_link: Some(next),
                round_id,
                round_initial,
                ..
            }) if *round_initial || !self.full => (
                graph.link(next)?,
                round_id.unwrap_or(self.run_id),
                *round_initial,
            ),
            Some(DeltaState {
                delta_link: Some(link),
                ..
            }) if !self.full && self.delta => (graph.link(link)?, self.run_id, false),
            _ => fresh,
        })
    }
}

/// A short stable hash of what a chain was created with.
pub fn fingerprint(parts: &[&str]) -> String {
    let digest = digest::digest(&digest::SHA256, parts.join("\n").as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

/// The mirror's stored versions of `ids`, by Entra id.
async fn stored_by_id(
    sink: &dyn Sink,
    ids: &[EntraId],
) -> Result<BTreeMap<String, MirrorUser>, StoreError> {
    Ok(sink
        .stored(ids)
        .await?
        .into_iter()
        .map(|u| (u.entra_id.clone(), u))
        .collect())
}
