//! `$batch`: up to 20 GET requests per POST, per-item results in request order, retryable items
//! (throttled or transient) sent again in a later batch within the retry bound.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::warn;

use super::GraphClient;
use super::error::{self, GraphError};

/// The path batches are posted to, relative to the Graph base.
pub const PATH: &str = "$batch";

/// Graph's limit of requests in one batch.
pub const MAX_BATCH: usize = 20;

/// `$batch` requests in flight at once.
const CONCURRENT_BATCHES: usize = 4;

/// One GET inside a batch; `url` is relative to the Graph base (`/users/{id}?$select=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// Caller's id, echoed in the result.
    pub id: String,
    /// Relative URL.
    pub url: String,
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The request's id.
    pub id: String,
    /// Its body, or its error.
    pub result: Result<Value, GraphError>,
}

/// A `$batch` answer. Bodies stay JSON text until their request's owner reads them, so a batch of
/// full pages is never held as one parsed tree.
#[derive(Deserialize)]
pub(crate) struct BatchResponse {
    pub(crate) responses: Vec<ItemResponse>,
}

#[derive(Deserialize)]
pub(crate) struct ItemResponse {
    pub(crate) id: String,
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Box<RawValue>>,
}

impl ItemResponse {
    /// The item's body text when it succeeded, else its error as a top-level request's would be
    /// (`permission` and `what` name the request in it).
    pub(crate) fn into_result(
        self,
        permission: &str,
        what: &str,
    ) -> Result<Option<Box<RawValue>>, GraphError> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_success() {
            return Ok(self.body);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(n, v);
            }
        }
        let body = self.body.as_deref().map(RawValue::get).unwrap_or_default();
        Err(error::classify(
            status,
            &headers,
            body.as_bytes(),
            permission,
            what,
        ))
    }

    /// The item's body parsed (`null` when it has none), else its error; `url` is the batch's.
    pub(crate) fn into_value(self, url: &url::Url) -> Result<Value, GraphError> {
        let id = self.id.clone();
        let what = format!("batch item {id}");
        self.into_result("", &what).and_then(|body| match body {
            Some(body) => {
                serde_json::from_str(body.get()).map_err(|e| GraphError::InvalidResponse {
                    url: url.to_string(),
                    message: format!("batch item {id}: the body is not JSON: {e}"),
                })
            }
            None => Ok(Value::Null),
        })
    }
}

/// The JSON a batch of GETs is sent as: `(id, relative url, headers)` each.
pub(crate) fn batch_body<'a>(
    requests: impl Iterator<Item = (&'a str, &'a str, &'a [(&'a str, &'a str)])>,
) -> Value {
    let requests: Vec<Value> = requests
        .map(|(id, url, headers)| {
            let mut request = json!({"id": id, "method": "GET", "url": url});
            if !headers.is_empty() {
                request["headers"] = headers
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), json!(value)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            request
        })
        .collect();
    json!({ "requests": requests })
}

/// One `$batch` request under way.
type BatchPost<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<BatchResponse, GraphError>> + Send + 'a>>;

impl GraphClient {
    /// Runs `requests` through `$batch`, [`MAX_BATCH`] at a time. The outer error is returned only
    /// when a whole batch fails; each item carries its own result otherwise.
    pub async fn batch_get(&self, requests: &[BatchRequest]) -> Result<Vec<BatchItem>, GraphError> {
        let url = self.url(PATH)?;
        let mut results: BTreeMap<String, Result<Value, GraphError>> = BTreeMap::new();
        let mut pending: Vec<&BatchRequest> = requests.iter().collect();
        let mut retries = error::Retries::default();
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut wait: Option<(Duration, GraphError)> = None;
            // The batches of one round are independent: they go out together (a few at a time)
            // and are read back in order.
            let chunks: Vec<&[&BatchRequest]> = pending.chunks(MAX_BATCH).collect();
            let posts: Vec<BatchPost<'_>> = chunks
                .iter()
                .map(|chunk| {
                    let body = batch_body(
                        chunk
                            .iter()
                            .map(|r| (r.id.as_str(), r.url.as_str(), &[][..])),
                    );
                    let url = &url;
                    // Boxed as `Send`, and collected before they are awaited: a closure's futures
                    // streamed through `buffered` are not provably `Send` for every lifetime, and the
                    // daemon spawns its runs.
                    let post: BatchPost<'_> = Box::pin(async move {
                        self.post_parsed(url, &body, |bytes: &[u8]| serde_json::from_slice(bytes))
                            .await
                    });
                    post
                })
                .collect();
            let responses: Vec<BatchResponse> = stream::iter(posts)
                .buffered(CONCURRENT_BATCHES)
                .try_collect()
                .await?;
            for (chunk, response) in chunks.into_iter().zip(responses) {
                for item in response.responses {
                    let Some(request) = chunk.iter().find(|r| r.id == item.id) else {
                        continue;
                    };
                    let id = item.id.clone();
                    let outcome = item.into_value(&url);
                    if let Err(e) = &outcome
                        && let Some(delay) = retries.delay(e, &self.policy)
                    {
                        if wait.as_ref().is_none_or(|(longest, _)| delay > *longest) {
                            wait = Some((delay, e.clone()));
                        }
                        again.push(*request);
                        continue;
                    }
                    results.insert(id, outcome);
                }
                for request in chunk {
                    if !results.contains_key(&request.id)
                        && !again.iter().any(|r| r.id == request.id)
                    {
                        results.insert(
                            request.id.clone(),
                            Err(GraphError::InvalidResponse {
                                url: url.to_string(),
                                message: format!(
                                    "the batch response has no answer for request {:?}",
                                    request.id
                                ),
                            }),
                        );
                    }
                }
            }
            if let Some((delay, error)) = wait {
                retries.record(&error, delay);
                warn!(
                    items = again.len(),
                    delay_ms = delay.as_millis() as u64,
                    "Some $batch items failed; retrying them."
                );
                tokio::time::sleep(delay).await;
            }
            pending = again;
        }
        Ok(requests
            .iter()
            .map(|r| BatchItem {
                id: r.id.clone(),
                result: results
                    .remove(&r.id)
                    .unwrap_or_else(|| Err(GraphError::Transient("no result".to_owned()))),
            })
            .collect())
    }
}
