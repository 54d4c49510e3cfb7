//! PostgreSQL named by a TCP host is reached through the store's relay (a Unix socket in a private
//! directory, relayed with TCP_NODELAY): statements of any size pass, the relay lasts as long as
//! any copy of the store, and an unreachable server is reported by host and port.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use entra_sync::clock::{Clock, SystemClock};
use entra_sync::store::postgres::PostgresStore;
use entra_sync::store::{NewUser, ServiceDesk, UserFields};

use crate::support::postgres;

/// `url` when it names a TCP host (the relay's case) rather than a Unix socket.
fn tcp_url(url: &str) -> Option<&str> {
    let options = PgConnectOptions::from_str(url).expect("TEST_DATABASE_URL is a PostgreSQL URL");
    if options.get_socket().is_some() || options.get_host().starts_with('/') {
        eprintln!("TEST_DATABASE_URL names a Unix socket: the TCP relay is not used");
        return None;
    }
    Some(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_tcp_url_writes_and_reads_statements_larger_than_a_segment() {
    let Some(db) = postgres().await else { return };
    let Some(url) = tcp_url(&db.url) else { return };
    let store = PostgresStore::connect(url, 2).await.expect("connected");
    assert!(
        store.relay_dir().is_some(),
        "a TCP URL goes through the relay"
    );
    store.migrate().await.expect("migrated");

    // Two hundred kilobytes: the statement and the row read back each span many TCP segments.
    let jobtitle: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let user = NewUser {
        fields: UserFields {
            name: "Ada Lovelace".to_owned(),
            jobtitle: Some(jobtitle.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let id = store
        .insert_user(&user, Clock::now(&SystemClock))
        .await
        .expect("written");
    let stored = store.user(id).await.expect("read back");
    assert_eq!(stored.fields.name, "Ada Lovelace");
    assert!(
        stored.fields.jobtitle == Some(jobtitle),
        "the 200 KB job title came back changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_lasts_while_any_copy_of_the_store_does_and_its_directory_goes_with_the_last() {
    let Some(db) = postgres().await else { return };
    let Some(url) = tcp_url(&db.url) else { return };
    let store = PostgresStore::connect(url, 2).await.expect("connected");
    let copy = store.clone();
    let dir = store
        .relay_dir()
        .expect("a TCP URL goes through the relay")
        .to_owned();
    let port = PgConnectOptions::from_str(url).expect("a URL").get_port();
    assert!(
        dir.join(format!(".s.PGSQL.{port}")).exists(),
        "the socket sqlx connects to"
    );

    drop(store);
    assert!(dir.exists(), "a copy still uses the relay");
    assert_eq!(
        copy.table_names()
            .await
            .expect("the copy still reaches the server"),
        Vec::<String>::new()
    );

    drop(copy);
    assert!(
        !dir.exists(),
        "the relay's directory is removed with the last copy"
    );
}

#[tokio::test]
async fn an_unreachable_tcp_server_is_reported_by_host_and_port_within_the_acquire_timeout() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/test");
    let connecting = PostgresStore::connect(&url, 1);
    let error = tokio::time::timeout(Duration::from_secs(20), connecting)
        .await
        .expect("the connect gives up by itself")
        .expect_err("nothing listens there")
        .to_string();
    assert!(
        error.contains(&format!("PostgreSQL at 127.0.0.1:{port}")),
        "{error}"
    );
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}
