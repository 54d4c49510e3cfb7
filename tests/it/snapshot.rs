//! Every table's rows as text, for "nothing changed" comparisons.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

/// Table → its rows (each column cast to text), sorted.
pub async fn tables(url: &str) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let mut out = BTreeMap::new();
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                .fetch_all(&pool)
                .await
                .expect("tables");
        for table in names {
            let columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&pool)
            .await
            .expect("columns");
            let select = columns
                .iter()
                .map(|c| format!("quote({c})"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = sqlx::query(AssertSqlSafe(format!("SELECT {select} FROM {table}")))
                .fetch_all(&pool)
                .await
                .expect("rows");
            let mut rows: Vec<Vec<Option<String>>> = rows
                .iter()
                .map(|r| {
                    (0..columns.len())
                        .map(|i| r.get::<Option<String>, _>(i))
                        .collect()
                })
                .collect();
            rows.sort();
            out.insert(table, rows);
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        for table in names {
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(&table)
            .fetch_all(&pool)
            .await
            .expect("columns");
            let select = columns
                .iter()
                .map(|c| format!("\"{c}\"::text"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = sqlx::query(AssertSqlSafe(format!("SELECT {select} FROM \"{table}\"")))
                .fetch_all(&pool)
                .await
                .expect("rows");
            let mut rows: Vec<Vec<Option<String>>> = rows
                .iter()
                .map(|r| {
                    (0..columns.len())
                        .map(|i| r.get::<Option<String>, _>(i))
                        .collect()
                })
                .collect();
            rows.sort();
            out.insert(table, rows);
        }
        pool.close().await;
    }
    out
}
