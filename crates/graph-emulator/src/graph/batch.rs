//! `POST /$batch` (concepts/json-batching.md): up to 20 requests, each run through the same
//! pipeline (authentication, faults, throttling, counters), run side by side and answered out of
//! order.

use std::sync::Arc;

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
    // Graph runs the parts of a batch side by side (no `dependsOn` here), so the emulator does too.
    let mut parts = Vec::with_capacity(batch.requests.len());
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
        let router = router.clone();
        let id = item.id.clone();
        parts.push(tokio::spawn(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            answer(id, response).await
        }));
    }
    let mut answers = Vec::with_capacity(parts.len());
    for part in parts {
        answers.push(Some(part.await.map_err(|e| {
            GraphError::bad_request(format!("A batch part failed: {e}"))
        })?));
    }
    let answers_reset = answers.iter().flatten().any(|a| a.reset);
    let mut body = b"{\"responses\":[".to_vec();
    for (n, i) in answer_order(answers.len()).into_iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        if let Some(answer) = answers[i].take() {
            answer.write(&mut body);
        }
    }
    body.extend_from_slice(b"]}");
    if answers_reset {
        // A part's connection was reset: on the wire that is the batch's own connection.
        let half = axum::body::Bytes::from(body).slice(..);
        let half = half.slice(..half.len() / 2);
        let cut = Body::from_stream(futures::stream::iter([
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the emulator's connection-reset fault",
            )),
        ]));
        return Ok(([(header::CONTENT_TYPE, "application/json")], cut).into_response());
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One part's answer. A JSON body is passed through as the text it was rendered as, so a batch of
/// full pages is neither parsed nor checked again.
struct Answer {
    id: String,
    status: u16,
    headers: Map<String, Value>,
    body: axum::body::Bytes,
    json: bool,
    /// Its body broke off (the connection-reset fault).
    reset: bool,
}

impl Answer {
    fn write(self, out: &mut Vec<u8>) {
        let head =
            json!({"id": self.id, "status": self.status, "headers": self.headers}).to_string();
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        if !self.body.is_empty() {
            out.extend_from_slice(b",\"body\":");
            if self.json {
                out.extend_from_slice(&self.body);
            } else {
                let text = Value::String(String::from_utf8_lossy(&self.body).into_owned());
                out.extend_from_slice(text.to_string().as_bytes());
            }
        }
        out.push(b'}');
    }
}

async fn answer(id: String, response: Response) -> Answer {
    let status = response.status().as_u16();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
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
    let (body, reset) = match to_bytes(response.into_body(), usize::MAX).await {
        Ok(body) => (body, false),
        Err(_) => (axum::body::Bytes::new(), true),
    };
    Answer {
        id,
        status,
        headers,
        body,
        json,
        reset,
    }
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
