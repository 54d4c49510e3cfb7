//! Shared test scaffolding: a fresh database per test on every available backend.

use std::path::PathBuf;

use entra_sync::ids::ConnectionId;
use entra_sync::store::{self, Store};

/// The connection id `id`, which a test names as a literal known to be valid.
pub fn cid(id: &str) -> ConnectionId {
    ConnectionId::parse(id).expect("a valid connection id")
}

/// A fresh, empty database, removed again when it is dropped, also when the test panics (a
/// PostgreSQL database is dropped on the server; a SQLite file goes with its directory).
/// [`TestDb::cleanup`] removes it at a point of the test's choosing.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
    Done,
}

impl TestDb {
    pub async fn open(&self) -> Box<dyn Store> {
        store::connect(&self.url, 4)
            .await
            .expect("the test database opens")
    }

    pub async fn cleanup(mut self) {
        if let Cleanup::Postgres { admin_url, name } =
            std::mem::replace(&mut self.cleanup, Cleanup::Done)
        {
            drop_postgres(&admin_url, &name).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } =
            std::mem::replace(&mut self.cleanup, Cleanup::Done)
        else {
            return;
        };
        // Drop may run inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own drops the database.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(drop_postgres(&admin_url, &name));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("dropping the test database failed");
        }
    }
}

async fn drop_postgres(admin_url: &str, name: &str) {
    let admin = entra_sync::store::postgres::PostgresStore::connect(admin_url, 1)
        .await
        .expect("TEST_DATABASE_URL is reachable");
    admin
        .drop_database(name)
        .await
        .expect("dropping the test database");
}

/// A fresh SQLite file always; a fresh PostgreSQL database too when `TEST_DATABASE_URL` is set.
/// Under `CI=true` the PostgreSQL backend is mandatory: a missing or unreachable server fails the
/// test instead of skipping it.
pub async fn backends() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path: PathBuf = dir.path().join("entra-sync.db");
    let mut dbs = vec![TestDb {
        url: format!("sqlite://{}", path.display()),
        cleanup: Cleanup::Sqlite(dir),
    }];
    dbs.extend(postgres().await);
    dbs
}

/// A fresh database of the backend `url` names (a twin for comparisons).
pub async fn fresh_like(url: &str) -> TestDb {
    if url.starts_with("sqlite") {
        backends().await.remove(0)
    } else {
        postgres()
            .await
            .expect("PostgreSQL, as the database it is like")
    }
}

/// A fresh PostgreSQL database when `TEST_DATABASE_URL` is set; under `CI=true` it must be.
pub async fn postgres() -> Option<TestDb> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) => Some(fresh_postgres(admin_url).await),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI")
        }
        Err(_) => None,
    }
}

async fn fresh_postgres(admin_url: String) -> TestDb {
    let admin = entra_sync::store::postgres::PostgresStore::connect(&admin_url, 1)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    let name = format!("entra_sync_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .create_database(&name)
        .await
        .expect("creating a test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    TestDb {
        url: url.to_string(),
        cleanup: Cleanup::Postgres { admin_url, name },
    }
}

/// Whether the PostgreSQL database `url` names exists on its server.
async fn postgres_database_exists(admin_url: &str, url: &str) -> bool {
    let name = url::Url::parse(url)
        .expect("a URL")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let pool = sqlx::PgPool::connect(admin_url).await.expect("postgres");
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&pool)
        .await
        .expect("pg_database");
    pool.close().await;
    found.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_is_dropped_even_when_its_test_panics() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return; // SQLite files go with their temporary directory.
    };
    let db = fresh_postgres(admin_url.clone()).await;
    let url = db.url.clone();
    assert!(postgres_database_exists(&admin_url, &url).await);
    let panicked = tokio::spawn(async move {
        let _db = db;
        panic!("a failing test");
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    assert!(
        !postgres_database_exists(&admin_url, &url).await,
        "{url} outlived its test"
    );
}

/// Log output captured from a `tracing` subscriber writing to it.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("the capture lock").clone()).expect("utf-8 logs")
    }

    /// A subscriber writing every level to this capture, without colours.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the capture lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A service over the database `url` configured by `text` (named `name` in errors), migrated
/// and declared, on a manual clock at 2026-03-02 09:00 UTC with live Graph clients.
pub async fn desk_service(
    text: &str,
    name: &str,
    url: &str,
) -> (
    entra_sync::service::Service,
    std::sync::Arc<dyn Store>,
    std::sync::Arc<entra_sync::clock::ManualClock>,
) {
    use chrono::TimeZone;
    use std::sync::Arc;
    let settings = entra_sync::config::load::load_str(
        text,
        name,
        std::path::Path::new("."),
        &entra_sync::config::load::Environment::default(),
        &entra_sync::config::ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = store::connect(url, 4)
        .await
        .expect("the test database opens")
        .into();
    store.migrate().await.expect("migrations");
    let clock = Arc::new(entra_sync::clock::ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let graph = Arc::new(entra_sync::app::LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service =
        entra_sync::service::Service::new(Arc::new(settings), store.clone(), clock.clone(), graph);
    service.declare().await.expect("declared");
    (service, store, clock)
}
