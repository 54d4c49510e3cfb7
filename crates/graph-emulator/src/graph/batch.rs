//! `POST /$batch` (concepts/json-batching.md): up to 20 requests, each run through the same
//! pipeline (authentication, faults, throttling, counters), answered out of order.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::error::GraphError;
use crate::state::Emulator;

/// Most requests in one batch.
const MAX_REQUESTS: usize = 20;

#[derive(Debug, Deserialize)]
struct BatchBody {
    requests: Vec<BatchRequest>,
}

#[derive(Debug, Deserialize)]
struct BatchRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Option<Value>,
}

/// The order responses come back in: odd positions first, so clients cannot rely on order.
fn answer_order(n: usize) -> Vec<usize> {
    (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).filter(|i| i % 2 == 0))
        .collect()
}

/// `POST /$batch`.
pub async fn batch(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let batch: BatchBody = serde_json::from_slice(&body)
        .map_err(|e| GraphError::bad_request(format!("Invalid batch payload format: {e}")))?;
    if batch.requests.is_empty() || batch.requests.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "Number of requests must be between 1 and {MAX_REQUESTS}; {} were given.",
            batch.requests.len()
        )));
    }
    let Some(router) = emulator.graph_router.get().cloned() else {
        return Err(GraphError::bad_request("The batch endpoint is not ready."));
    };
    let mut answers = Vec::with_capacity(batch.requests.len());
    for item in &batch.requests {
        let method = Method::from_bytes(item.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| GraphError::bad_request(format!("Invalid method '{}'.", item.method)))?;
        let path = item.url.trim_start_matches("/v1.0");
        let uri = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let mut builder = Request::builder().method(method).uri(uri);
        for name in [
            header::AUTHORIZATION.as_str(),
            "x-ms-throttle-priority",
            "client-request-id",
        ] {
            if let Some(value) = headers.get(name) {
                builder = builder.header(name, value);
            }
        }
        for (name, value) in &item.headers {
            if let Some(value) = value.as_str() {
                builder = builder.header(name.as_str(), value);
            }
        }
        let inner_body = match &item.body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = builder
            .body(inner_body)
            .map_err(|e| GraphError::bad_request(format!("Invalid request '{}': {e}", item.id)))?;
        let response = match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        answers.push(answer(&item.id, response).await);
    }
    let responses: Vec<Value> = answer_order(answers.len())
        .into_iter()
        .map(|i| answers[i].take())
        .collect();
    Ok(Json(json!({"responses": responses})).into_response())
}

async fn answer(id: &str, response: Response) -> Value {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for name in [
        header::CONTENT_TYPE.as_str(),
        "retry-after",
        "location",
        "x-ms-resource-unit",
    ] {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            let shown = if name == "content-type" {
                "Content-Type".to_owned()
            } else if name == "retry-after" {
                "Retry-After".to_owned()
            } else if name == "location" {
                "Location".to_owned()
            } else {
                name.to_owned()
            };
            headers.insert(shown, Value::String(value.to_owned()));
        }
    }
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice::<Value>(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    let mut out = json!({"id": id, "status": status, "headers": headers});
    if !bytes.is_empty() {
        out["body"] = body;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_back_out_of_order_but_complete() {
        assert_eq!(answer_order(4), vec![1, 3, 0, 2]);
        let mut all = answer_order(20);
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
    }
}
