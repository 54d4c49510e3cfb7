//! `migrate` creates exactly the tables of BRIEF §2, plus the one internal table the sync keeps
//! beside the mirror, on both backends, and is idempotent.

use crate::support::backends;

/// The BRIEF §2 tables and `entra_pending` (the people read but not yet evaluated), by name.
const TABLES: [&str; 29] = [
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
    "roles",
    "sites",
    "sync_runs",
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
