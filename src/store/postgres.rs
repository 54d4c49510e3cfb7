//! The production backend: PostgreSQL.

use std::time::Duration;

use sqlx::migrate::Migrator;

use crate::store::StoreError;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

type Db = sqlx::Postgres;
type Backend = PostgresStore;
const BACKEND: &str = "postgres";
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
const TABLE_NAMES_SQL: &str = "SELECT table_name::text FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
     AND table_name NOT LIKE '\\_sqlx\\_%' ORDER BY table_name";

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: sqlx::Pool<Db>,
}

impl PostgresStore {
    /// Connects to the database `url` names.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self { pool })
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

mod apply {
    use super::*;
    include!("apply_queries.rs");
}

mod snapshot {
    use super::*;
    include!("snapshot_queries.rs");
}
