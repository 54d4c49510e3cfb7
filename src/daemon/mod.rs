//! The daemon (`entra-sync run`): a scheduler that keeps every connection enabled for this
//! instance in step, replicas that share the connections through the database, reloads,
//! graceful shutdown, housekeeping, health and metrics.
//!
//! - [`run`]: the daemon itself: start-up, reloads, housekeeping and shutdown.
//! - [`cycles`]: the scheduler's cycles over the application, and their metrics.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics` and `POST /-/reload`.
//! - [`metrics`]: the Prometheus series.
//! - [`pacing`]: backoff and jitter.
//! - [`serve`]: the HTTP listener, with time limits on slow clients.
//! - [`scheduler`]: one loop per connection, a global limit on concurrent runs, triggers,
//!   reloads and shutdown.

pub mod cycles;
pub mod http;
pub mod metrics;
pub mod pacing;
pub mod run;
pub mod scheduler;
pub mod serve;

pub use self::run::{Configs, Daemon, Live, Signals, jobs};

#[cfg(test)]
mod tests;
