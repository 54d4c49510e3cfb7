//! entra-sync keeps a service desk's users and agents in step with Microsoft Entra ID.
//!
//! # Layout
//! - [`cli`], [`app`], [`output`]: the command line (each command a service call), the
//!   composition root (which builds the service and hands it the command), what commands print.
//! - [`service`]: the application layer: every operation as a typed request and result, for the
//!   CLI, the scheduler and the admin API alike (instance check and lease policy included).
//! - [`api`], [`pages`]: the admin API under `/api` and the status page under `/`, both on
//!   `[admin].listen` beside the daemon's health and metrics, both calling the service only.
//! - [`demo`]: `entra-sync demo`, the emulator + SQLite + real syncs end to end.
//! - [`instance`]: which connections this instance may write for (`enabled_for_instances`).
//! - [`config`]: the typed, layered, validated configuration.
//! - [`auth`]: token sources for the four credential types.
//! - [`token_store`]: sealed refresh tokens kept in the store (wired by [`app`]; auth and store
//!   never name each other).
//! - [`graph`]: the Microsoft Graph client: pages, delta rounds, batching, retries, and every
//!   endpoint the daemon calls.
//! - [`mirror`]: merging Entra pages into the per-connection mirror.
//! - [`store`]: every SQL statement; SQLite and PostgreSQL behind one trait.
//! - [`sync`]: one connection, one run: read → mirror → plan → match → apply.
//! - [`tasks`]: background tasks that end with the run that spawned them.
//! - [`clock`]: time as an input.
//! - [`ids`]: identifier newtypes (`ConnectionId`, `EntraId`, `RunId`, `Guid`).
//! - [`vocab`]: the words the sync and the store share (run kind and status, the inbound log's
//!   action, record kind and notification), each with its column text.
//! - [`telemetry`]: log output.
//! - `fuzzing`: what the fuzz targets in `tests/fuzz` run, replayed by the test suite.
//!
//! The mapping engine is the separate, IO-free crate `mapping` (`crates/mapping`); the Graph
//! emulator used by tests and the demo is `crates/graph-emulator`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod ids;
pub mod instance;
pub mod mirror;
pub mod output;
pub mod pages;
pub mod service;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod telemetry;
pub mod token_store;
pub mod vocab;
