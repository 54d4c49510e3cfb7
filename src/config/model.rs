//! The configuration file's typed tree. `config/example.toml` documents every key; the docs here
//! say the same in fewer words. Defaults live in the `Default` impls and `#[serde(default)]`s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mapping::{
    AgentLicencesSpec, CabMappingSpec, DropDefaultFieldsSpec, EmptyValues, FieldMappingSpec,
    ReferenceSpec, RolesSpec, SiteMappingSpec, TeamMappingSpec, TeamOptionsSpec,
};
use serde::Deserialize;
use url::Url;

use super::secret::SecretSource;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[database]`.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[instance]`.
    #[serde(default)]
    pub instance: InstanceConfig,
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// `[admin]`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[halo]`: reference data mappings point at, ensured at start-up.
    #[serde(default)]
    pub halo: ReferenceSpec,
    /// `[[connection]]`: one per Entra tenant.
    #[serde(default)]
    pub connection: Vec<ConnectionConfig>,
    /// `[inbound_log]`.
    #[serde(default)]
    pub inbound_log: InboundLogConfig,
    /// `[notifications]`.
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// `[followers]`: distribution groups as ticket followers, across connections.
    #[serde(default)]
    pub followers: GlobalFollowersConfig,
    /// `[secrets]`: where `{ file = "…" }` secrets may be read from.
    #[serde(default)]
    pub secrets: SecretsConfig,
}

/// `[secrets]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Directories secret files may be read from besides the standard ones (the config file's
    /// directory, `/run/secrets`, `/var/run/secrets`, `/etc/entra-sync`, `$CREDENTIALS_DIRECTORY`). A `file =` path
    /// outside all of them, after `..` and symbolic links are resolved, is refused.
    #[serde(default)]
    pub allowed_dirs: Vec<PathBuf>,
}

/// `[database]`. Its `Debug` hides a password in the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` (embedded default; created on first use) or `postgres://user@host/db`.
    #[serde(default = "default_database_url")]
    pub url: String,
    /// Pool size (PostgreSQL; SQLite keeps one writer).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &super::validate::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

fn default_database_url() -> String {
    "sqlite://entra-sync.db".to_owned()
}

fn default_max_connections() -> u32 {
    8
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_database_url(),
            max_connections: default_max_connections(),
        }
    }
}

/// `[instance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// This daemon's instance name; a connection runs only where `enabled_for_instances` has it.
    #[serde(default = "default_instance")]
    pub name: String,
}

fn default_instance() -> String {
    "production".to_owned()
}

impl Default for InstanceConfig {
    fn default() -> Self {
        Self {
            name: default_instance(),
        }
    }
}

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// How many connections may sync at the same time.
    #[serde(default = "default_parallel")]
    pub max_parallel_connections: usize,
    /// How long a shutdown waits for running syncs to reach a checkpoint.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long a run's hold on its connection (its lease) lasts unless renewed; the run renews
    /// it every third of this. A run whose process died is taken over once this has passed.
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Base64 of 32 random bytes sealing delegated refresh tokens in the database (AES-256-GCM).
    /// Required when a connection uses `auth.method = "delegated"`.
    #[serde(default)]
    pub token_encryption_key: Option<SecretSource>,
}

fn default_parallel() -> usize {
    4
}

fn default_grace() -> Duration {
    Duration::from_secs(30)
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(60)
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            max_parallel_connections: default_parallel(),
            shutdown_grace: default_grace(),
            lease_ttl: default_lease_ttl(),
            token_encryption_key: None,
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin HTTP API and status page.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Public base URL; the delegated sign-in callback is `{public_url}/authcallback`.
    #[serde(default)]
    pub public_url: Option<Url>,
    /// A connection that has not sent a whole request head within this is closed (a client
    /// trickling its headers holds nothing for long).
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub request_header_timeout: Duration,
    /// A request whose body has not arrived within this is answered 408 and closed.
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    pub request_body_timeout: Duration,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            request_header_timeout: default_header_timeout(),
            request_body_timeout: default_body_timeout(),
        }
    }
}

/// `[inbound_log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundLogConfig {
    /// Rows older than this are pruned.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub retention: Duration,
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

impl Default for InboundLogConfig {
    fn default() -> Self {
        Self {
            retention: default_retention(),
        }
    }
}

/// `[notifications]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Receives a JSON POST when a run fails, is quarantined, a connection needs
    /// re-authorisation, or a credential is about to expire.
    #[serde(default)]
    pub webhook_url: Option<Url>,
    /// Keys the `X-Entra-Sync-Signature` HMAC of each POST, so the receiver can verify it:
    /// `{ env = "NAME" }`, `{ file = "path" }`, or (demos only) inline.
    #[serde(default)]
    pub webhook_secret: Option<SecretSource>,
    /// How many days before a connection's secret or certificate expires the daemon warns.
    #[serde(default = "default_credential_warning_days")]
    pub credential_warning_days: u32,
}

fn default_credential_warning_days() -> u32 {
    30
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret: None,
            credential_warning_days: default_credential_warning_days(),
        }
    }
}

/// One `[[connection]]`: an Entra tenant and how its people map to the service desk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Stable lowercase key used in logs, the API and the database.
    pub id: String,
    /// Display name (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Directory (tenant) id, a GUID.
    pub tenant_id: String,
    /// Application (client) id of the app registration, a GUID.
    pub client_id: String,
    /// Instances that run this connection.
    #[serde(default = "default_instances")]
    pub enabled_for_instances: Vec<String>,
    /// Identity platform base URL.
    #[serde(default = "default_authority")]
    pub authority_url: Url,
    /// Microsoft Graph base URL (with the version segment).
    #[serde(default = "default_graph")]
    pub graph_url: Url,
    /// A PEM file of certificate authorities trusted, besides the system's, for this
    /// connection's authority and Graph requests (a TLS-inspecting proxy, the emulator's
    /// `--tls` CA). Relative to the config file's directory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How the daemon authenticates.
    pub auth: AuthConfig,
    /// `[connection.sync]`.
    #[serde(default)]
    pub sync: SyncConfig,
    /// `[[connection.field_mapping]]`.
    #[serde(default)]
    pub field_mapping: Vec<FieldMappingSpec>,
    /// `[connection.drop_default_fields]`: default field mappings this connection does without.
    #[serde(default)]
    pub drop_default_fields: DropDefaultFieldsSpec,
    /// `[[connection.site_mapping]]`.
    #[serde(default)]
    pub site_mapping: Vec<SiteMappingSpec>,
    /// `[connection.roles]`.
    #[serde(default)]
    pub roles: RolesSpec,
    /// `[[connection.teams]]`.
    #[serde(default)]
    pub teams: Vec<TeamMappingSpec>,
    /// `[connection.team_options]`.
    #[serde(default)]
    pub team_options: TeamOptionsSpec,
    /// `[[connection.cabs]]`.
    #[serde(default)]
    pub cabs: Vec<CabMappingSpec>,
    /// `[connection.agent_licences]`.
    #[serde(default)]
    pub agent_licences: AgentLicencesSpec,
    /// `[connection.licences]`.
    #[serde(default)]
    pub licences: LicencesConfig,
    /// `[connection.followers]`.
    #[serde(default)]
    pub followers: FollowersConfig,
}

fn default_instances() -> Vec<String> {
    vec![default_instance()]
}

fn default_authority() -> Url {
    Url::parse("https://login.microsoftonline.com").expect("a valid literal URL")
}

fn default_graph() -> Url {
    Url::parse("https://graph.microsoft.com/v1.0").expect("a valid literal URL")
}

/// `auth = { method = "…", … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// Client-credentials grant with a client secret.
    ClientSecret {
        /// The secret's *Value* (not its ID).
        secret: SecretSource,
        /// When this credential expires (`"YYYY-MM-DD"`), for the expiry warning when the app may
        /// not read its own registration (`Application.Read.All`).
        #[serde(default)]
        expires: Option<chrono::NaiveDate>,
    },
    /// Client-credentials grant with a certificate-signed assertion.
    Certificate {
        /// PEM certificate registered on the app.
        certificate: SecretSource,
        /// PEM private key of the certificate.
        private_key: SecretSource,
        /// Assertion signature: `ps256` (current guidance, `x5t#S256`) or `rs256` (`x5t`).
        #[serde(default)]
        algorithm: AssertionAlgorithm,
        /// When this credential expires (`"YYYY-MM-DD"`), for the expiry warning when the app may
        /// not read its own registration (`Application.Read.All`).
        #[serde(default)]
        expires: Option<chrono::NaiveDate>,
    },
    /// Authorization-code flow; the refresh token comes from the admin sign-in flow and is stored
    /// encrypted under `daemon.token_encryption_key`.
    Delegated {
        /// Client secret, when the app registration is a confidential (web) client.
        #[serde(default)]
        secret: Option<SecretSource>,
        /// When this credential expires (`"YYYY-MM-DD"`), for the expiry warning when the app may
        /// not read its own registration (`Application.Read.All`).
        #[serde(default)]
        expires: Option<chrono::NaiveDate>,
    },
    /// Workload identity: the client assertion is the JWT read afresh from `token_file`.
    Federated {
        /// File the platform projects the assertion into.
        token_file: PathBuf,
    },
}

impl AuthConfig {
    /// `expires`, where the method has it.
    pub fn expires(&self) -> Option<chrono::NaiveDate> {
        match self {
            AuthConfig::ClientSecret { expires, .. }
            | AuthConfig::Certificate { expires, .. }
            | AuthConfig::Delegated { expires, .. } => *expires,
            AuthConfig::Federated { .. } => None,
        }
    }
}

/// Signature algorithm of a certificate client assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, header `x5t#S256`.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, header `x5t` (SHA-1 thumbprint).
    Rs256,
}

/// Which entities the scheduler syncs for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// End users.
    Users,
    /// Agents.
    Agents,
    /// Licences (SKUs and assignments).
    Licences,
}

/// `delta_method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaMethod {
    /// Select the whole attribute catalogue so any change is seen.
    #[default]
    AllChanges,
    /// Select only the attributes the config uses (fewer notifications).
    MappedFields,
}

/// `[connection.sync]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// What every run reads and writes. Unset: users and agents, and licences when
    /// `[connection.licences] import = true` (validation fills it in; read it with
    /// [`SyncConfig::entities`]).
    #[serde(default)]
    pub entities: Option<Vec<Entity>>,
    /// Delta cycle (a full cycle when `delta = false`).
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Full reconciliation even with delta on.
    #[serde(default = "default_full_interval", with = "humantime_serde")]
    pub full_interval: Duration,
    /// Use delta queries.
    #[serde(default = "yes")]
    pub delta: bool,
    /// `all_changes` or `mapped_fields`.
    #[serde(default)]
    pub delta_method: DeltaMethod,
    /// Fallback matching after the Entra object id, in order.
    #[serde(default = "default_matching_fields")]
    pub matching_fields: Vec<String>,
    /// Make people who left scope inactive.
    #[serde(default = "yes")]
    pub deactivate_missing_users: bool,
    /// `accountEnabled = false` makes users inactive (agents always).
    #[serde(default = "yes")]
    pub deactivate_disabled_users: bool,
    /// Unassign open tickets of agents the sync makes inactive.
    #[serde(default = "yes")]
    pub reassign_tickets_of_inactive_agents: bool,
    /// The deactivation guard.
    #[serde(default)]
    pub max_deactivations: MaxDeactivations,
    /// Group filters and mappings use transitive membership.
    #[serde(default)]
    pub nested_groups: bool,
    /// What an empty Entra value does to a mapped field: `clear` or `keep`.
    #[serde(default)]
    pub empty_values: EmptyValues,
}

fn yes() -> bool {
    true
}

impl SyncConfig {
    /// What every run reads and writes.
    pub fn entities(&self) -> &[Entity] {
        self.entities
            .as_deref()
            .unwrap_or(&[Entity::Users, Entity::Agents])
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(120)
}

fn default_full_interval() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_matching_fields() -> Vec<String> {
    vec!["email".to_owned(), "upn".to_owned()]
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            entities: None,
            interval: default_interval(),
            full_interval: default_full_interval(),
            delta: true,
            delta_method: DeltaMethod::default(),
            matching_fields: default_matching_fields(),
            deactivate_missing_users: true,
            deactivate_disabled_users: true,
            reassign_tickets_of_inactive_agents: true,
            max_deactivations: MaxDeactivations::default(),
            nested_groups: false,
            empty_values: EmptyValues::default(),
        }
    }
}

/// `max_deactivations = { count = 50, percent = 10 }`: a run that would deactivate more than
/// either limit is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxDeactivations {
    /// Absolute limit per run.
    #[serde(default = "default_max_count")]
    pub count: u32,
    /// Limit as a percentage of the connection's imported people.
    #[serde(default = "default_max_percent")]
    pub percent: u32,
}

fn default_max_count() -> u32 {
    50
}

fn default_max_percent() -> u32 {
    10
}

impl Default for MaxDeactivations {
    fn default() -> Self {
        Self {
            count: default_max_count(),
            percent: default_max_percent(),
        }
    }
}

/// `[connection.licences]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicencesConfig {
    /// Import SKUs as licences and link users to them.
    #[serde(default)]
    pub import: bool,
    /// The declared client licences are imported under (required with `import`).
    #[serde(default)]
    pub client: Option<String>,
    /// Allow assigning/removing licences through the API (needs LicenseAssignment.ReadWrite.All).
    #[serde(default)]
    pub manage_from_halo: bool,
}

/// `[followers]`: the service desk's own switch for distribution groups as ticket followers, and
/// the connection a ticket's group picker uses when the caller names none. A connection offers
/// its groups only when this switch and its own `[connection.followers] enabled` are both on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalFollowersConfig {
    /// Allow distribution groups as ticket followers at all (default on: each connection still
    /// opts in).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The connection whose groups a ticket uses by default.
    #[serde(default)]
    pub default_connection: Option<String>,
}

fn default_true() -> bool {
    true
}

impl Default for GlobalFollowersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_connection: None,
        }
    }
}

/// `[connection.followers]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowersConfig {
    /// Allow distribution groups as ticket followers.
    #[serde(default)]
    pub enabled: bool,
    /// Largest group that may be expanded into individual followers.
    #[serde(default = "default_max_members")]
    pub max_members: u32,
}

fn default_max_members() -> u32 {
    100
}

impl Default for FollowersConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_members: default_max_members(),
        }
    }
}
