//! The pure mapping engine of entra-sync (BRIEF §3.1, §3.2, §4.3).
//!
//! No IO, no async, no clock: this crate cannot depend on tokio, reqwest or sqlx, so "mapping is
//! pure" holds at compile time.

pub mod spec;

pub use spec::*;
