//! Leases in the store, on both backends: one holder at a time, expiry by the database's clock,
//! and the fence that refuses the writes of a holder whose lease was taken over.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use entra_sync::store::lease::{Claim, Lease, LeaseHolder, connection_lease};
use entra_sync::store::*;

use crate::support::backends;

fn holder(name: &str, pid: u32) -> LeaseHolder {
    LeaseHolder {
        id: format!("{name}:{pid}:test"),
        host: name.to_owned(),
        pid,
    }
}

async fn acquired(store: &dyn Store, name: &str, who: &LeaseHolder, ttl: Duration) -> Lease {
    match store.acquire_lease(name, who, ttl).await.expect("claim") {
        Claim::Acquired(lease) => lease,
        Claim::Held(info) => panic!("{name} is held by {info:?}"),
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_taken_over_holder_writes_nothing_more() {
    let minute = Duration::from_secs(60);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    for db in backends().await {
        let store: std::sync::Arc<dyn Store> = db.open().await.into();
        store.migrate().await.expect("migrate");
        store
            .ensure_connections(
                &[ConnectionRow {
                    id: "contoso".into(),
                    name: "Contoso".into(),
                    tenant_id: "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
                    client_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
                }],
                now,
            )
            .await
            .expect("connection");
        let name = connection_lease("contoso");
        let (a, b) = (holder("host-a", 11), holder("host-b", 22));

        let first = acquired(store.as_ref(), &name, &a, minute).await;
        assert_eq!(first.token, 1, "{}", store.backend());
        match store.acquire_lease(&name, &b, minute).await.expect("claim") {
            Claim::Held(info) => {
                assert_eq!(
                    (info.host.as_str(), info.pid, info.token),
                    ("host-a", 11, 1)
                );
                assert!(info.expires_at > info.acquired_at);
            }
            Claim::Acquired(lease) => panic!("a live lease was taken: {lease:?}"),
        }
        assert!(store.renew_lease(&first, minute).await.expect("renew"));

        // A's writes go through while it holds the lease.
        let fenced_a = store.fenced(&first);
        let run = fenced_a
            .start_run("contoso", RunKind::Delta, "test", now)
            .await
            .expect("a write under a held lease");

        // A pauses past its expiry (a renewal to zero stands for it) and B takes over.
        assert!(
            store
                .renew_lease(&first, Duration::ZERO)
                .await
                .expect("renew")
        );
        let second = acquired(store.as_ref(), &name, &b, minute).await;
        assert_eq!(second.token, 2, "{}", store.backend());

        // From now on A writes nothing: neither a run row nor a log row.
        let refused = fenced_a
            .start_run("contoso", RunKind::Delta, "test", now)
            .await;
        assert!(
            matches!(&refused, Err(StoreError::LeaseLost(n)) if *n == name),
            "{}: {refused:?}",
            store.backend()
        );
        assert!(matches!(
            fenced_a.clear_delta_states("contoso").await,
            Err(StoreError::LeaseLost(_))
        ));
        assert!(!store.renew_lease(&first, minute).await.expect("renew"));
        assert_eq!(
            store.runs(Some("contoso"), 10).await.expect("runs").len(),
            1
        );

        // A's release leaves B's lease alone; B's own release frees it for the next holder.
        store.release_lease(&first).await.expect("release");
        let c = holder("host-c", 33);
        assert!(matches!(
            store.acquire_lease(&name, &c, minute).await.expect("claim"),
            Claim::Held(info) if info.host == "host-b"
        ));
        let fenced_b = store.fenced(&second);
        // B marks the run A left running as interrupted.
        let interrupted = fenced_b
            .interrupt_runs("contoso", "interrupted", now)
            .await
            .expect("interrupt");
        assert_eq!(interrupted, vec![run]);
        let row = store.run(run).await.expect("run row");
        assert_eq!(
            (row.status.as_str(), row.error.as_deref()),
            ("failed", Some("interrupted"))
        );
        store.release_lease(&second).await.expect("release");
        let third = acquired(store.as_ref(), &name, &c, minute).await;
        assert_eq!(third.token, 3, "tokens never repeat ({})", store.backend());
        db.cleanup().await;
    }
}
