//! What an emulator is started with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{SharedClock, SystemClock};

/// Application permissions (`roles`) the demo app of every tenant is granted by default: every
/// permission the daemon can use, mandatory (users and groups) and optional (sign-in activity,
/// licences).
pub const DEFAULT_APP_ROLES: [&str; 6] = [
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "AuditLog.Read.All",
    "Organization.Read.All",
    "LicenseAssignment.ReadWrite.All",
];

/// Another app registered in every tenant, e.g. one without `AuditLog.Read.All`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// A display name, to find its credentials again in [`crate::Running::tenants`].
    pub name: String,
    /// Application permissions granted to it.
    pub roles: Vec<String>,
}

/// Everything an emulator starts from.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Seed of the tenant generator (same seed, same tenants, same ids).
    pub seed: u64,
    /// Users per generated tenant.
    pub users: usize,
    /// Groups per generated tenant (the well-known groups are there unless this is 0, which
    /// generates no groups).
    pub groups: usize,
    /// How many tenants to serve at once.
    pub tenants: usize,
    /// Added before every Graph and token response.
    pub latency: Duration,
    /// Whether the resource-unit throttling model is enforced.
    pub throttle: bool,
    /// Lifetime of access tokens.
    pub token_lifetime: Duration,
    /// A scenario file (JSON) describing tenants instead of the generator's defaults.
    pub scenario: Option<PathBuf>,
    /// Where to listen; `127.0.0.1:0` (a free port) when unset.
    pub listen: Option<SocketAddr>,
    /// The base URL clients reach the emulator at (`http://host:port`, no path), named in every
    /// link, token endpoint and issuer it hands out. Unset: `http://{the bound address}`, which
    /// clients cannot use when the emulator listens on a wildcard address such as `0.0.0.0` in
    /// a container.
    pub public_url: Option<String>,
    /// Where to write each demo app's certificate and private key; kept in memory when unset
    /// (see [`crate::AppCredentials::write_pem_files`]).
    pub data_dir: Option<PathBuf>,
    /// Application permissions of each tenant's demo app.
    pub app_roles: Vec<String>,
    /// More apps registered in every tenant.
    pub extra_apps: Vec<AppSpec>,
    /// The clock; tests pass a [`crate::clock::ManualClock`].
    pub clock: SharedClock,
    /// When true, a refresh token stops working once it has been redeemed. Entra keeps the
    /// old one valid (refresh-tokens.md), so this is off by default; tests that check the
    /// daemon stores the rotated token turn it on.
    pub single_use_refresh_tokens: bool,
    /// Serve HTTPS with a certificate from a local CA generated at start (see [`crate::tls`]);
    /// the CA's PEM is in [`crate::Running::ca_pem`] and, with `data_dir`, in `ca.pem` there.
    pub tls: bool,
    /// How long every app's client secret and certificate work from the emulator's start (what
    /// `GET /applications` reports as their `endDateTime`).
    pub credential_lifetime: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            users: 200,
            groups: 40,
            tenants: 1,
            latency: Duration::ZERO,
            throttle: false,
            token_lifetime: Duration::from_secs(3_599),
            scenario: None,
            listen: None,
            public_url: None,
            data_dir: None,
            app_roles: DEFAULT_APP_ROLES.iter().map(|r| (*r).to_owned()).collect(),
            extra_apps: Vec::new(),
            clock: Arc::new(SystemClock),
            single_use_refresh_tokens: false,
            tls: false,
            credential_lifetime: Duration::from_secs(730 * 86_400),
        }
    }
}
