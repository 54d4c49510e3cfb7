//! Shared test scaffolding: a fresh database per test on every available backend.

use std::path::PathBuf;

use entra_sync::store::{self, Store};

/// A fresh, empty database that is removed again by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn open(&self) -> Box<dyn Store> {
        store::connect(&self.url, 4)
            .await
            .expect("the test database opens")
    }

    pub async fn cleanup(self) {
        if let Cleanup::Postgres { admin_url, name } = self.cleanup {
            let admin = entra_sync::store::postgres::PostgresStore::connect(&admin_url, 1)
                .await
                .expect("TEST_DATABASE_URL is reachable");
            admin
                .drop_database(&name)
                .await
                .expect("dropping the test database");
        }
    }
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
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) => dbs.push(fresh_postgres(admin_url).await),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI")
        }
        Err(_) => {}
    }
    dbs
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
