//! `migrate` creates exactly the tables of the operator contract, plus the internal tables the
//! daemon keeps (the people read but not yet evaluated, and the delegated sign-ins under way), on
//! both backends, and is idempotent.

use crate::support::{backends, cid};

/// The contract's tables, `entra_pending` (the people read but not yet evaluated), `sign_ins`
/// (the delegated sign-ins under way) and `page_sessions` (the status page's sessions), by name.
const TABLES: [&str; 32] = [
    "agent_roles",
    "agent_teams",
    "agents",
    "api_keys",
    "cab_members",
    "cab_roles",
    "cabs",
    "clients",
    "connection_access",
    "connections",
    "custom_fields",
    "delegated_tokens",
    "delta_states",
    "entra_groups",
    "entra_memberships",
    "entra_pending",
    "entra_users",
    "inbound_log",
    "leases",
    "licences",
    "page_sessions",
    "roles",
    "sign_ins",
    "sites",
    "sync_runs",
    "sync_triggers",
    "teams",
    "ticket_followers",
    "tickets",
    "user_licences",
    "user_roles",
    "users",
];

#[tokio::test]
async fn migrate_creates_every_brief_table_and_nothing_else_twice_over() {
    for db in backends().await {
        let store = db.open().await;
        assert!(
            store
                .table_names()
                .await
                .expect("listing tables")
                .is_empty(),
            "{}: not empty",
            db.url
        );
        store.migrate().await.expect("first migration");
        let first = store.table_names().await.expect("listing tables");
        assert_eq!(first, TABLES, "{}", store.backend());
        store.migrate().await.expect("second migration is a no-op");
        assert_eq!(
            store.table_names().await.expect("listing tables"),
            first,
            "{}",
            store.backend()
        );
        drop(store);
        db.cleanup().await;
    }
}

/// The inbound log's `(id, source, upn, message)`, newest first, read with SQL that every
/// schema version answers.
async fn raw_log(url: &str) -> Vec<(i64, String, Option<String>, Option<String>)> {
    const SQL: &str = "SELECT id, source, upn, message FROM inbound_log ORDER BY id DESC";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.expect("rows");
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.expect("rows");
        pool.close().await;
        rows
    }
}

/// Applies the migrations numbered below `before` from `migrations/<backend>/`.
async fn migrate_below(url: &str, before: u32) {
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("a temp dir");
    for entry in std::fs::read_dir(&source).expect("the migrations") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8");
        let number: u32 = name[..4].parse().expect("a numbered migration");
        if number < before {
            std::fs::copy(&path, dir.path().join(name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("a migrator");
    if backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        migrator.run(&pool).await.expect("earlier migrations");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        migrator.run(&pool).await.expect("earlier migrations");
        pool.close().await;
    }
}

#[tokio::test]
async fn migration_5_keeps_every_inbound_log_row_and_id_and_admits_source_cli() {
    use chrono::TimeZone;
    use entra_sync::ids::EntraId;
    use entra_sync::store::{ConnectionRow, InboundRow, LogQuery};
    use entra_sync::vocab::{Action, NotificationKind, RecordKind};

    for db in backends().await {
        let store = db.open().await;
        migrate_below(&db.url, 5).await;
        let at = |year| chrono::Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0).unwrap();
        store
            .ensure_connections(
                &[ConnectionRow {
                    id: "c".into(),
                    name: "C".into(),
                    tenant_id: "t".into(),
                    client_id: "x".into(),
                }],
                at(2024),
            )
            .await
            .expect("a connection");
        let row = |source: &str, year| InboundRow {
            id: 0,
            run_id: None,
            connection_id: cid("c"),
            source: source.into(),
            logged_at: at(year),
            entra_id: Some(EntraId(format!("person-{year}"))),
            upn: Some(format!("P{year}@Contoso.example")),
            target: Some(RecordKind::User),
            notification: NotificationKind::Updated,
            matched: serde_json::json!({"site_mapping": {"sequence": 10, "name": "Office"}}),
            action: Action::Updated,
            changes: serde_json::json!([{"record": "user", "field": "department", "before": "A", "after": "B"}]),
            message: Some(format!("row of {year}")),
            agent_id: None,
        };
        // Two rows; the newer id is pruned, so the highest id ever issued exceeds what is left.
        store
            .log(&[row("integrator", 2024), row("import", 2019)])
            .await
            .expect("log rows");
        assert_eq!(store.prune_inbound_log(at(2020)).await.expect("prune"), 1);
        let all = || async {
            store
                .inbound_log(&LogQuery {
                    limit: 100,
                    ..LogQuery::default()
                })
                .await
                .expect("the log")
        };
        // Read as stored: today's store reads columns later migrations add.
        let before = raw_log(&db.url).await;
        assert_eq!(before.len(), 1);
        assert!(
            store.log(&[row("cli", 2025)]).await.is_err(),
            "{}: 'cli' is refused before migration 5",
            store.backend()
        );

        store.migrate().await.expect("migration 5");
        assert_eq!(raw_log(&db.url).await, before, "{}", store.backend());
        let summary = |rows: &[InboundRow]| -> Vec<(i64, String, Option<String>, Option<String>)> {
            rows.iter()
                .map(|r| (r.id, r.source.clone(), r.upn.clone(), r.message.clone()))
                .collect()
        };
        assert_eq!(summary(&all().await), before);
        store
            .log(&[row("cli", 2025)])
            .await
            .expect("a 'cli' row after migration 5");
        let after = all().await;
        assert_eq!(
            after.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
            ["cli", "integrator"],
            "{}",
            store.backend()
        );
        // The pruned row's id (the kept row's + 1) is not issued again.
        assert!(
            after[0].id > before[0].0 + 1,
            "{}: ids continue after the highest ever issued: {after:?}",
            store.backend()
        );
        let by_upn = store
            .inbound_log(&LogQuery {
                upn: Some("p2024@contoso.EXAMPLE".into()),
                limit: 10,
                ..LogQuery::default()
            })
            .await
            .expect("by UPN");
        assert_eq!(summary(&by_upn), before, "{}", store.backend());
        drop(store);
        db.cleanup().await;
    }
}
