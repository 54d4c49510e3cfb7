//! A thin Microsoft Graph client: typed pages, page cursors that follow
//! `@odata.nextLink` until `@odata.deltaLink`, `$batch`, retries that honour `Retry-After`, one
//! token refresh on 401, and request counters.
//!
//! - [`error`]: [`GraphError`], [`classify`](error::classify) and the retry decision.
//! - [`pages`]: [`Page`] and the [`Pages`] cursor.
//! - [`batch`]: `$batch` in groups of 20 with per-item results.
//! - [`endpoints`]: what the daemon asks Graph for (delta rounds, groups by name, SKUs, untracked
//!   attributes), as URLs and typed results.
//! - [`odata`]: quoting and the `$filter` forms the daemon sends.
//! - [`permissions`]: what each request needs, and the `check --online` verdict.

pub mod applications;
pub mod batch;
mod batcher;
pub mod endpoints;
pub mod error;
pub mod licence_assignment;
pub mod mail_groups;
pub mod odata;
pub mod pages;
pub mod permissions;
pub mod product_names;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::{debug, warn};
use url::Url;

pub use error::{GraphError, Retries, RetryPolicy};
pub use pages::{Page, Pages, ReadAhead};

use crate::auth::{TokenSource, with_causes};
use crate::config::TrustedCa;
use crate::tasks::TaskScope;

/// Counts of the requests a client made (every attempt counts, retries included).
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    throttled: AtomicU64,
    by_endpoint: Mutex<BTreeMap<String, u64>>,
}

impl RequestStats {
    /// Requests sent.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with throttling.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Requests per endpoint (`GET /users/delta`, …).
    pub fn by_endpoint(&self) -> BTreeMap<String, u64> {
        self.by_endpoint
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    fn record(&self, endpoint: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.by_endpoint.lock() {
            *map.entry(endpoint.to_owned()).or_default() += 1;
        }
    }
}

/// The header every page request carries: Graph's largest page.
const PREFER_PAGE_SIZE: (&str, &str) = ("Prefer", "odata.maxpagesize=999");

/// One connection's Graph client.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    tokens: Arc<dyn TokenSource>,
    policy: RetryPolicy,
    stats: Arc<RequestStats>,
    connection: String,
    /// Set by [`with_page_batching`](Self::with_page_batching).
    batcher: Option<Arc<batcher::PageBatcher>>,
    /// Where the page batcher and read-ahead tasks run (see [`within`](Self::within)).
    tasks: TaskScope,
}

/// An HTTP client with the daemon's timeouts, for a connection's token and Graph requests.
/// `timeout` bounds one request; `None` disables it (tests on paused time). `trusted_ca` (the
/// connection's `ca_file`) adds its certificate authorities to the system's roots.
pub fn http_client(
    timeout: Option<Duration>,
    trusted_ca: Option<&TrustedCa>,
) -> Result<reqwest::Client, GraphError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("entra-sync/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(ca) = trusted_ca {
        let certificates = reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(|e| {
            GraphError::Transient(format!(
                "reading the certificate authorities in {}: {}",
                ca.path.display(),
                with_causes(&e)
            ))
        })?;
        // `tls_certs_merge` is reqwest 0.13's `add_root_certificate` (now deprecated): the
        // certificates join the platform's roots rather than replace them.
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|e| {
        let trusting = trusted_ca
            .map(|ca| format!(" trusting {}", ca.path.display()))
            .unwrap_or_default();
        GraphError::Transient(format!(
            "building the HTTP client{trusting}: {}",
            with_causes(&e)
        ))
    })
}

impl GraphClient {
    /// A client for the Graph base URL `base` (e.g. `https://graph.microsoft.com/v1.0`).
    pub fn new(
        http: reqwest::Client,
        base: Url,
        tokens: Arc<dyn TokenSource>,
        policy: RetryPolicy,
        connection: &str,
    ) -> Self {
        let base = if base.path().ends_with('/') {
            base
        } else {
            Url::parse(&format!("{base}/")).unwrap_or(base)
        };
        Self {
            http,
            base,
            tokens,
            policy,
            stats: Arc::default(),
            connection: connection.to_owned(),
            batcher: None,
            tasks: TaskScope::default(),
        }
    }

    /// The same client, its background tasks (the page batcher, cursors reading ahead) spawned
    /// into `tasks`: a run's, which stops them when it is cancelled and waits for them before it
    /// returns.
    pub fn within(&self, tasks: &TaskScope) -> GraphClient {
        GraphClient {
            tasks: tasks.clone(),
            ..self.clone()
        }
    }

    /// A client whose page cursors send their requests through one page batcher: the pages that
    /// cursors ask for at the same moment travel together in a `$batch` (see [`batcher`]). Other
    /// requests go as before. Must be called inside a Tokio runtime; the batcher runs in the
    /// client's [task scope](Self::within).
    pub fn with_page_batching(&self) -> GraphClient {
        let mut plain = self.clone();
        plain.batcher = None;
        GraphClient {
            batcher: Some(Arc::new(batcher::PageBatcher::start(plain))),
            ..self.clone()
        }
    }

    /// Whether page cursors go through a page batcher.
    pub fn batches_pages(&self) -> bool {
        self.batcher.is_some()
    }

    /// The request counters.
    pub fn stats(&self) -> &Arc<RequestStats> {
        &self.stats
    }

    /// The token source (for the permission check).
    pub fn tokens(&self) -> &Arc<dyn TokenSource> {
        &self.tokens
    }

    /// Resolves a path relative to the Graph base (`users/delta?$select=…`).
    pub fn url(&self, path_and_query: &str) -> Result<Url, GraphError> {
        self.base
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| GraphError::InvalidResponse {
                url: path_and_query.to_owned(),
                message: format!("not a valid Graph path: {e}"),
            })
    }

    /// A link Graph returned (`@odata.nextLink`/`deltaLink`), accepted only on Graph's own origin so
    /// the bearer token is never sent elsewhere.
    pub fn link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| GraphError::InvalidResponse {
            url: link.to_owned(),
            message: format!("the link is not a URL: {e}"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(GraphError::InvalidResponse {
                url: link.to_owned(),
                message: format!(
                    "the link leaves Graph's origin {}",
                    self.base.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// GET a JSON document.
    pub async fn get(&self, url: &Url) -> Result<Value, GraphError> {
        self.send(Method::GET, url, None, &[], json_body).await
    }

    /// GET one page of a collection or delta round.
    pub async fn page(&self, url: &Url) -> Result<Page, GraphError> {
        let headers = [PREFER_PAGE_SIZE];
        let body = self
            .send(Method::GET, url, None, &headers, json_body)
            .await?;
        Page::from_json(body, url)
    }

    /// GET one page, its objects left as JSON text.
    pub(crate) async fn raw_page(&self, url: &Url) -> Result<pages::RawPage, GraphError> {
        let headers = [PREFER_PAGE_SIZE];
        let body = self
            .send(Method::GET, url, None, &headers, |bytes| {
                serde_json::from_slice(bytes)
            })
            .await?;
        pages::RawPage::new(body, url)
    }

    /// A cursor over the pages starting at `first`. With [page batching](Self::with_page_batching)
    /// its pages travel in `$batch` requests.
    pub fn pages(&self, first: Url) -> Pages {
        Pages::new(self.clone(), first)
    }

    /// POST a JSON body.
    pub async fn post(&self, url: &Url, body: &Value) -> Result<Value, GraphError> {
        self.post_parsed(url, body, json_body).await
    }

    /// POST a JSON body and read the answer with `parse`; an answer it rejects counts as a garbled
    /// (transient) response and the request is retried.
    pub(crate) async fn post_parsed<T>(
        &self,
        url: &Url,
        body: &Value,
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, GraphError> {
        self.send(Method::POST, url, Some(body), &[], parse).await
    }

    /// One request with retries: `Retry-After` honoured, jittered back-off on transient errors,
    /// one token refresh on 401, all bounded by the policy. A body `parse` rejects is treated as
    /// transient: a cut-off or garbled answer usually comes back whole the next time.
    async fn send<T>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, GraphError> {
        let endpoint = endpoint_label(&method, url, &self.base);
        let (permission, what) = permissions::required(&method, url);
        let mut retries = error::Retries::default();
        let mut refreshed = false;
        loop {
            let error = match self
                .attempt(&method, url, body, headers, &endpoint, permission, &what)
                .await
                .and_then(|bytes| {
                    parse(bytes.as_ref()).map_err(|e| {
                        GraphError::Transient(format!("{what}: the response is not JSON: {e}"))
                    })
                }) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if matches!(error, GraphError::Unauthorized { .. }) && !refreshed {
                debug!(connection = %self.connection, "Graph answered 401; refreshing the token once.");
                refreshed = true;
                self.tokens.invalidate().await;
                continue;
            }
            if error.is_throttle() {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("entra_sync_graph_throttled_total", "connection" => self.connection.clone(), "endpoint" => endpoint.clone()).increment(1);
            }
            let Some(delay) = retries.delay(&error, &self.policy) else {
                return Err(error);
            };
            retries.record(&error, delay);
            warn!(connection = %self.connection, endpoint = %endpoint, retry = retries.total(), delay_ms = delay.as_millis() as u64, error = %error, "Graph request failed; retrying.");
            tokio::time::sleep(delay).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        endpoint: &str,
        permission: &str,
        what: &str,
    ) -> Result<impl AsRef<[u8]> + use<>, GraphError> {
        let token = self.tokens.token().await?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.bearer())
            .header("x-ms-throttle-priority", "low")
            .header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.stats.record(endpoint);
        let response = request.send().await;
        let status_label = response
            .as_ref()
            .map(|r| r.status().as_u16().to_string())
            .unwrap_or_else(|_| "error".into());
        metrics::counter!("entra_sync_graph_requests_total", "connection" => self.connection.clone(), "endpoint" => endpoint.to_owned(), "status" => status_label).increment(1);
        let response =
            response.map_err(|e| GraphError::Transient(format!("{what}: {}", with_causes(&e))))?;
        let status = response.status();
        let response_headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GraphError::Transient(format!("{what}: reading the body: {e}")))?;
        if !status.is_success() {
            return Err(error::classify(
                status,
                &response_headers,
                &bytes,
                permission,
                what,
            ));
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(bytes.slice(0..0));
        }
        Ok(bytes)
    }
}

/// A response body as JSON (`null` when empty).
fn json_body(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
}

/// `GET /users/delta`, `GET /users/{id}`, `POST /$batch`: ids replaced, queries dropped.
fn endpoint_label(method: &Method, url: &Url, base: &Url) -> String {
    let path = url.path().strip_prefix(base.path()).unwrap_or(url.path());
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} /{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_hide_ids_and_queries() {
        let base = Url::parse("https://graph.microsoft.com/v1.0/").unwrap();
        let url = base
            .join("users/0d0c9f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6/manager?$select=id")
            .unwrap();
        assert_eq!(
            endpoint_label(&Method::GET, &url, &base),
            "GET /users/{id}/manager"
        );
        let url = base.join("users/delta?$deltatoken=abc").unwrap();
        assert_eq!(
            endpoint_label(&Method::GET, &url, &base),
            "GET /users/delta"
        );
    }
}
