//! The production backend: PostgreSQL.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::store::StoreError;
use crate::store::dialect::Dialect;
use crate::store::postgres_tcp::{Relay, Upstream};

/// The dialect the shared query files speak (see `dialect.rs`).
type D = PostgresDialect;
type Db = <D as Dialect>::Db;
type Backend = PostgresStore;
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL's side of the shared queries.
#[derive(Debug, Clone, Copy)]
pub(super) struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = sqlx::Postgres;
    const BACKEND: &'static str = "postgres";
    /// How a writing transaction starts.
    const BEGIN: &'static str = "BEGIN";
    const TABLE_NAMES_SQL: &'static str = "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_sqlx\\_%' ORDER BY table_name";

    /// Tables a sync grows in bulk, whose statistics are refreshed during large runs.
    const ANALYZE_SQL: Option<&'static str> = Some(
        "ANALYZE users, agents, user_roles, agent_roles, agent_teams, cab_members, user_licences, \
         entra_users, entra_memberships, entra_groups",
    );

    /// The database's clock, as the lease columns hold it.
    const NOW_SQL: &'static str = "now()";
    /// [`Self::NOW_SQL`] plus `{seconds}` seconds (a parameter).
    const LATER_SQL: &'static str = "now() + make_interval(secs => {seconds})";
    /// [`Self::NOW_SQL`] minus `{seconds}` seconds (a parameter).
    const EARLIER_SQL: &'static str = "now() - make_interval(secs => {seconds})";
    /// A write transaction's fence check. The row stays locked until the transaction ends, so a
    /// takeover (an update of the row) waits for the commit, and everything written under the old
    /// token commits before the new holder starts.
    const FENCE_SQL: &'static str =
        "SELECT token FROM leases WHERE name = $1 AND holder = $2 AND token = $3 FOR SHARE";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Two batches are written side by side when the pool leaves room for the reads beside them
    /// (loading the next batch takes two connections): one transaction keeps the server busy on
    /// about one core.
    fn parallel_writes(pool: &sqlx::Pool<Self::Db>) -> usize {
        if pool.options().get_max_connections() >= 4 {
            2
        } else {
            1
        }
    }

    /// ` = ANY($n)`: the values as one array parameter, so the statement text does not depend on how
    /// many there are (a list of 500 parameters is planned afresh every time). A statement with an id
    /// list is run with `.persistent(false)`: a cached generic plan of `= ANY($n)` does not know the
    /// list, and once the table has grown it can scan the whole table where an index lookup per id
    /// is what the list needs; an unnamed statement is planned with its values.
    fn push_in(query: &mut sqlx::QueryBuilder<Self::Db>, values: impl Iterator<Item = String>) {
        query
            .push(" = ANY(")
            .push_bind(values.collect::<Vec<String>>())
            .push(")");
    }

    /// Rows per bulk insert statement: the arrays carry any number, so a page or a batch goes in one
    /// statement.
    fn rows_per_insert(_columns: usize) -> usize {
        5_000
    }

    /// `SELECT c0, c1, … FROM unnest($1::text[], $2::int8[], …)`: one array parameter per column, so
    /// the statement text and its plan do not depend on the row count, and a custom plan of it costs
    /// nothing (a `VALUES` list of 800 parameters is planned afresh on every execution).
    fn push_rows(
        query: &mut sqlx::QueryBuilder<Self::Db>,
        columns: Vec<crate::store::rows::Column>,
    ) {
        use crate::store::rows::Column;
        let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
        let select: Vec<String> = columns
            .iter()
            .zip(&names)
            .map(|(column, name)| match column {
                Column::Json(_) => format!("{name}::jsonb"),
                _ => name.clone(),
            })
            .collect();
        query.push(format!("SELECT {} FROM unnest(", select.join(", ")));
        for (i, column) in columns.into_iter().enumerate() {
            if i > 0 {
                query.push(", ");
            }
            match column {
                Column::Text(v) => query.push_bind(v).push("::text[]"),
                Column::Json(v) => query.push_bind(v).push("::text[]"),
                Column::Int(v) => query.push_bind(v).push("::int8[]"),
                Column::Bool(v) => query.push_bind(v).push("::bool[]"),
                Column::Time(v) => query.push_bind(v).push("::timestamptz[]"),
            };
        }
        query.push(format!(") AS t({})", names.join(", ")));
    }
}

/// How long taking a connection from the pool may wait, opening one included.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writers need no turns on PostgreSQL (see the SQLite store).
type Turn = Option<()>;

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: sqlx::Pool<Db>,
    /// The lease every write transaction checks, in a store [fenced](crate::store::Integration::fenced) by one.
    fence: Option<std::sync::Arc<crate::store::lease::Lease>>,
    /// The relay the pool's connections go through when the URL names a TCP host (see
    /// [`postgres_tcp`](crate::store::postgres_tcp)); shared by every copy of the store, it
    /// stops accepting connections when the last one is dropped.
    relay: Option<Arc<Relay>>,
}

impl PostgresStore {
    /// Connects to the database `url` names.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?
            // With the default `random_page_cost` (4, tuned for spinning disks) the planner
            // prefers a sequential scan of 100 000 people to 500 index probes (23 ms against 8 ms
            // for one batch); 1.1 is the usual setting for data on SSD or in memory. Statements
            // keep PostgreSQL's plan caching: a foreign-key check is a cached statement run once
            // per inserted row, and planning it afresh each time (`force_custom_plan`) doubled a
            // full sync's database time. Statements that look up a list of ids are sent unnamed
            // instead (see `push_in`), so each is planned for its list.
            .options([("random_page_cost", "1.1")]);
        let (options, relay) = match Upstream::of(&options, ACQUIRE_TIMEOUT) {
            None => (options, None),
            Some(upstream) => {
                // One connection up front, so that an unreachable server is reported as such
                // (through the relay sqlx would only see its connection closed).
                let first = upstream.connect().await.map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot connect to PostgreSQL at {upstream}: {e}"
                    ))
                })?;
                let relay = Relay::start(upstream, first).map_err(|e| {
                    StoreError::Unavailable(format!("cannot start the PostgreSQL TCP relay: {e}"))
                })?;
                (options.socket(relay.dir()), Some(Arc::new(relay)))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self {
            pool,
            fence: None,
            relay,
        })
    }

    /// The private directory of the Unix socket the store's connections to a TCP server go
    /// through, or `None` when the URL names a Unix socket itself.
    pub fn relay_dir(&self) -> Option<&Path> {
        self.relay.as_deref().map(Relay::dir)
    }

    /// A writing transaction, once its fence (if any) is checked (PostgreSQL's writers need no
    /// turns: `Turn` is always `None`).
    async fn begin_write(&self) -> Result<(Turn, sqlx::Transaction<'static, Db>), StoreError> {
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        self.check_fence(&mut tx).await?;
        Ok((None, tx))
    }

    /// The same database, every write transaction checking `lease`.
    fn with_fence(&self, lease: &crate::store::lease::Lease) -> Self {
        Self {
            fence: Some(std::sync::Arc::new(lease.clone())),
            ..self.clone()
        }
    }

    /// Creates an empty database on the same server (test scaffolding and first-time set-up).
    /// `name` must be lowercase ASCII letters, digits and `_`.
    pub async fn create_database(&self, name: &str) -> Result<(), StoreError> {
        let name = database_name(name)?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops a database on the same server, disconnecting its sessions.
    pub async fn drop_database(&self, name: &str) -> Result<(), StoreError> {
        let name = database_name(name)?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Database names are interpolated into DDL, so only a safe alphabet is accepted.
fn database_name(name: &str) -> Result<&str, StoreError> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if safe {
        Ok(name)
    } else {
        Err(StoreError::Conflict(format!(
            "{name:?} is not an acceptable database name"
        )))
    }
}

mod service_desk {
    use super::*;
    include!("service_desk_queries.rs");
}

mod integration {
    use super::*;
    include!("integration_queries.rs");
}

mod access {
    use super::*;
    include!("access_queries.rs");
}

mod licences {
    use super::*;
    include!("licence_queries.rs");
}

mod followers {
    use super::*;
    include!("follower_queries.rs");
}

mod sessions {
    use super::*;
    include!("session_queries.rs");
}

mod apply {
    use super::*;
    include!("apply_queries.rs");
}

mod create {
    use super::*;
    include!("create_queries.rs");
}

mod entra_mirror {
    use super::*;
    include!("entra_mirror_queries.rs");
}

mod run_log {
    use super::*;
    include!("run_log_queries.rs");
}

mod snapshot {
    use super::*;
    include!("snapshot_queries.rs");
}

mod lease {
    use super::*;
    include!("lease_queries.rs");
}

mod keep_active {
    use super::*;
    include!("keep_active_queries.rs");
}

mod schedule {
    use super::*;
    include!("schedule_queries.rs");
}
