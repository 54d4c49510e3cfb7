//! entra-sync keeps a service desk's users and agents in step with Microsoft Entra ID.
//!
//! # Layout
//! - [`cli`], [`app`], [`output`]: the command line, the composition root, what commands print.
//! - [`demo`]: `entra-sync demo`, the emulator + SQLite + real syncs end to end.
//! - [`instance`]: which connections this instance may write for (`enabled_for_instances`).
//! - [`config`]: the typed, layered, validated configuration (BRIEF §3).
//! - [`auth`]: token sources for the four credential types (BRIEF §5.2).
//! - [`graph`]: the Microsoft Graph client: pages, delta rounds, `$batch`, retries (§4.1, §5.1).
//! - [`mirror`]: merging Entra pages into the per-connection mirror (§4.2).
//! - [`store`]: every SQL statement; SQLite and PostgreSQL behind one trait (BRIEF §2).
//! - [`sync`]: one connection, one run: read → mirror → plan → match → apply (§4).
//! - [`tasks`]: background tasks that end with the run that spawned them.
//! - [`clock`]: time as an input.
//! - [`ids`]: identifier newtypes.
//! - [`telemetry`]: log output.
//!
//! The mapping engine is the separate, IO-free crate `mapping` (`crates/mapping`); the Graph
//! emulator used by tests and the demo is `crates/graph-emulator`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod graph;
pub mod ids;
pub mod instance;
pub mod mirror;
pub mod output;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod telemetry;
