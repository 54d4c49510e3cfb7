//! The embedded default: one SQLite file, created on first use, in WAL mode with a busy timeout.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;

use crate::store::StoreError;
use crate::store::dialect::Dialect;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// The dialect the shared query files speak (see `dialect.rs`).
type D = SqliteDialect;
type Db = <D as Dialect>::Db;
type Backend = SqliteStore;
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite's side of the shared queries.
#[derive(Debug, Clone, Copy)]
pub(super) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = sqlx::Sqlite;
    const BACKEND: &'static str = "sqlite";
    /// How a writing transaction starts: with the write lock, so that it never has to upgrade a read
    /// snapshot another connection's commit made stale (which SQLite reports as busy at once).
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const TABLE_NAMES_SQL: &'static str = "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name";

    /// SQLite plans these queries well without statistics.
    const ANALYZE_SQL: Option<&'static str> = None;

    /// The database's clock as the lease columns hold it: text that sorts as time does.
    const NOW_SQL: &'static str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    /// [`Self::NOW_SQL`] plus `{seconds}` seconds (a parameter).
    const LATER_SQL: &'static str =
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || {seconds} || ' seconds')";
    /// [`Self::NOW_SQL`] minus `{seconds}` seconds (a parameter).
    const EARLIER_SQL: &'static str =
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || {seconds} || ' seconds')";

    /// A write transaction's fence check. SQLite has one writer at a time, so the check holds
    /// until the commit without a lock of its own.
    const FENCE_SQL: &'static str =
        "SELECT token FROM leases WHERE name = $1 AND holder = $2 AND token = $3";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// SQLite has one writer at a time: a second writing transaction would only wait.
    fn parallel_writes(_pool: &sqlx::Pool<Self::Db>) -> usize {
        1
    }

    /// ` IN ($n, $n+1, …)`: one parameter per value.
    fn push_in(query: &mut sqlx::QueryBuilder<Self::Db>, values: impl Iterator<Item = String>) {
        query.push(" IN (");
        let mut list = query.separated(", ");
        for value in values {
            list.push_bind(value);
        }
        query.push(")");
    }

    /// Rows per bulk insert statement: about 900 parameters.
    fn rows_per_insert(columns: usize) -> usize {
        (900 / columns.max(1)).max(1)
    }

    /// `VALUES (?, ?, …), …`: one parameter per value.
    fn push_rows(
        query: &mut sqlx::QueryBuilder<Self::Db>,
        columns: Vec<crate::store::rows::Column>,
    ) {
        use crate::store::rows::{Column, row_count};
        enum Cells {
            Text(std::vec::IntoIter<Option<String>>),
            Int(std::vec::IntoIter<Option<i64>>),
            Bool(std::vec::IntoIter<Option<bool>>),
            Time(std::vec::IntoIter<chrono::DateTime<chrono::Utc>>),
        }
        let rows = row_count(&columns);
        let mut cells: Vec<Cells> = columns
            .into_iter()
            .map(|column| match column {
                Column::Text(v) => Cells::Text(v.into_iter()),
                Column::Json(v) => {
                    Cells::Text(v.into_iter().map(Some).collect::<Vec<_>>().into_iter())
                }
                Column::Int(v) => Cells::Int(v.into_iter()),
                Column::Bool(v) => Cells::Bool(v.into_iter()),
                Column::Time(v) => Cells::Time(v.into_iter()),
            })
            .collect();
        query.push("VALUES ");
        for row in 0..rows {
            if row > 0 {
                query.push(", ");
            }
            query.push("(");
            let mut values = query.separated(", ");
            for cell in &mut cells {
                // Every column holds `rows` values (checked above).
                match cell {
                    Cells::Text(v) => values.push_bind(v.next().flatten()),
                    Cells::Int(v) => values.push_bind(v.next().flatten()),
                    Cells::Bool(v) => values.push_bind(v.next().flatten()),
                    Cells::Time(v) => values.push_bind(v.next()),
                };
            }
            query.push(")");
        }
    }
}

/// When a SQLite database file last refused a write in this process (read-only, I/O error, disk
/// full).
static LAST_FILE_FAULT: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// Whether `error` is SQLite failing to write its file: `SQLITE_READONLY` (8), `SQLITE_IOERR`
/// (10) or `SQLITE_FULL` (13), extended codes included.
pub(crate) fn is_file_fault(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
        && error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 8 | 10 | 13))
}

/// Records that a SQLite file refused a write now.
pub(crate) fn note_file_fault() {
    *LAST_FILE_FAULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
}

fn last_file_fault() -> Option<std::time::Instant> {
    *LAST_FILE_FAULT.lock().unwrap_or_else(|e| e.into_inner())
}

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: sqlx::Pool<Db>,
    /// SQLite has one writer at a time. This process's writers take turns here, in order, rather
    /// than at the database's lock, whose busy handler polls with sleeps of up to 100 ms.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The lease every write transaction checks, in a store [fenced](crate::store::Integration::fenced) by one.
    fence: Option<Arc<crate::store::lease::Lease>>,
}

/// A writing transaction's turn; the next writer goes when it is dropped.
type Turn = Option<tokio::sync::OwnedMutexGuard<()>>;

impl SqliteStore {
    /// Opens (creating if missing) the database `url` names, e.g. `sqlite://entra-sync.db` or
    /// `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL {url:?}: {e}")))?;
        // A fresh machine has no data directory yet; SQLite creates the file but not its folder.
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 32 MiB of page cache per connection (the default is 2 MiB): the hot part of a
            // 100 000-person mirror and its indexes stays in memory through a run.
            .pragma("cache_size", "-32768")
            // Checkpoint the WAL every 64 MiB rather than every 4 MiB: a page written by many
            // commits between two checkpoints is then copied into the database once, and a
            // bulk import pays for a few checkpoints instead of one per commit.
            .pragma("wal_autocheckpoint", "16384");
        // In WAL mode readers do not wait for the writer, so a run loads its next batch while the
        // current one is written: two connections (each with its own page cache, so more would
        // cost memory without measured gain on two cores). `:memory:` is one database per
        // connection: one connection.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new().max_connections(if in_memory { 1 } else { 2 });
        if !in_memory {
            // A transaction whose commit and rollback both failed (the file turned read-only, the
            // disk filled up) leaves its connection believing it is still in it, and every later
            // BEGIN on it fails: such a connection is closed, not handed out again. (An
            // in-memory database lives in its one connection, so it is kept.)
            // Likewise a connection that met the file unwritable keeps failing after it is
            // writable again: connections opened before the last such failure are replaced.
            pool = pool.before_acquire(|conn, meta| {
                use sqlx::Connection;
                let before_fault = last_file_fault().is_some_and(|at| meta.age >= at.elapsed());
                Box::pin(std::future::ready(Ok(
                    !conn.is_in_transaction() && !before_fault
                )))
            });
        }
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        Ok(Self {
            pool,
            writer: Arc::default(),
            fence: None,
        })
    }

    /// A writing transaction, in this process's turn (hold the turn until it commits), once its
    /// fence (if any) is checked.
    async fn begin_write(&self) -> Result<(Turn, sqlx::Transaction<'static, Db>), StoreError> {
        let turn = self.writer.clone().lock_owned().await;
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        self.check_fence(&mut tx).await?;
        Ok((Some(turn), tx))
    }

    /// The same database, every write transaction checking `lease`.
    fn with_fence(&self, lease: &crate::store::lease::Lease) -> Self {
        Self {
            fence: Some(Arc::new(lease.clone())),
            ..self.clone()
        }
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
