//! `$batch`: up to 20 GET requests per POST, per-item results in request order, retryable items
//! (throttled or transient) sent again in a later batch within the retry bound.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use super::GraphClient;
use super::error::{self, GraphError};

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

#[derive(Deserialize)]
struct BatchResponse {
    responses: Vec<ItemResponse>,
}

#[derive(Deserialize)]
struct ItemResponse {
    id: String,
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Value,
}

impl GraphClient {
    /// Runs `requests` through `$batch`, [`MAX_BATCH`] at a time. The outer error is returned only
    /// when a whole batch fails; each item carries its own result otherwise.
    pub async fn batch_get(&self, requests: &[BatchRequest]) -> Result<Vec<BatchItem>, GraphError> {
        let url = self.url("$batch")?;
        let mut results: BTreeMap<String, Result<Value, GraphError>> = BTreeMap::new();
        let mut pending: Vec<&BatchRequest> = requests.iter().collect();
        let mut retry = 0;
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut wait = None;
            // The batches of one round are independent: they go out together (a few at a time)
            // and are read back in order.
            let chunks: Vec<&[&BatchRequest]> = pending.chunks(MAX_BATCH).collect();
            let responses: Vec<Value> = stream::iter(chunks.iter().map(|chunk| {
                let body = json!({
                    "requests": chunk.iter().map(|r| json!({"id": r.id, "method": "GET", "url": r.url})).collect::<Vec<_>>()
                });
                let url = &url;
                async move { self.post(url, &body).await }
            }))
            .buffered(CONCURRENT_BATCHES)
            .try_collect()
            .await?;
            for (chunk, response) in chunks.into_iter().zip(responses) {
                let response: BatchResponse =
                    serde_json::from_value(response).map_err(|e| GraphError::InvalidResponse {
                        url: url.to_string(),
                        message: format!("not a $batch response: {e}"),
                    })?;
                for item in response.responses {
                    let Some(request) = chunk.iter().find(|r| r.id == item.id) else {
                        continue;
                    };
                    let outcome = item_result(&item);
                    if let Err(e) = &outcome
                        && let Some(delay) = error::retry_delay(e, retry, &self.policy)
                    {
                        wait = wait.max(Some(delay));
                        again.push(*request);
                        continue;
                    }
                    results.insert(item.id, outcome);
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
            if let Some(delay) = wait {
                warn!(
                    items = again.len(),
                    delay_ms = delay.as_millis() as u64,
                    "Some $batch items failed; retrying them."
                );
                tokio::time::sleep(delay).await;
            }
            retry += 1;
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

fn item_result(item: &ItemResponse) -> Result<Value, GraphError> {
    let status = StatusCode::from_u16(item.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        return Ok(item.body.clone());
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &item.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
    let body = serde_json::to_vec(&item.body).unwrap_or_default();
    Err(error::classify(
        status,
        &headers,
        &body,
        "",
        &format!("batch item {}", item.id),
    ))
}
