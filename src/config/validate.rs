//! Semantic validation: every problem at once, each with its key path, and the result —
//! [`Settings`] — carries resolved secrets and compiled mappings so nothing downstream re-checks.

use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mapping::{Mapping, MappingOptions, MappingSpec, ReferenceSpec};
use url::Url;

use super::load::Environment;
use super::model::*;
use super::secret::{Secret, SecretFiles, SecretSource, Secrets, TokenKey};
use super::trusted_ca::TrustedCa;
use crate::ids::{ConnectionId, Guid};

/// A validated configuration.
#[derive(Debug)]
pub struct Settings {
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[instance]`.
    pub instance: InstanceConfig,
    /// `[daemon]`.
    pub daemon: DaemonConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[halo]` reference data.
    pub halo: ReferenceSpec,
    /// Every `[[connection]]`, in file order.
    pub connections: Vec<ConnectionSettings>,
    /// `[inbound_log]`.
    pub inbound_log: InboundLogConfig,
    /// `[notifications]`.
    pub notifications: NotificationsConfig,
    /// `[followers]`.
    pub followers: GlobalFollowersConfig,
    /// `notifications.webhook_secret`, resolved (left out when deferred and unreadable).
    pub webhook_secret: Option<SecretString>,
    /// The key sealing delegated refresh tokens (`daemon.token_encryption_key`), resolved and
    /// decoded.
    pub token_encryption_key: Option<TokenKey>,
    /// Things that are allowed but unwise (e.g. inline secrets), one sentence each.
    pub warnings: Vec<String>,
}

/// A validated `[[connection]]`.
#[derive(Debug)]
pub struct ConnectionSettings {
    /// Stable key.
    pub id: ConnectionId,
    /// Display name.
    pub name: String,
    /// Directory (tenant) id.
    pub tenant_id: Guid,
    /// Application (client) id.
    pub client_id: Guid,
    /// Instances that run this connection.
    pub enabled_for_instances: Vec<String>,
    /// Identity platform base URL.
    pub authority_url: Url,
    /// Graph base URL.
    pub graph_url: Url,
    /// `ca_file`: certificate authorities trusted besides the system's, for the authority
    /// and Graph.
    pub trusted_ca: Option<TrustedCa>,
    /// Resolved credentials; [`Credentials::Unresolved`] only when loaded with
    /// [`Secrets::Deferred`].
    pub credentials: Credentials,
    /// `[connection.sync]`.
    pub sync: SyncConfig,
    /// The mapping sections as written.
    pub mapping_spec: MappingSpec,
    /// The compiled mapping.
    pub mapping: Mapping,
    /// `[connection.licences]`.
    pub licences: LicencesConfig,
    /// `[connection.followers]`.
    pub followers: FollowersConfig,
    /// `auth.expires`: when the credential expires, as the configuration says.
    pub credential_expires: Option<chrono::NaiveDate>,
}

/// Credentials with their secrets resolved, or why they could not be.
#[derive(Debug)]
pub enum Credentials {
    /// Client secret.
    ClientSecret(Secret),
    /// Certificate + private key (PEM).
    Certificate {
        /// PEM certificate.
        certificate: Secret,
        /// PEM private key.
        private_key: Secret,
        /// Assertion signature algorithm.
        algorithm: AssertionAlgorithm,
    },
    /// Delegated: the refresh token lives (encrypted) in the database.
    Delegated {
        /// Client secret of a confidential client.
        secret: Option<Secret>,
    },
    /// Workload identity: assertion read from this file on every token request.
    Federated {
        /// The projected token file.
        token_file: PathBuf,
    },
    /// Loaded with [`Secrets::Deferred`], and a secret of the connection could not be read:
    /// the problems, each with its key path (`connection[contoso].auth.secret: environment
    /// variable CONTOSO_SECRET is not set`). Building the connection's Graph client fails with
    /// them; nothing else needs them.
    Unresolved(String),
}

/// Collects problems under a key path.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, path: impl AsRef<str>, message: impl AsRef<str>) {
        self.0
            .push(format!("{}: {}", path.as_ref(), message.as_ref()));
    }
}

/// What resolving secrets needs, and what to do when one cannot be read.
struct SecretResolver<'a> {
    /// Where secret files may be read from; relative paths resolve against the config's directory.
    files: SecretFiles,
    env: &'a Environment,
    when: Secrets,
    /// Why `daemon.token_encryption_key` cannot be used, when it cannot.
    token_key_problem: Option<String>,
}

/// Validates a deserialised file. `base` is the directory relative secret files resolve against;
/// `secrets` says whether a secret that cannot be read is a problem now or only for the
/// connection's Graph client.
pub fn validate(
    file: ConfigFile,
    base: &Path,
    env: &Environment,
    secrets: Secrets,
) -> Result<Settings, Vec<String>> {
    let mut problems = Problems::default();
    let mut warnings = Vec::new();

    let files = SecretFiles::new(base, &file.secrets.allowed_dirs, env);
    let token_key = file.daemon.token_encryption_key.as_ref().map(|source| {
        let key = Secret::resolve(source, &files, env)?;
        TokenKey::parse(key.expose())
    });
    let resolver = SecretResolver {
        files: files.clone(),
        env,
        when: secrets,
        token_key_problem: token_key
            .as_ref()
            .and_then(|key| key.as_ref().err().cloned()),
    };

    check_globals(&file, &mut problems);
    for problem in mapping::validate_reference(&file.halo) {
        problems.add(&problem.path, &problem.message);
    }

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut connections = Vec::with_capacity(file.connection.len());
    for (index, raw) in file.connection.iter().enumerate() {
        let at = match ConnectionId::parse(&raw.id) {
            Ok(id) => format!("connection[{id}]"),
            Err(_) => format!("connection[{index}]"),
        };
        if let Some(first) = seen.insert(raw.id.clone(), index) {
            problems.add(
                format!("{at}.id"),
                format!(
                    "duplicate connection id {:?} (also connection[{first}])",
                    raw.id
                ),
            );
        }
        if let Some(connection) =
            check_connection(raw, &at, &file, &resolver, &mut problems, &mut warnings)
        {
            connections.push(connection);
        }
    }

    if let Some(default) = &file.followers.default_connection {
        match file.connection.iter().find(|c| &c.id == default) {
            None => problems.add(
                "followers.default_connection",
                format!("{default:?} is not a connection id"),
            ),
            Some(c) if !c.followers.enabled => problems.add(
                "followers.default_connection",
                format!("connection {default:?} does not enable [connection.followers]"),
            ),
            Some(_) => {}
        }
    }

    // Needed only by the daemon's webhook: deferred, a secret that cannot be read is left out.
    let webhook_secret = match file
        .notifications
        .webhook_secret
        .as_ref()
        .map(|source| Secret::resolve(source, &files, env))
    {
        Some(Ok(secret)) => {
            if secret.is_inline() {
                warnings.push(
                    "notifications.webhook_secret: the secret is written inline in the config \
                     file; outside demos use { env = \"NAME\" } or { file = \"path\" }"
                        .to_owned(),
                );
            }
            Some(SecretString::from(secret.expose()))
        }
        Some(Err(problem)) => {
            if secrets == Secrets::Required {
                problems.add("notifications.webhook_secret", problem);
            }
            None
        }
        None => None,
    };

    let token_encryption_key = match token_key {
        Some(Ok(key)) => Some(key),
        Some(Err(problem)) => {
            // Deferred, the delegated connections that need the key carry the problem.
            if secrets == Secrets::Required {
                problems.add("daemon.token_encryption_key", problem);
            }
            None
        }
        None => None,
    };

    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Settings {
        token_encryption_key,
        database: file.database,
        instance: file.instance,
        daemon: file.daemon,
        admin: file.admin,
        halo: file.halo,
        connections,
        inbound_log: file.inbound_log,
        notifications: file.notifications,
        followers: file.followers,
        webhook_secret,
        warnings,
    })
}

fn check_globals(file: &ConfigFile, problems: &mut Problems) {
    let url = &file.database.url;
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        problems.add(
            "database.url",
            format!(
                "{:?} is neither sqlite://PATH nor postgres://USER@HOST/DB",
                redact_url(url)
            ),
        );
    }
    if file.database.max_connections == 0 {
        problems.add("database.max_connections", "must be at least 1");
    }
    if file.instance.name.trim().is_empty() {
        problems.add("instance.name", "must not be empty");
    }
    if file.daemon.lease_ttl < std::time::Duration::from_secs(1) {
        problems.add("daemon.lease_ttl", "must be at least 1s");
    }
    for (key, timeout) in [
        (
            "admin.request_header_timeout",
            file.admin.request_header_timeout,
        ),
        (
            "admin.request_body_timeout",
            file.admin.request_body_timeout,
        ),
    ] {
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&timeout) {
            problems.add(
                key,
                format!(
                    "must be between 1s and 10m (got {})",
                    humantime::format_duration(timeout)
                ),
            );
        }
    }
    if file.daemon.max_parallel_connections == 0 {
        problems.add("daemon.max_parallel_connections", "must be at least 1");
    }
    if file.inbound_log.retention.is_zero() {
        problems.add(
            "inbound_log.retention",
            "must be longer than zero (e.g. \"30d\")",
        );
    }
    if let Some(url) = &file.admin.public_url {
        check_http_url("admin.public_url", url, problems);
    }
    if let Some(url) = &file.notifications.webhook_url {
        check_http_url("notifications.webhook_url", url, problems);
    }
}

/// Database URLs may carry a password; messages and `Debug` show them without it.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("REDACTED"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

fn check_http_url(path: &str, url: &Url, problems: &mut Problems) {
    if !matches!(url.scheme(), "http" | "https") {
        problems.add(path, format!("{url} is not an http(s) URL"));
    }
}

fn check_connection(
    raw: &ConnectionConfig,
    at: &str,
    file: &ConfigFile,
    secrets: &SecretResolver<'_>,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<ConnectionSettings> {
    let before = problems.0.len();
    let id = ConnectionId::parse(&raw.id)
        .map_err(|e| problems.add(format!("{at}.id"), e))
        .ok();
    let tenant_id = Guid::parse(&raw.tenant_id)
        .map_err(|e| problems.add(format!("{at}.tenant_id"), e))
        .ok();
    let client_id = Guid::parse(&raw.client_id)
        .map_err(|e| problems.add(format!("{at}.client_id"), e))
        .ok();
    if raw.enabled_for_instances.is_empty() {
        problems.add(
            format!("{at}.enabled_for_instances"),
            "must name at least one instance",
        );
    }
    check_http_url(&format!("{at}.authority_url"), &raw.authority_url, problems);
    check_http_url(&format!("{at}.graph_url"), &raw.graph_url, problems);
    let trusted_ca = raw.ca_file.as_deref().and_then(|file| {
        TrustedCa::read(file, secrets.files.base())
            .map_err(|problem| problems.add(format!("{at}.ca_file"), problem))
            .ok()
    });

    let credentials = check_auth(raw, at, file, secrets, problems, warnings);
    check_sync(&raw.sync, at, problems);
    check_licences(raw, at, file, problems);
    if raw.followers.max_members == 0 {
        problems.add(format!("{at}.followers.max_members"), "must be at least 1");
    }

    let mapping_spec = MappingSpec {
        field_mapping: raw.field_mapping.clone(),
        drop_default_fields: raw.drop_default_fields.clone(),
        site_mapping: raw.site_mapping.clone(),
        roles: raw.roles.clone(),
        teams: raw.teams.clone(),
        team_options: raw.team_options.clone(),
        cabs: raw.cabs.clone(),
        agent_licences: raw.agent_licences.clone(),
        options: MappingOptions {
            nested_groups: raw.sync.nested_groups,
            empty_values: raw.sync.empty_values,
            deactivate_disabled_users: raw.sync.deactivate_disabled_users,
            matching_fields: raw.sync.matching_fields.clone(),
        },
    };
    let mapping = mapping::compile(&mapping_spec, &file.halo)
        .map_err(|found| {
            for problem in found {
                problems.add(format!("{at}.{}", problem.path), &problem.message);
            }
        })
        .ok();

    if problems.0.len() != before {
        return None;
    }
    Some(ConnectionSettings {
        name: raw.name.clone().unwrap_or_else(|| raw.id.clone()),
        id: id?,
        tenant_id: tenant_id?,
        client_id: client_id?,
        enabled_for_instances: raw.enabled_for_instances.clone(),
        authority_url: raw.authority_url.clone(),
        graph_url: raw.graph_url.clone(),
        trusted_ca,
        credentials: credentials?,
        sync: SyncConfig {
            // Unset: users and agents, and the licences the connection imports.
            entities: Some(raw.sync.entities.clone().unwrap_or_else(|| {
                let mut entities = vec![Entity::Users, Entity::Agents];
                if raw.licences.import {
                    entities.push(Entity::Licences);
                }
                entities
            })),
            ..raw.sync.clone()
        },
        mapping_spec,
        mapping: mapping?,
        licences: raw.licences.clone(),
        followers: raw.followers.clone(),
        credential_expires: raw.auth.expires(),
    })
}

/// The connection's credentials. A secret that cannot be read is a problem, or — deferred —
/// makes the credentials [`Credentials::Unresolved`].
fn check_auth(
    raw: &ConnectionConfig,
    at: &str,
    file: &ConfigFile,
    secrets: &SecretResolver<'_>,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<Credentials> {
    // (key path, why) of every secret that cannot be read.
    let mut unreadable: Vec<(String, String)> = Vec::new();
    let mut secret = |key: &str, source: &SecretSource| -> Option<Secret> {
        let path = format!("{at}.auth.{key}");
        match Secret::resolve(source, &secrets.files, secrets.env) {
            Ok(secret) => {
                if secret.is_inline() {
                    warnings.push(format!(
                        "{path}: the secret is written inline in the config file; outside demos use \
                         {{ env = \"NAME\" }} or {{ file = \"path\" }}"
                    ));
                }
                Some(secret)
            }
            Err(why) => {
                unreadable.push((path, why));
                None
            }
        }
    };
    let credentials = match &raw.auth {
        AuthConfig::ClientSecret { secret: source, .. } => {
            secret("secret", source).map(Credentials::ClientSecret)
        }
        AuthConfig::Certificate {
            certificate,
            private_key,
            algorithm,
            ..
        } => {
            let certificate = secret("certificate", certificate);
            let private_key = secret("private_key", private_key);
            // No `?`: what could not be read is handled below.
            certificate
                .zip(private_key)
                .map(|(certificate, private_key)| Credentials::Certificate {
                    certificate,
                    private_key,
                    algorithm: *algorithm,
                })
        }
        AuthConfig::Delegated { secret: source, .. } => {
            let secret = source.as_ref().and_then(|s| secret("secret", s));
            if file.daemon.token_encryption_key.is_none() {
                problems.add(
                    "daemon.token_encryption_key",
                    format!(
                        "required by {at}.auth (method \"delegated\"): refresh tokens are stored \
                         encrypted; generate one with `openssl rand -base64 32`"
                    ),
                );
            }
            // Required, validate reports a key it cannot use once, for every connection.
            if let (Some(why), Secrets::Deferred) = (&secrets.token_key_problem, secrets.when) {
                let why = format!("{why} (needed by {at}.auth, method \"delegated\")");
                unreadable.push(("daemon.token_encryption_key".to_owned(), why));
            }
            // Entra sends the browser back to `{public_url}/authcallback`; without a public URL,
            // to the admin listener itself, which Entra accepts over plain http only on loopback.
            if file.admin.public_url.is_none() && !file.admin.listen.ip().is_loopback() {
                problems.add(
                    "admin.public_url",
                    format!(
                        "required by {at}.auth (method \"delegated\") when admin.listen ({}) is \
                         not a loopback address: the sign-in callback is {{public_url}}/authcallback",
                        file.admin.listen
                    ),
                );
            }
            Some(Credentials::Delegated { secret })
        }
        AuthConfig::Federated { token_file } => {
            let path = secrets.files.base().join(token_file);
            let problem = match secrets.files.check(token_file) {
                Ok(_) if !path.is_file() => Some(format!("{} is not a file", path.display())),
                Ok(_) => None,
                Err(why) => Some(why),
            };
            if let Some(why) = problem {
                unreadable.push((format!("{at}.auth.token_file"), why));
            }
            Some(Credentials::Federated { token_file: path })
        }
    };
    if unreadable.is_empty() {
        return credentials;
    }
    match secrets.when {
        Secrets::Required => {
            for (path, why) in unreadable {
                problems.add(path, why);
            }
            None
        }
        Secrets::Deferred => {
            let problems: Vec<String> = unreadable
                .into_iter()
                .map(|(path, why)| format!("{path}: {why}"))
                .collect();
            Some(Credentials::Unresolved(problems.join("; ")))
        }
    }
}

fn check_sync(sync: &SyncConfig, at: &str, problems: &mut Problems) {
    let at = format!("{at}.sync");
    let entities = sync.entities();
    if entities.is_empty() {
        problems.add(
            format!("{at}.entities"),
            "must name at least one of users, agents, licences",
        );
    }
    for (i, entity) in entities.iter().enumerate() {
        if entities[..i].contains(entity) {
            problems.add(
                format!("{at}.entities[{i}]"),
                format!("{entity:?} is listed twice"),
            );
        }
    }
    if sync.interval < Duration::from_secs(10) {
        problems.add(format!("{at}.interval"), "must be at least 10s");
    }
    if sync.full_interval < sync.interval {
        problems.add(
            format!("{at}.full_interval"),
            format!(
                "({}) is shorter than interval ({})",
                humantime::format_duration(sync.full_interval),
                humantime::format_duration(sync.interval)
            ),
        );
    }
    if sync.max_deactivations.percent > 100 {
        problems.add(
            format!("{at}.max_deactivations.percent"),
            "must be between 0 and 100",
        );
    }
}

fn check_licences(raw: &ConnectionConfig, at: &str, file: &ConfigFile, problems: &mut Problems) {
    let licences = &raw.licences;
    if raw.sync.entities().contains(&Entity::Licences) && !licences.import {
        problems.add(
            format!("{at}.sync.entities"),
            "lists licences but licences.import is false",
        );
    }
    if licences.manage_from_halo && !licences.import {
        problems.add(
            format!("{at}.licences.manage_from_halo"),
            "needs licences.import = true",
        );
    }
    match &licences.client {
        None if licences.import => {
            problems.add(
                format!("{at}.licences.client"),
                "required when import = true: the client licences belong to",
            );
        }
        Some(client) if !file.halo.clients.contains(client) => problems.add(
            format!("{at}.licences.client"),
            format!("client {client:?} is not declared in halo.clients"),
        ),
        _ => {}
    }
}
