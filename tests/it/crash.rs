//! Crash safety: the real binary is killed (SIGKILL) at several points of a full import; a
//! restart converges to exactly the state of an uninterrupted run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use graph_emulator::{EmulatorConfig, Running};
use sqlx::{AssertSqlSafe, Row};

use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::{TestDb, backends};

const PEOPLE: usize = 2_500;

/// What must be identical after a crash and restart: every record keyed by Entra id, never by
/// row id or timestamp.
const SEMANTIC: [(&str, &str); 9] = [
    (
        "users",
        "SELECT u.entra_id, u.name, u.emailaddress, u.login, u.jobtitle, u.department, u.manager, \
      CAST(u.custom_fields AS TEXT), u.inactive, u.inactive_reason, s.name FROM users u LEFT JOIN sites s ON s.id = u.site_id",
    ),
    (
        "agents",
        "SELECT a.entra_id, a.name, a.licence_type, a.inactive, a.inactive_reason, m.entra_id, t.name, u.entra_id \
      FROM agents a JOIN users u ON u.id = a.user_id LEFT JOIN agents m ON m.id = a.linemanager_id \
      LEFT JOIN teams t ON t.id = a.default_team_id",
    ),
    (
        "user_roles",
        "SELECT u.entra_id, r.name, g.source FROM user_roles g JOIN users u ON u.id = g.user_id JOIN roles r ON r.id = g.role_id",
    ),
    (
        "agent_roles",
        "SELECT a.entra_id, r.name, g.source FROM agent_roles g JOIN agents a ON a.id = g.agent_id JOIN roles r ON r.id = g.role_id",
    ),
    (
        "agent_teams",
        "SELECT a.entra_id, t.name, m.can_be_assigned, m.sees_unassigned, m.sees_other_agents FROM agent_teams m \
      JOIN agents a ON a.id = m.agent_id JOIN teams t ON t.id = m.team_id",
    ),
    (
        "cab_members",
        "SELECT COALESCE(u.entra_id, a.entra_id), c.name, r.name FROM cab_members m JOIN cabs c ON c.id = m.cab_id \
      LEFT JOIN users u ON u.id = m.user_id LEFT JOIN agents a ON a.id = m.agent_id LEFT JOIN cab_roles r ON r.id = m.cab_role_id",
    ),
    (
        "user_licences",
        "SELECT u.entra_id, l.sku_id FROM user_licences ul JOIN users u ON u.id = ul.user_id JOIN licences l ON l.id = ul.licence_id",
    ),
    (
        "entra_users",
        "SELECT u.entra_id, CAST(attributes AS TEXT), removed, p.notification FROM entra_users u \
         LEFT JOIN entra_pending p ON p.connection_id = u.connection_id AND p.entra_id = u.entra_id",
    ),
    (
        "entra_memberships",
        "SELECT group_id, member_id, member_type FROM entra_memberships",
    ),
];

pub type Rows = Vec<Vec<Option<String>>>;

pub async fn semantic(url: &str) -> BTreeMap<&'static str, Rows> {
    let mut out = BTreeMap::new();
    for (name, sql) in SEMANTIC {
        // Every column as text, the same way on both backends.
        let wrapped = if url.starts_with("sqlite") {
            let sql = sql
                .replace("CAST(u.custom_fields AS TEXT)", "u.custom_fields")
                .replace("CAST(attributes AS TEXT)", "attributes");
            format!("SELECT * FROM ({sql})")
        } else {
            sql.to_owned()
        };
        let mut rows = text_rows(url, &wrapped).await;
        rows.sort();
        out.insert(name, rows);
    }
    out
}

/// The rows of `sql`, every column as text, the same way on both backends.
pub async fn text_rows(url: &str, sql: &str) -> Rows {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let rows = sqlx::query(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&pool)
            .await
            .expect("rows");
        let out = rows
            .iter()
            .map(|r| (0..r.len()).map(|i| text_of_sqlite(r, i)).collect())
            .collect();
        pool.close().await;
        out
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT to_jsonb(q)::text FROM ({sql}) q"
        )))
        .fetch_all(&pool)
        .await
        .expect("rows");
        let out = rows
            .iter()
            .map(|r| vec![r.get::<Option<String>, _>(0)])
            .collect();
        pool.close().await;
        out
    }
}

fn text_of_sqlite(row: &sqlx::sqlite::SqliteRow, i: usize) -> Option<String> {
    row.try_get::<Option<String>, _>(i)
        .ok()
        .flatten()
        .or_else(|| {
            row.try_get::<Option<i64>, _>(i)
                .ok()
                .flatten()
                .map(|v| v.to_string())
        })
}

/// A count, or 0 while the database or its tables do not exist yet (the child creates them).
pub async fn scalar(url: &str, sql: &'static str) -> i64 {
    if url.starts_with("sqlite") {
        let Ok(pool) = sqlx::SqlitePool::connect(url).await else {
            return 0;
        };
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap_or(0);
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap_or(0);
        pool.close().await;
        n
    }
}

/// Committed progress: mirrored people (committed pages) plus inbound-log rows (committed batches).
pub async fn progress(url: &str) -> i64 {
    scalar(
        url,
        "SELECT (SELECT COUNT(*) FROM entra_users) + (SELECT COUNT(*) FROM inbound_log)",
    )
    .await
}

/// How long the test binaries' leases last: a killed holder's lease is taken over this long
/// after its last renewal.
pub const LEASE_TTL: &str = "2s";

/// `entra-sync sync contoso` with `args` (e.g. `--full`, `--wait`), its leases lasting
/// [`LEASE_TTL`].
pub fn spawn_sync_with(dir: &Path, url: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args([
            "--config",
            dir.join("entra-sync.toml").to_str().expect("utf-8"),
            "--database-url",
            url,
            "sync",
            "contoso",
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .env("ENTRA_SYNC__DAEMON__LEASE_TTL", LEASE_TTL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

fn spawn_sync(dir: &Path, url: &str, full: bool) -> Child {
    // A restart after a kill waits for the killed run's lease to expire.
    spawn_sync_with(dir, url, if full { &["--full"] } else { &["--wait"] })
}

/// Waits for `child` to end, insisting that it succeeded; `what` names it in the failure.
pub async fn finish(child: Child, what: &str) {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn write_config(dir: &Path, running: &Running, url: &str) {
    std::fs::write(
        dir.join("entra-sync.toml"),
        ConfigFixture::contoso(running, url).render(),
    )
    .expect("config");
}

async fn reference(running: &Running, db: &TestDb, dir: &Path) -> BTreeMap<&'static str, Rows> {
    write_config(dir, running, &db.url);
    finish(spawn_sync(dir, &db.url, true), "the uninterrupted run").await;
    semantic(&db.url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_full_import_resumes_to_the_state_of_an_uninterrupted_one() {
    let running = start(EmulatorConfig {
        users: PEOPLE,
        latency: Duration::from_millis(40),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    // The uninterrupted run, once per backend (rows are compared within a backend).
    let mut expected = BTreeMap::new();
    for db in backends().await {
        expected.insert(
            is_postgres(&db.url),
            reference(&running, &db, dir.path()).await,
        );
        let pending = scalar(&db.url, "SELECT COUNT(*) FROM entra_pending").await;
        assert_eq!(pending, 0, "an uninterrupted run leaves nothing pending");
        db.cleanup().await;
    }
    let people = expected[&false]["entra_users"].len() as i64;
    assert!(people >= PEOPLE as i64);
    // Kill points: after the first and second users pages, and after the first, third and fourth
    // evaluated batches of 500.
    let kill_points = [999, 1_998, people + 500, people + 1_500, people + 2_000];
    let mut late = 0;
    for (i, point) in kill_points.iter().enumerate() {
        for db in backends().await {
            write_config(dir.path(), &running, &db.url);
            let mut child = spawn_sync(dir.path(), &db.url, true);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    panic!("kill point {i} ({point}) was not reached before the run ended");
                }
                if progress(&db.url).await >= *point {
                    child.kill().expect("SIGKILL");
                    let _ = child.wait();
                    break;
                }
                // Polling for progress, not timing anything.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let pending = scalar(&db.url, "SELECT COUNT(*) FROM entra_pending").await;
            eprintln!(
                "kill point {i} ({point}): {pending} pending, progress {}",
                progress(&db.url).await
            );
            // The last batch commits 500 people at once: the run may have finished it, and
            // itself, between one poll and the kill. That kill then interrupted nothing; the
            // restart must still converge. At most one point may be so late.
            let finished = scalar(
                &db.url,
                "SELECT COUNT(*) FROM sync_runs WHERE id = 1 AND status = 'succeeded'",
            )
            .await;
            // Restart: an ordinary run takes over the killed run's lease once it expired, marks
            // the killed run interrupted, and resumes the unfinished round and the pending people.
            finish(spawn_sync(dir.path(), &db.url, false), "the restart").await;
            let interrupted = scalar(
                &db.url,
                "SELECT COUNT(*) FROM sync_runs WHERE id = 1 AND status = 'failed' \
                 AND error LIKE 'interrupted%' AND ended_at IS NOT NULL",
            )
            .await;
            if finished == 1 {
                eprintln!("kill point {i} ({point}): the run had finished before the kill");
                late += 1;
                assert!(
                    late <= 1,
                    "kill point {i}: a second kill came after the run's end"
                );
            } else {
                assert_eq!(
                    interrupted, 1,
                    "kill point {i}: the killed run is marked interrupted"
                );
            }
            let got = semantic(&db.url).await;
            for (table, rows) in &expected[&is_postgres(&db.url)] {
                assert_eq!(
                    &got[table], rows,
                    "kill point {i} ({point}; {pending} pending at the kill): {table} differs"
                );
            }
            // No lost and no doubled inbound-log rows: exactly one per person across both runs.
            let logged = scalar(
                &db.url,
                "SELECT COUNT(DISTINCT entra_id) FROM inbound_log WHERE entra_id IS NOT NULL",
            )
            .await;
            let rows = scalar(
                &db.url,
                "SELECT COUNT(*) FROM inbound_log WHERE entra_id IS NOT NULL",
            )
            .await;
            assert_eq!((logged, rows), (people, people), "kill point {i}");
            db.cleanup().await;
        }
    }
}

fn is_postgres(url: &str) -> bool {
    !url.starts_with("sqlite")
}
