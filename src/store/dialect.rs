//! What a backend module provides to the query files both backends share.
//!
//! `service_desk_queries.rs`, `integration_queries.rs`, `apply_queries.rs`,
//! `snapshot_queries.rs`, `lease_queries.rs`, `keep_active_queries.rs` and
//! `schedule_queries.rs` are `include!`d by `sqlite.rs` and by `postgres.rs`, so each body of SQL
//! is compiled once per backend with that backend's concrete sqlx types. Where the dialects
//! differ, the shared text asks its backend through [`Dialect`], which each backend implements
//! on a zero-sized type (`SqliteDialect`, `PostgresDialect`). A backend module declares three
//! names for the included code:
//!
//! - `type D = …Dialect;` the dialect: the shared code writes `D::NOW_SQL`, `D::push_in(…)`;
//! - `type Db = <D as Dialect>::Db;` the sqlx database, spelled short;
//! - `type Backend = …Store;` the store the shared code implements the traits on, with a
//!   `pool: sqlx::Pool<Db>` and a `fence: Option<Arc<Lease>>` field, and `begin_write()` (a
//!   writing transaction with its turn, once the fence is checked) and `with_fence(&Lease)`.
//!
//! A trait rather than loose `const`s and `fn`s of the same names in each backend: a backend
//! that lacks an item, or declares it with another type, fails to compile at its `impl Dialect`
//! with the item's name ("not all trait items implemented, missing: `FENCE_SQL`"), instead of
//! at some use deep in an included file, and the contract is written down here once.
//! `Backend`'s fields and methods stay inherent: the shared code reaches them through `self`,
//! where a missing one is a compile error naming it too.

use sqlx::migrate::Migrator;

use super::rows::Column;

/// The SQL and the statement building that differ between SQLite and PostgreSQL.
pub(super) trait Dialect {
    /// The sqlx database.
    type Db: sqlx::Database;

    /// The backend's name, for logs (`sqlite`, `postgres`).
    const BACKEND: &'static str;
    /// How a writing transaction starts.
    const BEGIN: &'static str;
    /// The names of the tables in the database, sorted, sqlx's bookkeeping excluded.
    const TABLE_NAMES_SQL: &'static str;
    /// Refreshes the planner's statistics after bulk changes, where the planner needs it.
    const ANALYZE_SQL: Option<&'static str>;
    /// The database's clock, as the lease columns hold it.
    const NOW_SQL: &'static str;
    /// [`Dialect::NOW_SQL`] plus `{seconds}` seconds (`{seconds}` is replaced by a parameter).
    const LATER_SQL: &'static str;
    /// [`Dialect::NOW_SQL`] minus `{seconds}` seconds (`{seconds}` is replaced by a parameter).
    const EARLIER_SQL: &'static str;
    /// A write transaction's fence check: `$1` lease name, `$2` holder, `$3` token; a row back
    /// when the lease is still held, kept from a takeover until the transaction ends.
    const FENCE_SQL: &'static str;

    /// The backend's migrations.
    fn migrator() -> &'static Migrator;

    /// How many `apply` transactions make progress side by side on `pool`.
    fn parallel_writes(pool: &sqlx::Pool<Self::Db>) -> usize;

    /// Appends a membership test of the column just pushed in `values` (` IN (…)`, ` = ANY(…)`).
    fn push_in(query: &mut sqlx::QueryBuilder<Self::Db>, values: impl Iterator<Item = String>);

    /// Rows per bulk insert statement of `columns` columns.
    fn rows_per_insert(columns: usize) -> usize;

    /// Appends the rows of `columns` (each holding one value per row) as an insert's source.
    fn push_rows(query: &mut sqlx::QueryBuilder<Self::Db>, columns: Vec<Column>);
}
