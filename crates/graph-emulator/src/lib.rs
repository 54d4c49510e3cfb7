//! Graph emulator: the parts of Microsoft Graph v1.0 and the Microsoft identity platform that
//! entra-sync uses, served on loopback for tests, the demo and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use graph_emulator::{EmulatorConfig, GraphEmulator};
//! let running = GraphEmulator::start(EmulatorConfig { users: 500, ..Default::default() }).await?;
//! let app = running.demo_app(0).expect("one tenant");
//! // POST {authority_url}/{tenant_id}/oauth2/v2.0/token with app.client_id / app.client_secret,
//! // then GET {graph_url}/users/delta with the bearer token.
//! let ada = running.control.create_user(app.tenant_id, serde_json::json!({
//!     "userPrincipalName": "ada@contoso.com", "displayName": "Ada Lovelace" }))?;
//! let counters = running.control.counters();
//! # let _ = (ada, counters); Ok(()) }
//! ```
//!
//! # Layout
//! - [`clock`] — the only wall-clock read; tests use [`clock::ManualClock`].
//! - [`config`] — [`EmulatorConfig`]; [`scenario`] — JSON scenario files.
//! - [`generator`] — deterministic tenants (names, guests, managers, groups, SKUs).
//! - [`directory`] — one tenant's users, groups, contacts and SKUs with per-property change
//!   versions: delta rounds are "changes since version N".
//! - [`auth`] — identity platform: token and authorize endpoints, client assertions, AADSTS
//!   errors, issued tokens, app registrations and their keys.
//! - [`graph`] — Graph routes behind one pipeline (auth, faults, throttling, headers,
//!   counters): users, groups, delta, `$batch`, licences; `$filter` parsing; error bodies.
//! - [`throttle`] — the resource-unit model; [`faults`] — scripted failures;
//!   [`counters`] — requests by endpoint and status.
//! - [`control`] — [`Control`], in process and over HTTP under `/_emulator/`.
//! - [`server`] — [`GraphEmulator::start`] and [`Running`]; [`cli`] — flags and [`run`];
//!   [`tls`] — the optional HTTPS mode with a local CA.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod counters;
pub mod directory;
pub mod faults;
pub mod generator;
pub mod graph;
pub mod scenario;
pub mod server;
mod state;
pub mod throttle;
pub mod tls;

pub use auth::apps::AppCredentials;
pub use cli::{EmulatorArgs, Output, run};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AppSpec, DEFAULT_APP_ROLES, EmulatorConfig};
pub use control::{Control, ControlError, TenantSummary};
pub use counters::Counters;
pub use directory::GroupKind;
pub use faults::{FaultKind, FaultRule, Trigger};
pub use generator::well_known;
pub use server::{GraphEmulator, Running, StartError};
