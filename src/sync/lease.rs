//! A run's hold on its connection: the connection's lease, claimed before the run writes
//! anything, renewed while it runs, and released when it ends.
//!
//! Two runs of one connection never interleave, whichever processes or replicas start them: the
//! second one waits or is refused (as [`LeaseWait`] says), and the refusal names the holder.
//! Every write of a run goes through a store [fenced](crate::store::Integration::fenced) by the
//! lease, so a run that lost its lease (paused past its expiry while another run took over)
//! writes nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ids::ConnectionId;
use crate::store::lease::{Claim, Lease, LeaseHolder, LeaseInfo, connection_lease};
use crate::store::{Store, StoreError};

/// What a run does when its connection's lease is held by another run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWait {
    /// Give up at once.
    Refuse,
    /// Try again until the lease is free (or has expired), for at most this long.
    Wait(Duration),
}

/// How a run holds its connection's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// How long the lease lasts unless renewed; the holder renews it every third of this.
    pub ttl: Duration,
    /// What to do when another run holds it.
    pub wait: LeaseWait,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            wait: LeaseWait::Refuse,
        }
    }
}

/// Why a run could not take its connection's lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another run holds it.
    #[error(
        "connection {connection:?} is already being synced by {} (pid {}) since {}; its lease \
         expires at {} unless that run renews it",
        .holder.host, .holder.pid, .holder.acquired_at.to_rfc3339(), .holder.expires_at.to_rfc3339()
    )]
    Held {
        /// The connection.
        connection: String,
        /// Who holds its lease.
        holder: LeaseInfo,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A connection's lease, held by one run, renewed in the background until released.
#[derive(Debug)]
pub struct RunLease {
    store: Arc<dyn Store>,
    lease: Lease,
    lost: Arc<AtomicBool>,
    renewal: JoinHandle<()>,
    /// Stops the renewal between two renewals (never during one).
    stop_renewing: CancellationToken,
}

impl RunLease {
    /// Claims `connection`'s lease as `policy` says.
    pub async fn acquire(
        store: &Arc<dyn Store>,
        connection: &ConnectionId,
        policy: &LeasePolicy,
    ) -> Result<Self, LeaseError> {
        let name = connection_lease(connection);
        let holder = this_holder();
        let started = tokio::time::Instant::now();
        // Often enough that a waiting run follows an expiry closely, rarely enough to cost the
        // database nothing.
        let retry_every =
            (policy.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            let claim = match store.acquire_lease(&name, &holder, policy.ttl).await {
                // Released and taken again between the claim's two statements: claim again.
                Err(StoreError::Conflict(_)) => continue,
                other => other?,
            };
            match claim {
                Claim::Acquired(lease) => {
                    info!(
                        connection = %connection,
                        token = lease.token,
                        "The run holds the connection's lease."
                    );
                    return Ok(Self::renewed(store, lease, policy.ttl));
                }
                Claim::Held(info) => {
                    let waited = started.elapsed();
                    match policy.wait {
                        LeaseWait::Wait(limit) if waited < limit => {
                            info!(connection = %connection, holder_host = %info.host, holder_pid = info.pid,
                                "Waiting for the run that holds the connection's lease.");
                            tokio::time::sleep(retry_every.min(limit - waited)).await;
                        }
                        _ => {
                            return Err(LeaseError::Held {
                                connection: connection.to_string(),
                                holder: info,
                            });
                        }
                    }
                }
            }
        }
    }

    fn renewed(store: &Arc<dyn Store>, lease: Lease, ttl: Duration) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let stop_renewing = CancellationToken::new();
        let renewal = tokio::spawn({
            let (store, lease, lost) = (store.clone(), lease.clone(), lost.clone());
            let stop = stop_renewing.clone();
            async move {
                let mut tick = tokio::time::interval(ttl / 3);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    match store.renew_lease(&lease, ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!(lease = %lease.name, "The run lost its lease to another holder; its writes are refused from now on.");
                            lost.store(true, Ordering::Relaxed);
                            return;
                        }
                        // The lease may still expire; the fence then refuses the run's writes.
                        Err(error) => {
                            warn!(lease = %lease.name, %error, "Renewing the run's lease failed; trying again.");
                        }
                    }
                }
            }
        });
        Self {
            store: store.fenced(&lease),
            lease,
            lost,
            renewal,
            stop_renewing,
        }
    }

    /// The store the run writes through: each write transaction checks this lease.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The lease's fencing token.
    pub fn token(&self) -> i64 {
        self.lease.token
    }

    /// Whether a renewal found the lease taken over.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Stops renewing and gives the lease up (unless another holder has it by now). A renewal
    /// under way is waited for: one that landed after the release would hold the lease again.
    pub async fn release(mut self) {
        self.stop_renewing.cancel();
        let _ = (&mut self.renewal).await;
        if let Err(error) = self.store.release_lease(&self.lease).await {
            // It expires by itself.
            warn!(lease = %self.lease.name, %error, "Releasing the run's lease failed; it expires by itself.");
        }
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// This process, as a lease holder: unique per acquisition, and saying where it runs.
fn this_holder() -> LeaseHolder {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let pid = std::process::id();
    LeaseHolder {
        id: format!("{host}:{pid}:{}", uuid::Uuid::new_v4().simple()),
        host,
        pid,
    }
}
