//! $batch.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::start;

/// Source: json-batching.md ("requests" with id/method/url, "responses" with
/// id/status/headers/body, at most 20 requests, responses "may appear in a different order").
#[tokio::test]
async fn batches_of_twenty_sign_in_reads_answer_every_id_out_of_order() {
    let env = start(60, 0).await;
    let token = env.token().await;
    let (_, _, list) = env.get(&token, "/users?$select=id&$top=20").await;
    let requests: Vec<Value> = list["value"].as_array().expect("value").iter().enumerate()
        .map(|(n, u)| json!({"id": (n + 1).to_string(), "method": "GET", "url": format!("/users/{}?$select=id,signInActivity", u["id"].as_str().expect("id"))}))
        .collect();
    let (status, _, body) = env
        .post_json(&token, "/$batch", &json!({"requests": requests}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let responses = body["responses"].as_array().expect("responses");
    assert_eq!(responses.len(), 20);
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_ne!(ids[0], "1", "answers are not in request order");
    let mut sorted: Vec<usize> = ids.iter().map(|i| i.parse().expect("n")).collect();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<_>>());
    for response in responses {
        assert_eq!(response["status"], 200);
        assert!(response["headers"].is_object());
        assert!(response["body"].get("signInActivity").is_some());
    }
    let counters = env.running.control.counters();
    assert_eq!(
        counters.count("GET /v1.0/users/{id}"),
        20,
        "parts count under their own endpoint"
    );

    let too_many: Vec<Value> = (0..21)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let (status, _, _) = env
        .post_json(&token, "/$batch", &json!({"requests": too_many}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
