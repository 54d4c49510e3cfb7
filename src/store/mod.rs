//! All SQL lives here. One [`Store`] trait; a SQLite and a PostgreSQL implementation chosen from
//! the database URL. One trait method is one transaction.
//!
//! The trait is split by what it owns: [`ServiceDesk`] (schema, reference data and the Halo-style
//! records) and [`Integration`] (connections' integration state: delta links, the Entra mirror,
//! runs, the inbound log, delegated tokens). [`Store`] is both.
//!
//! Both backends share one body of queries per trait (`service_desk_queries.rs`,
//! `integration_queries.rs` with `apply_queries.rs`, `snapshot_queries.rs` and
//! `keep_active_queries.rs`), compiled once per
//! backend with that backend's concrete sqlx types: the SQL is the same text on both (`$1` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`),
//! so it is written once. Where the dialects differ (catalog queries, connection options) each
//! backend module says so itself, through the `Dialect` trait (`dialect.rs`) that states what the
//! shared files may ask of a backend.

pub mod access;
mod dialect;
pub mod entra_mirror;
mod error;
pub mod followers;
pub mod integration;
mod keep_active;
pub mod lease;
pub mod licences;
pub mod observed;
pub mod postgres;
mod postgres_tcp;
pub mod records;
mod rows;
pub mod run_log;
pub mod schedule;
pub mod sessions;
pub mod sqlite;
pub mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mapping::ReferenceSpec;

pub use access::{Access, AccessGrant, AgentAccess, ApiKeyRow, NewApiKey, NewSignIn, SignInRow};
pub use entra_mirror::*;
pub use error::StoreError;
pub use followers::{Followers, ImportedPerson, MirrorGroupMail};
pub use integration::*;
pub use keep_active::*;
pub use licences::{ImportedUser, LicenceChange, Licences};
pub use records::*;
pub use run_log::*;
pub use schedule::*;
pub use sessions::{NewPageSession, PageSessionRow, PageSessions};
pub use writes::*;

/// Everything the daemon persists: the service desk, the integration state and the schedule.
pub trait Store:
    ServiceDesk
    + Licences
    + Followers
    + Integration
    + EntraMirror
    + RunLog
    + Schedule
    + Access
    + PageSessions
{
}

impl<
    T: ServiceDesk
        + Licences
        + Followers
        + Integration
        + EntraMirror
        + RunLog
        + Schedule
        + Access
        + PageSessions,
> Store for T
{
}

/// The schema, reference data and the service-desk records. Every method is one transaction.
#[async_trait]
pub trait ServiceDesk: Send + Sync + std::fmt::Debug {
    /// Which backend this is (`sqlite` or `postgres`), for logs.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations. Running it again is a no-op.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// The names of the tables in the database, sorted (sqlx's bookkeeping excluded).
    async fn table_names(&self) -> Result<Vec<String>, StoreError>;

    /// Creates the clients, sites, roles, teams, CABs, CAB roles and custom fields `[halo]`
    /// declares and the database lacks. Idempotent; removes nothing.
    async fn ensure_reference(
        &self,
        reference: &ReferenceSpec,
    ) -> Result<ReferenceReport, StoreError>;

    /// The reference data in the database.
    async fn reference(&self) -> Result<Reference, StoreError>;

    /// Creates or renames the connections named in the config.
    async fn ensure_connections(
        &self,
        connections: &[ConnectionRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Creates a site under an existing client (e.g. for an `organisation_by_field` mapping);
    /// returns its id, or the existing one's.
    async fn ensure_site(&self, client: &str, site: &str) -> Result<i64, StoreError>;

    /// Inserts an end user. A second user with the same (connection, Entra id) is a conflict.
    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// An end user by row id.
    async fn user(&self, id: i64) -> Result<UserRecord, StoreError>;

    /// Inserts an agent linked to an existing user record.
    async fn insert_agent(&self, agent: &NewAgent, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// An agent by row id.
    async fn agent(&self, id: i64) -> Result<AgentRecord, StoreError>;

    /// Grants a declared role (of the person's kind) to a user or agent.
    async fn grant_role(
        &self,
        person: Person,
        role: &str,
        source: Source,
    ) -> Result<(), StoreError>;

    /// The roles a user or agent holds, sorted by name.
    async fn roles_of(&self, person: Person) -> Result<Vec<RoleGrant>, StoreError>;

    /// Adds an agent to a declared team.
    async fn add_agent_team(
        &self,
        agent_id: i64,
        team: &str,
        flags: TeamFlags,
        source: Source,
    ) -> Result<(), StoreError>;

    /// An agent's team memberships, sorted by team name.
    async fn agent_teams(&self, agent_id: i64) -> Result<Vec<TeamMembership>, StoreError>;

    /// Adds a user or agent to a declared CAB, optionally with one of its CAB roles.
    async fn add_cab_member(&self, cab: &str, member: &CabMember) -> Result<(), StoreError>;

    /// A CAB's members, in insertion order.
    async fn cab_members(&self, cab: &str) -> Result<Vec<CabMember>, StoreError>;
}

/// Opens the store the URL names (`sqlite:` or `postgres:`), without migrating.
pub async fn connect(url: &str, max_connections: u32) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(
            postgres::PostgresStore::connect(url, max_connections).await?,
        ))
    } else {
        Err(StoreError::unsupported_url(url))
    }
}
