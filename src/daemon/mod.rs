//! The daemon (`entra-sync run`): a scheduler that keeps every connection enabled for this
//! instance in step, replicas that share the connections through the database, reloads,
//! graceful shutdown, housekeeping, health and metrics.
//!
//! - [`cadence`]: when a cycle is due and what kind it is, from the database's history of runs.
//! - [`scheduler`]: one loop per connection, a global limit on concurrent runs, triggers,
//!   reloads and shutdown.

pub mod cadence;
pub mod scheduler;

#[cfg(test)]
mod tests;
