//! The database going away mid-run and coming back, on PostgreSQL: a loopback TCP proxy between
//! the store and the server is cut while a full import writes (every open connection dropped,
//! new ones refused) and restored. The run fails with an error that names the database; nothing
//! committed is lost, no one is deactivated, and the next run of the same service converges to
//! the tables of an uninterrupted run, one inbound-log row per person.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entra_sync::service::{Service, ServiceError, SyncRequest};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::RunStatus;
use graph_emulator::{EmulatorConfig, Running};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config_fixture::ConfigFixture;
use crate::crash::{scalar, semantic};
use crate::emulator::start;
use crate::support::{TestDb, postgres};

const PEOPLE: usize = 1_500;

/// A loopback TCP proxy to `upstream` that can be cut (open connections dropped, new ones
/// closed at once) and restored.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let (flag, signal) = (cut.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = signal.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { port, cut, cuts }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }
}

/// A service for `contoso` over `url`, its leases lasting 3 s.
async fn service(running: &Running, url: &str) -> Service {
    let text = format!(
        "{}\n[daemon]\nlease_ttl = \"3s\"\n",
        ConfigFixture::contoso(running, url).render()
    );
    crate::support::desk_service(&text, "outage.toml", url)
        .await
        .0
}

fn sync(full: bool, wait: LeaseWait) -> SyncRequest {
    SyncRequest {
        connection: "contoso".to_owned(),
        full,
        mode: Mode::Apply,
        wait,
        trigger: "test".to_owned(),
    }
}

async fn people_logged(url: &str) -> (i64, i64) {
    (
        scalar(
            url,
            "SELECT COUNT(DISTINCT entra_id) FROM inbound_log WHERE entra_id IS NOT NULL",
        )
        .await,
        scalar(
            url,
            "SELECT COUNT(*) FROM inbound_log WHERE entra_id IS NOT NULL",
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_cut_mid_run_fails_the_run_loses_nothing_and_the_next_run_converges() {
    let Some(reference_db) = postgres().await else {
        eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL outage test needs a server");
        return;
    };
    let running = start(EmulatorConfig {
        users: PEOPLE,
        latency: Duration::from_millis(20),
        ..EmulatorConfig::default()
    })
    .await;
    // The uninterrupted run.
    let reference = service(&running, &reference_db.url).await;
    let report = reference.sync(sync(true, LeaseWait::Refuse)).await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    let expected = semantic(&reference_db.url).await;
    let people = expected["entra_users"].len() as i64;
    reference_db.cleanup().await;

    let db: TestDb = postgres().await.unwrap();
    let upstream = {
        let url = url::Url::parse(&db.url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    };
    let proxy = Proxy::start(upstream).await;
    let service = service(&running, &proxy.url(&db.url)).await;
    let run = tokio::spawn({
        let service = service.clone();
        async move { service.sync(sync(true, LeaseWait::Refuse)).await }
    });
    // Cut once the run has committed part of the tenant (read directly, not through the proxy).
    loop {
        let committed = scalar(&db.url, "SELECT COUNT(*) FROM inbound_log").await;
        if committed >= 300 {
            break;
        }
        assert!(!run.is_finished(), "the run ended before the cut");
        // Polling for progress, not timing anything.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    let outcome = run.await.unwrap();
    let error = match outcome {
        Err(error) => error,
        Ok(report) => panic!("the run survived the cut: {:?}", report.status),
    };
    let message = error.to_string();
    eprintln!("the cut run: {message}");
    assert!(
        !matches!(error, ServiceError::Graph(_)),
        "a database failure, not Graph's: {error:?}"
    );
    assert!(message.contains("database unavailable"), "{message}");

    // Nothing committed is lost, nothing half-applied, no one deactivated.
    let (logged, rows) = people_logged(&db.url).await;
    assert!(
        logged >= 300 && logged == rows,
        "{logged} people in {rows} rows"
    );
    // A person's records and their log row commit together: no record without its row, no
    // `created` row without its record.
    for (what, sql) in [
        (
            "users without a log row",
            "SELECT COUNT(*) FROM users u WHERE u.entra_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM inbound_log l WHERE l.entra_id = u.entra_id)",
        ),
        (
            "agents without a log row",
            "SELECT COUNT(*) FROM agents a WHERE a.entra_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM inbound_log l WHERE l.entra_id = a.entra_id)",
        ),
        (
            "created users without a record",
            "SELECT COUNT(*) FROM inbound_log l WHERE l.action = 'created' AND l.target = 'user' \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.entra_id = l.entra_id)",
        ),
        (
            "created agents without a record",
            "SELECT COUNT(*) FROM inbound_log l WHERE l.action = 'created' AND l.target = 'agent' \
             AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.entra_id = l.entra_id)",
        ),
    ] {
        assert_eq!(scalar(&db.url, sql).await, 0, "{what}");
    }
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM inbound_log WHERE action = 'deactivated'"
        )
        .await,
        0,
        "no one deactivated"
    );

    // Back: the same service's next (ordinary) run takes over once the cut run's lease has
    // expired, resumes the unfinished round and the pending people, and converges.
    proxy.restore();
    let report = service
        .sync(sync(false, LeaseWait::Wait(Duration::from_secs(30))))
        .await
        .expect("the run after the outage");
    assert_eq!(report.status, RunStatus::Succeeded);
    let got = semantic(&db.url).await;
    for (table, rows) in &expected {
        assert_eq!(&got[table], rows, "{table} differs after the outage");
    }
    assert_eq!(people_logged(&db.url).await, (people, people));
    let interrupted = scalar(
        &db.url,
        "SELECT COUNT(*) FROM sync_runs WHERE status = 'failed' AND ended_at IS NOT NULL",
    )
    .await;
    assert_eq!(interrupted, 1, "the cut run is recorded as failed");
    db.cleanup().await;
}

/// Sets or clears the immutable attribute of the SQLite database's files (the database, its
/// write-ahead log and shared memory): even root cannot write them then, as on a file system
/// remounted read-only.
fn immutable(path: &Path, on: bool) {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if !Path::new(&file).exists() {
            continue;
        }
        let status = std::process::Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(&file)
            .status()
            .expect("chattr runs");
        assert!(status.success(), "chattr {file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_file_turning_read_only_mid_run_fails_the_run_and_the_next_run_converges() {
    let running = start(EmulatorConfig {
        users: PEOPLE,
        latency: Duration::from_millis(20),
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url_of = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let reference = service(&running, &url_of("reference.db")).await;
    reference.sync(sync(true, LeaseWait::Refuse)).await.unwrap();
    let expected = semantic(&url_of("reference.db")).await;
    let people = expected["entra_users"].len() as i64;

    let url = url_of("outage.db");
    let path = dir.path().join("outage.db");
    let service = service(&running, &url).await;
    let run = tokio::spawn({
        let service = service.clone();
        async move { service.sync(sync(true, LeaseWait::Refuse)).await }
    });
    loop {
        if scalar(&url, "SELECT COUNT(*) FROM inbound_log").await >= 300 {
            break;
        }
        assert!(!run.is_finished(), "the run ended before the cut");
        // Polling for progress, not timing anything.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    immutable(&path, true);
    let outcome = run.await.unwrap();
    immutable(&path, false);
    let error = match outcome {
        Err(error) => error,
        Ok(report) => panic!("the run survived a read-only file: {:?}", report.status),
    };
    let message = error.to_string();
    eprintln!("the read-only run: {message}");
    assert!(message.contains("cannot be written"), "{message}");
    assert_eq!(
        scalar(
            &url,
            "SELECT COUNT(*) FROM inbound_log WHERE action = 'deactivated'"
        )
        .await,
        0,
        "no one deactivated"
    );
    let (logged, rows) = people_logged(&url).await;
    assert!(
        logged >= 300 && logged == rows,
        "{logged} people in {rows} rows"
    );

    let report = service
        .sync(sync(false, LeaseWait::Wait(Duration::from_secs(30))))
        .await
        .expect("the run once the file is writable again");
    assert_eq!(report.status, RunStatus::Succeeded);
    let got = semantic(&url).await;
    for (table, rows) in &expected {
        assert_eq!(&got[table], rows, "{table} differs after the outage");
    }
    assert_eq!(people_logged(&url).await, (people, people));
}
