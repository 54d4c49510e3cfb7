//! Leases in the store, on both backends: one holder at a time, expiry by the database's clock,
//! and the fence that refuses the writes of a holder whose lease was taken over.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use entra_sync::store::lease::{Claim, Lease, LeaseHolder, connection_lease};
use entra_sync::store::*;
use entra_sync::vocab::RunKind;

use graph_emulator::EmulatorConfig;

use crate::crash::{progress, scalar, semantic, spawn_sync_with, write_config};
use crate::emulator::start;
use crate::snapshot::tables;
use crate::support::{backends, cid};

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
        let name = connection_lease(&cid("contoso"));
        let (a, b) = (holder("host-a", 11), holder("host-b", 22));

        let first = acquired(store.as_ref(), &name, &a, minute).await;
        assert_eq!(first.token, 1, "{}", store.backend());
        match store.acquire_lease(&name, &b, minute).await.expect("claim") {
            Claim::Held(info) => {
                assert_eq!(
                    (info.host.as_str(), info.pid, info.token),
                    ("host-a", 11, 1)
                );
                // Both by the database's clock, in one statement: exactly the claim's TTL apart.
                assert_eq!(
                    info.expires_at - info.acquired_at,
                    chrono::Duration::from_std(minute).unwrap()
                );
            }
            Claim::Acquired(lease) => panic!("a live lease was taken: {lease:?}"),
        }
        assert!(store.renew_lease(&first, minute).await.expect("renew"));

        // A's writes go through while it holds the lease.
        let fenced_a = store.fenced(&first);
        let run = fenced_a
            .start_run(&cid("contoso"), RunKind::Delta, "test", now)
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
            .start_run(&cid("contoso"), RunKind::Delta, "test", now)
            .await;
        assert!(
            matches!(&refused, Err(StoreError::LeaseLost(n)) if *n == name),
            "{}: {refused:?}",
            store.backend()
        );
        assert!(matches!(
            fenced_a.clear_delta_states(&cid("contoso")).await,
            Err(StoreError::LeaseLost(_))
        ));
        assert!(!store.renew_lease(&first, minute).await.expect("renew"));
        assert_eq!(
            store
                .runs(Some(&cid("contoso")), 10)
                .await
                .expect("runs")
                .len(),
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
            .interrupt_runs(&cid("contoso"), "interrupted", now)
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

/// The output of a finished child: (exit code, stdout, stderr).
async fn outcome(child: std::process::Child) -> (i32, String, String) {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs that never held or applied a deactivation, and how many runs there are.
async fn deactivations_and_runs(url: &str) -> (i64, i64) {
    let deactivations = scalar(
        url,
        "SELECT COUNT(*) FROM inbound_log WHERE action IN ('deactivated', 'quarantined')",
    )
    .await;
    (
        deactivations,
        scalar(url, "SELECT COUNT(*) FROM sync_runs").await,
    )
}

/// Two `sync --full --wait` of one connection started at the same moment, on an empty migrated
/// database and then on the populated one: they run one after the other, the end state is that
/// of one run, and no deactivation is held or applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_started_together_run_one_after_the_other() {
    let running = start(EmulatorConfig {
        users: 1_200,
        latency: Duration::from_millis(10),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    for db in backends().await {
        // The state of one run, on a database of its own.
        let reference = backends()
            .await
            .into_iter()
            .find(|r| r.url.starts_with("sqlite") == db.url.starts_with("sqlite"))
            .expect("the same backend");
        write_config(dir.path(), &running, &reference.url);
        let (code, _, err) =
            outcome(spawn_sync_with(dir.path(), &reference.url, &["--full"])).await;
        assert_eq!(code, 0, "{err}");
        let expected = semantic(&reference.url).await;
        reference.cleanup().await;

        write_config(dir.path(), &running, &db.url);
        let (code, _, err) = entra_sync_migrate(dir.path(), &db.url);
        assert_eq!(code, 0, "{err}");
        for round in ["empty", "populated"] {
            let first = spawn_sync_with(dir.path(), &db.url, &["--full", "--wait"]);
            let second = spawn_sync_with(dir.path(), &db.url, &["--full", "--wait"]);
            let (a, b) = tokio::join!(outcome(first), outcome(second));
            assert_eq!((a.0, b.0), (0, 0), "{round}: {}\n{}", a.2, b.2);
            assert_eq!(semantic(&db.url).await, expected, "{round} database");
        }
        let (deactivations, runs) = deactivations_and_runs(&db.url).await;
        assert_eq!((deactivations, runs), (0, 4), "{}", db.url);
        // One after the other: no run started before the one before it ended.
        let overlapping = scalar(
            &db.url,
            "SELECT COUNT(*) FROM sync_runs a JOIN sync_runs b ON b.id > a.id \
             WHERE b.started_at < a.ended_at OR a.status <> 'succeeded'",
        )
        .await;
        assert_eq!(overlapping, 0, "{}", db.url);
        db.cleanup().await;
    }
}

fn entra_sync_migrate(dir: &std::path::Path, url: &str) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args([
            "--config",
            dir.join("entra-sync.toml").to_str().expect("utf-8"),
            "--database-url",
            url,
            "migrate",
        ])
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits until the child has committed `at_least` rows of progress (mirrored people and
/// inbound-log rows), panicking if it ends first.
async fn until_progress(child: &mut std::process::Child, url: &str, at_least: i64) {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before it made {at_least} rows of progress");
        }
        if progress(url).await >= at_least {
            return;
        }
        // Polling for progress, not timing anything.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A second run without `--wait` while one is under way is refused at once with exit 4, and the
/// message names the holder's host and process id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_without_wait_is_refused_naming_the_holder() {
    let running = start(EmulatorConfig {
        users: 2_000,
        latency: Duration::from_millis(150),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    for db in backends().await {
        write_config(dir.path(), &running, &db.url);
        let mut first = spawn_sync_with(dir.path(), &db.url, &["--full"]);
        until_progress(&mut first, &db.url, 1).await;
        let (code, _, err) = outcome(spawn_sync_with(dir.path(), &db.url, &[])).await;
        assert_eq!(code, 4, "{err}");
        let pid = first.id().to_string();
        assert!(
            err.contains("connection \"contoso\" is already being synced by")
                && err.contains(&format!("(pid {pid})"))
                && err.contains("--wait"),
            "{err}"
        );
        let (code, _, err) = outcome(first).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(deactivations_and_runs(&db.url).await, (0, 1));
        db.cleanup().await;
    }
}

/// Whether a stopped process may hold a transaction open: SQLite's write lock is taken, or a
/// PostgreSQL session of the database other than ours is inside a transaction.
async fn a_transaction_is_open(url: &str) -> bool {
    if url.starts_with("sqlite") {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .expect("url")
            .busy_timeout(Duration::ZERO);
        let mut connection = sqlx::ConnectOptions::connect(&options)
            .await
            .expect("sqlite");
        let open = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await
            .is_err();
        if !open {
            sqlx::query("ROLLBACK")
                .execute(&mut connection)
                .await
                .expect("rollback");
        }
        open
    } else {
        scalar(
            url,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
        )
        .await
            > 0
    }
}

fn signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal}");
}

/// A run paused (SIGSTOP) past its lease's expiry while another run takes the lease over and
/// completes: once continued (SIGCONT), it commits nothing more and exits non-zero, and the run
/// that took over marked it interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_was_taken_over_commits_nothing_more() {
    let running = start(EmulatorConfig {
        users: 3_000,
        latency: Duration::from_millis(120),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    for db in backends().await {
        write_config(dir.path(), &running, &db.url);
        let mut paused = spawn_sync_with(dir.path(), &db.url, &["--full"]);
        until_progress(&mut paused, &db.url, 999).await;
        // Stop it between two transactions: stopped inside one, it would hold the database's
        // write lock (SQLite) or the lease row (PostgreSQL) until it is continued.
        loop {
            signal(&paused, "-STOP");
            if !a_transaction_is_open(&db.url).await {
                break;
            }
            signal(&paused, "-CONT");
            tokio::task::yield_now().await;
        }
        let (code, _, err) =
            outcome(spawn_sync_with(dir.path(), &db.url, &["--full", "--wait"])).await;
        assert_eq!(code, 0, "the run that takes over: {err}");
        let after_takeover = tables(&db.url).await;

        signal(&paused, "-CONT");
        let (code, _, err) = outcome(paused).await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("lost the connection's lease"), "{err}");
        assert_eq!(
            tables(&db.url).await,
            after_takeover,
            "the continued run wrote after losing its lease ({})",
            db.url
        );
        let statuses = scalar(
            &db.url,
            "SELECT COUNT(*) FROM sync_runs WHERE (id = 1 AND status = 'failed' AND error LIKE 'interrupted%') \
             OR (id = 2 AND status = 'succeeded')",
        )
        .await;
        assert_eq!(statuses, 2, "{}", db.url);
        db.cleanup().await;
    }
}

/// Ctrl-C (SIGINT) stops a `sync` at its next checkpoint: it is recorded cancelled, releases the
/// connection's lease at once (the next run needs no `--wait`), and the next run converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_is_recorded_cancelled_and_the_next_run_converges() {
    let running = start(EmulatorConfig {
        users: 2_000,
        latency: Duration::from_millis(100),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    for db in backends().await {
        write_config(dir.path(), &running, &db.url);
        let mut interrupted = spawn_sync_with(dir.path(), &db.url, &["--full"]);
        until_progress(&mut interrupted, &db.url, 1).await;
        signal(&interrupted, "-INT");
        let (code, out, err) = outcome(interrupted).await;
        assert_eq!(code, 1, "{out}\n{err}");
        let cancelled = scalar(
            &db.url,
            "SELECT COUNT(*) FROM sync_runs WHERE id = 1 AND status = 'cancelled' \
             AND error = 'cancelled: the command was interrupted'",
        )
        .await;
        assert_eq!(cancelled, 1, "{out}\n{err}");
        assert_eq!(deactivations_and_runs(&db.url).await, (0, 1));
        let (code, _, err) = outcome(spawn_sync_with(dir.path(), &db.url, &[])).await;
        assert_eq!(code, 0, "the next run, without --wait: {err}");
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM entra_pending").await,
            0,
            "nothing left pending"
        );
        db.cleanup().await;
    }
}
