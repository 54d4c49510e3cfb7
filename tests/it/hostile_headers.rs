//! Header abuse against the admin API and the status page, sent as raw bytes (an HTTP client
//! would refuse to send most of it): every request gets a 4xx, never a 5xx or a dropped
//! connection (unless the client itself went away), and the application's refusals carry the
//! API's error message.

use std::time::Duration;

use graph_emulator::EmulatorConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{key, service_with};
use crate::emulator::start;
use crate::pages::serve_pages;
use crate::support::backends;

/// Sends `request` as it is (then, if `gone`, closes the sending side, as a client that went
/// away does) and reads the answer until the server closes: (status, body); status 0 when the
/// server closed without answering.
async fn exchange(address: &str, request: &[u8], gone: bool) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("write");
    if gone {
        stream.shutdown().await.expect("shutdown");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// What a hostile request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A 4xx carrying the API's error message.
    Message,
    /// A 4xx (refused before any route runs: the status line says why).
    Refused,
    /// The status page's redirect to its sign-in form.
    SignIn,
    /// The client went away before its request was whole: a 4xx, or the connection closed.
    Gone,
}

/// A GET of `path` with `headers` (each a whole line without its CRLF).
fn get(path: &[u8], headers: &[&[u8]]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// A POST of `body` to `path` with `headers`.
fn post(path: &str, headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abused_headers_get_a_4xx_never_a_5xx_or_a_dropped_connection() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 2,
        groups: 1,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let (service, _store, _clock) = service_with(&running, &db, "").await;
        let admin = format!("Authorization: Bearer {}", key(&service, None, None).await);
        let admin = admin.as_bytes();
        let base = serve_pages(service).await;
        let address = base.trim_start_matches("http://").to_owned();

        let long_bearer = format!("Authorization: Bearer {}", "a".repeat(8 * 1024));
        let huge_header = format!("X-Padding: {}", "p".repeat(200 * 1024));
        let many: Vec<String> = (0..200).map(|i| format!("X-Header-{i}: {i}")).collect();
        let many: Vec<&[u8]> = many.iter().map(|h| h.as_bytes()).collect();
        let sync_body = br#"{"kind": "delta"}"#;
        let length = format!("Content-Length: {}", sync_body.len());
        let length = length.as_bytes();
        let api = b"/api/connections/contoso".as_slice();

        let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
            (
                "a bearer token that is not UTF-8",
                get(api, &[b"Authorization: Bearer \xff\xfe\xfd"]),
                Expect::Message,
            ),
            (
                "another scheme",
                get(api, &[b"Authorization: Basic YWRtaW46YWRtaW4="]),
                Expect::Message,
            ),
            (
                "the scheme alone",
                get(api, &[b"Authorization: Bearer"]),
                Expect::Message,
            ),
            (
                "a key with spaces around and inside",
                get(api, &[b"Authorization: Bearer   es_ live  "]),
                Expect::Message,
            ),
            (
                "an 8 KiB bearer token",
                get(api, &[long_bearer.as_bytes()]),
                Expect::Message,
            ),
            (
                "two authorization headers, the second an admin's",
                get(api, &[b"Authorization: Bearer nonsense", admin]),
                Expect::Message,
            ),
            (
                "a body declared as XML",
                post(
                    "/api/connections/contoso/sync",
                    &[admin, b"Content-Type: application/xml", length],
                    sync_body,
                ),
                Expect::Message,
            ),
            (
                "a body shorter than its Content-Length",
                post(
                    "/api/connections/contoso/sync",
                    &[
                        admin,
                        b"Content-Type: application/json",
                        b"Content-Length: 5000",
                    ],
                    sync_body,
                ),
                Expect::Gone,
            ),
            (
                "a broken chunked body",
                post(
                    "/api/connections/contoso/sync",
                    &[
                        admin,
                        b"Content-Type: application/json",
                        b"Transfer-Encoding: chunked",
                    ],
                    b"zz\r\n{}\r\n0\r\n\r\n",
                ),
                Expect::Refused,
            ),
            (
                "Content-Length twice, disagreeing",
                post(
                    "/api/connections/contoso/sync",
                    &[
                        admin,
                        b"Content-Type: application/json",
                        length,
                        b"Content-Length: 3",
                    ],
                    sync_body,
                ),
                Expect::Refused,
            ),
            (
                "a 200 KiB header",
                get(api, &[huge_header.as_bytes()]),
                Expect::Refused,
            ),
            ("200 headers", get(api, &many), Expect::Refused),
            (
                "a header name with a space",
                get(api, &[b"Bad Name: x"]),
                Expect::Refused,
            ),
            (
                "a bare CR in a value",
                get(api, &[b"X-A: a\rb"]),
                Expect::Refused,
            ),
            (
                "a path that is not UTF-8",
                get(b"/api/connections/\xff\xfe", &[admin]),
                Expect::Refused,
            ),
            (
                "a session cookie that is not one",
                get(
                    b"/connections/contoso",
                    &[b"Cookie: entra_sync_session=%%%\xff; ;;=="],
                ),
                Expect::SignIn,
            ),
            (
                "a sign-in form without its cookie",
                post(
                    "/sign-in",
                    &[
                        b"Content-Type: application/x-www-form-urlencoded",
                        b"Content-Length: 9",
                    ],
                    b"key=abc&x",
                ),
                Expect::Refused,
            ),
        ];
        for (case, request, expect) in cases {
            let (status, body) = exchange(&address, &request, expect == Expect::Gone).await;
            if expect == Expect::Gone && status == 0 {
                continue;
            }
            if expect == Expect::SignIn {
                assert_eq!(status, 303, "{case}: {body}");
                continue;
            }
            assert!((400..500).contains(&status), "{case}: {status} {body}");
            if expect == Expect::Message {
                let error: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{case}: {e}: {body:?}"));
                let message = error["error"]["message"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{case}: no message: {body}");
            }
        }

        // The server still answers well-formed requests afterwards.
        let (status, body) = exchange(&address, &get(api, &[admin]), false).await;
        assert_eq!(status, 200, "{body}");
        db.cleanup().await;
    }
}

/// Reads until the server closes `stream` (a guard far above the limits under test says it
/// never did); what it sent first.
async fn until_closed(mut stream: TcpStream, case: &str) -> String {
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await {
        Ok(_) => String::from_utf8_lossy(&answer).into_owned(),
        Err(_) => panic!("{case}: the server kept the connection open"),
    }
}

/// Slow clients hold nothing for long: connections that send nothing, send half a request head
/// and stop, or trickle header lines without end are closed once the header limit has passed,
/// and a request whose body stops arriving is answered 408, while whole requests are answered
/// as usual meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_by_the_listeners_time_limits() {
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 2,
        groups: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let db = backends().await.remove(0);
    let (service, _store, _clock) = service_with(&running, &db, "").await;
    let admin = format!("Authorization: Bearer {}", key(&service, None, None).await);
    let limits = entra_sync::daemon::serve::Limits {
        header_read: Duration::from_secs(1),
        body_read: Duration::from_secs(1),
    };
    let base = crate::pages::serve_pages_with(service, limits).await;
    let address = base.trim_start_matches("http://").to_owned();
    let api = b"/api/connections/contoso".as_slice();

    let mut silent = Vec::new();
    let mut halves = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(&address).await.unwrap());
        let mut half = TcpStream::connect(&address).await.unwrap();
        half.write_all(b"GET /api/connections/contoso HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        halves.push(half);
    }
    // A client that never ends its head, one header line at a time.
    let mut trickler = TcpStream::connect(&address).await.unwrap();
    trickler
        .write_all(b"GET /api/connections/contoso HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickling = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        for line in 0..600 {
            every.tick().await;
            if trickler
                .write_all(format!("X-Line-{line}: x\r\n").as_bytes())
                .await
                .is_err()
            {
                return line;
            }
        }
        panic!("the server took 600 header lines over a minute");
    });

    // Meanwhile a whole request is answered.
    let (status, body) = exchange(&address, &get(api, &[admin.as_bytes()]), false).await;
    assert_eq!(status, 200, "{body}");

    for stream in silent {
        let sent = until_closed(stream, "a connection that sent nothing").await;
        assert!(!sent.starts_with("HTTP/1.1 2"), "{sent}");
    }
    for stream in halves {
        let sent = until_closed(stream, "half a request head").await;
        assert!(!sent.starts_with("HTTP/1.1 2"), "{sent}");
    }
    let lines = trickling.await.unwrap();
    assert!(lines < 600, "{lines}");

    // A body that stops arriving: 408 with the API's message.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /api/connections/contoso/sync HTTP/1.1\r\nHost: localhost\r\n{admin}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"kind\": "
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = until_closed(stalled, "a body that stopped arriving").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let error: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(error["error"]["code"], "timeout", "{answer}");

    // And the server still answers.
    let (status, body) = exchange(&address, &get(api, &[admin.as_bytes()]), false).await;
    assert_eq!(status, 200, "{body}");
    db.cleanup().await;
}
