//! The integration tests: one binary, one module per concern.
#![allow(clippy::panic, clippy::unwrap_used)] // failing loudly is what tests are for

mod api;
mod bad_values;
mod browser;
mod cancellation;
mod cli;
mod cli_edges;
mod config_corpus;
#[path = "../fixture/config.rs"]
mod config_fixture;
mod config_secrets;
mod crash;
mod crash_at_scale;
mod credentials;
mod daemon;
mod daemon_faults;
#[path = "../fixture/daemon.rs"]
mod daemon_fixture;
mod db_outage;
mod emulator;
mod fault_matrix;
mod followers;
mod fuzz_corpus;
mod graph_client;
mod graph_endpoints;
mod hostile_headers;
mod initial_read;
mod leases;
mod licences;
mod line_managers;
mod migrate;
mod nested_groups;
mod pages;
mod postgres_tcp;
mod schedule;
mod secret_sweep;
mod secrets;
mod service;
mod sign_in;
mod snapshot;
mod store_story;
mod support;
mod sync_guards;
mod sync_rounds;
mod sync_rules;
mod sync_runs;
mod trusted_ca;
mod watched_store;
mod webhooks;
mod write_back;
