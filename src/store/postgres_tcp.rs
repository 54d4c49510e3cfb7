//! PostgreSQL over TCP through an in-process relay, so that statements are not held back by
//! Nagle's algorithm.
//!
//! sqlx 0.9.0 opens its TCP sockets without `TCP_NODELAY` (sqlx issue #4335). A message that
//! does not fit in one segment — which the store's batched statements are — then waits for the
//! server's delayed ACK, about 40 ms per round trip: a full sync over TCP took 2–5× as long as
//! over the Unix socket (BENCHMARKS.md, finding 1). sqlx offers no hook to reach its
//! socket, so for a URL naming a TCP host the store points sqlx at a Unix socket in a private
//! temporary directory instead ([`PgConnectOptions::socket`]; sqlx keeps the host name for TLS
//! verification), and this relay opens the TCP connection with `TCP_NODELAY` and copies bytes
//! both ways. TLS passes through untouched: the relay never looks at the bytes.
//!
//! Remove this module once a sqlx release sets `TCP_NODELAY` itself (upstream #4336).

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tempfile::TempDir;
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// Bytes read at a time in each direction: a batched statement is hundreds of kilobytes.
const RELAY_BUFFER_BYTES: usize = 64 * 1024;

/// The PostgreSQL server a TCP URL names.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// The host as the URL gives it; an IPv6 address may be in brackets.
    host: String,
    port: u16,
    /// How long a connection attempt may take, refusals retried within it (a server that is
    /// starting up refuses connections for a moment).
    wait: Duration,
}

impl Upstream {
    /// The TCP server `options` connect to, or `None` when they name a Unix socket.
    pub(crate) fn of(options: &PgConnectOptions, wait: Duration) -> Option<Self> {
        if options.get_socket().is_some() || options.get_host().starts_with('/') {
            return None;
        }
        Some(Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            wait,
        })
    }

    /// The host without the brackets a URL puts around an IPv6 address.
    fn address(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// A TCP connection to the server with `TCP_NODELAY` set. A refused connection is tried
    /// again, with growing pauses, until the wait is over.
    pub(crate) async fn connect(&self) -> std::io::Result<TcpStream> {
        let start = Instant::now();
        let deadline = start + self.wait;
        let mut pause = Duration::from_millis(10);
        loop {
            let attempt =
                tokio::time::timeout_at(deadline, TcpStream::connect((self.address(), self.port)))
                    .await;
            match attempt {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Ok(Err(e))
                    if e.kind() == std::io::ErrorKind::ConnectionRefused
                        && Instant::now() + pause < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.wait / 5);
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    let tried = start.elapsed().as_secs_f64();
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("{e}; still refused after {tried:.1} s"),
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer in {}", humantime::format_duration(self.wait)),
                    ));
                }
            }
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = self.address();
        if address.contains(':') {
            write!(f, "[{address}]:{}", self.port)
        } else {
            write!(f, "{address}:{}", self.port)
        }
    }
}

/// A Unix socket in a private directory whose connections are relayed to one PostgreSQL server.
/// Dropping it stops accepting connections and removes the directory. A connection already
/// relayed carries on until sqlx or the server closes it: sqlx's pool outlives the store by the
/// tasks that hand a released connection back to it (each pings its connection first), and it
/// closes its connections when it goes.
#[derive(Debug)]
pub(crate) struct Relay {
    // Declared before `dir` so that the listener stops before its directory goes.
    _accepting: AbortOnDropHandle<()>,
    dir: TempDir,
}

impl Relay {
    /// Listens in a new directory only this user can enter. `first` is an open connection to
    /// `upstream` that carries the first connection accepted (the one that proved the server
    /// reachable, so the server does not see an empty connection come and go).
    pub(crate) fn start(upstream: Upstream, first: TcpStream) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("entra-sync-pg-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // The name sqlx looks for in a socket directory.
        let listener = UnixListener::bind(dir.path().join(format!(".s.PGSQL.{}", upstream.port)))?;
        let accepting = tokio::spawn(accept(listener, upstream, Some(first)));
        Ok(Self {
            _accepting: AbortOnDropHandle::new(accepting),
            dir,
        })
    }

    /// The directory sqlx is to connect in ([`PgConnectOptions::socket`]).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Accepts connections until aborted, each relayed by a task of its own.
async fn accept(listener: UnixListener, upstream: Upstream, mut first: Option<TcpStream>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay(client, first.take(), upstream.clone()));
            }
            Err(error) => {
                tracing::warn!(upstream = %upstream, error = %error, "Could not accept a PostgreSQL connection for the TCP relay.");
                // Out of file descriptors, say: give the pool a moment to close some rather
                // than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Copies bytes between `client` (sqlx) and the server until either side closes. When the server
/// cannot be reached the client's connection is closed, which sqlx reports as a failed connect.
async fn relay(mut client: UnixStream, server: Option<TcpStream>, upstream: Upstream) {
    let server = match server {
        Some(server) => Ok(server),
        None => upstream.connect().await,
    };
    let mut server = match server {
        Ok(server) => server,
        Err(error) => {
            tracing::warn!(upstream = %upstream, error = %error, "PostgreSQL is unreachable; the connection is closed.");
            return;
        }
    };
    if let Err(error) = tokio::io::copy_bidirectional_with_sizes(
        &mut client,
        &mut server,
        RELAY_BUFFER_BYTES,
        RELAY_BUFFER_BYTES,
    )
    .await
    {
        tracing::debug!(upstream = %upstream, error = %error, "A relayed PostgreSQL connection ended with an error.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn upstream(url: &str) -> Option<Upstream> {
        Upstream::of(
            &PgConnectOptions::from_str(url).expect("a URL"),
            Duration::from_secs(10),
        )
    }

    async fn local_server() -> (TcpListener, Upstream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let upstream = Upstream {
            host: "127.0.0.1".to_owned(),
            port,
            wait: Duration::from_secs(10),
        };
        (listener, upstream)
    }

    #[test]
    fn a_url_naming_a_socket_directory_is_not_relayed() {
        assert!(upstream("postgres://postgres@localhost/test?host=/var/run/postgresql").is_none());
        assert!(upstream("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test").is_none());
    }

    #[test]
    fn a_url_naming_a_tcp_host_is_relayed_to_that_host_and_port() {
        let named = |url| upstream(url).map(|upstream| upstream.to_string());
        assert_eq!(
            named("postgres://postgres@127.0.0.1:5433/test").as_deref(),
            Some("127.0.0.1:5433")
        );
        assert_eq!(
            named("postgres://u:secret@db.example.com/test").as_deref(),
            Some("db.example.com:5432")
        );
        assert_eq!(
            named("postgres://postgres@[::1]:5432/test").as_deref(),
            Some("[::1]:5432")
        );
        assert_eq!(
            named("postgres://postgres@localhost/test?hostaddr=10.0.0.7").as_deref(),
            Some("10.0.0.7:5432")
        );
    }

    #[test]
    fn an_ipv6_host_is_connected_to_without_its_brackets() {
        let upstream = upstream("postgres://postgres@[::1]:5432/test").expect("TCP");
        assert_eq!(upstream.address(), "::1");
    }

    #[tokio::test]
    async fn the_connection_to_the_server_has_nodelay_set() {
        let (_listener, upstream) = local_server().await;
        let stream = upstream.connect().await.expect("connected");
        assert!(stream.nodelay().expect("the socket option"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_once_the_wait_is_over() {
        let (listener, mut upstream) = local_server().await;
        drop(listener);
        upstream.wait = Duration::from_millis(200);
        let error = upstream.connect().await.expect_err("nothing listens");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            error.to_string().contains("; still refused after 0."),
            "{error}"
        );
    }

    /// Echoes what each of its next `connections` sends, until each closes.
    fn echo(listener: TcpListener, connections: usize) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut served = Vec::new();
            for _ in 0..connections {
                let (mut stream, _) = listener.accept().await.expect("a connection");
                served.push(tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    tokio::io::copy(&mut read, &mut write)
                        .await
                        .expect("echoed");
                }));
            }
            for connection in served {
                connection.await.expect("the echo task");
            }
        })
    }

    /// A relay to `upstream` and the path of its socket.
    async fn relay_to(upstream: &Upstream) -> (Relay, std::path::PathBuf) {
        let first = upstream.connect().await.expect("connected");
        let relay = Relay::start(upstream.clone(), first).expect("the relay");
        let socket = relay.dir().join(format!(".s.PGSQL.{}", upstream.port));
        (relay, socket)
    }

    #[tokio::test]
    async fn bytes_pass_both_ways_intact() {
        let (listener, upstream) = local_server().await;
        // The first connection is the one the relay is started with; the second is made by the
        // relay for the second client.
        let echo = echo(listener, 2);
        let (_relay, socket) = relay_to(&upstream).await;
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..2 {
            let client = UnixStream::connect(&socket)
                .await
                .expect("the relay accepts");
            let (mut read, mut write) = client.into_split();
            let sent = payload.clone();
            let writer = tokio::spawn(async move {
                write.write_all(&sent).await.expect("sent");
                write.shutdown().await.expect("shut down");
            });
            let mut echoed = Vec::new();
            read.read_to_end(&mut echoed).await.expect("read back");
            writer.await.expect("the writer");
            assert_eq!(echoed.len(), payload.len());
            assert!(echoed == payload, "the echoed bytes differ from those sent");
        }
        echo.await.expect("the echo server");
    }

    #[tokio::test]
    async fn a_connection_relayed_before_the_relay_is_dropped_carries_on_until_it_closes() {
        let (listener, upstream) = local_server().await;
        let echo = echo(listener, 1);
        let (relay, socket) = relay_to(&upstream).await;
        let mut client = UnixStream::connect(&socket)
            .await
            .expect("the relay accepts");
        let mut answer = [0; 5];
        client.write_all(b"first").await.expect("sent");
        client.read_exact(&mut answer).await.expect("echoed");
        assert_eq!(&answer, b"first");

        drop(relay);
        assert!(!socket.exists(), "the relay no longer accepts");
        client.write_all(b"after").await.expect("sent");
        client.read_exact(&mut answer).await.expect("echoed");
        assert_eq!(&answer, b"after");
        drop(client);
        echo.await.expect("the server saw the connection close");
    }

    #[tokio::test]
    async fn dropping_the_relay_removes_its_directory() {
        let (_listener, upstream) = local_server().await;
        let (relay, _) = relay_to(&upstream).await;
        let dir = relay.dir().to_owned();
        let mode = std::fs::metadata(&dir)
            .expect("the directory")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(relay);
        assert!(!dir.exists());
    }
}
