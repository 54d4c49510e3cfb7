//! The daemon (`entra-sync run`): a scheduler that keeps every connection enabled for this
//! instance in step, replicas that share the connections through the database, reloads,
//! graceful shutdown, housekeeping, health and metrics.
//!
//! - [`pacing`]: backoff and jitter.
//! - [`scheduler`]: one loop per connection, a global limit on concurrent runs, triggers,
//!   reloads and shutdown.

pub mod pacing;
pub mod scheduler;

#[cfg(test)]
mod tests;
