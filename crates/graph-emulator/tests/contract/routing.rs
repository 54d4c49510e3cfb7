//! Request routing as Graph resolves it: the OData function syntax `delta()`, and unknown
//! paths (token first, then 400 naming the first segment that does not resolve), all counted.

use graph_emulator::graph::UNROUTED;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{graph_error_code, start};

fn ids(items: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Source: user-delta.md and group-delta.md ("HTTP request": `GET /users/delta`; the SDKs
/// send the function call syntax `/users/delta()`).
#[tokio::test]
async fn delta_function_syntax_answers_like_delta_on_users_and_groups() {
    let env = start(30, 5).await;
    let token = env.token().await;
    for collection in ["users", "groups"] {
        let (plain, plain_link, _) = env
            .round(&token, &format!("/{collection}/delta"), &[])
            .await;
        let (called, called_link, _) = env
            .round(
                &token,
                &format!("/{collection}/delta()?$select=displayName"),
                &[],
            )
            .await;
        assert_eq!(ids(&plain), ids(&called), "{collection}");
        assert!(!plain.is_empty());
        assert!(
            called_link.starts_with(&format!(
                "{}/{collection}/delta?$deltatoken=",
                env.running.graph_url
            )),
            "{called_link}"
        );
        assert!(plain_link.contains("$deltatoken="));
        let (status, _, body) = env.get(&token, &called_link).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["value"], Value::Array(Vec::new()), "{collection}");
        let counters = env.running.control.counters();
        assert_eq!(
            counters.count_status(&format!("GET /v1.0/{collection}/delta()"), 200),
            1
        );
    }
}

/// Source: concepts/errors.md (401 `InvalidAuthenticationToken` before anything else; 400
/// `BadRequest` "Resource not found for the segment '…'" naming one segment).
#[tokio::test]
async fn unknown_paths_ask_for_a_token_first_then_name_the_first_unresolved_segment() {
    let env = start(5, 1).await;
    let (status, headers, body) = env
        .get_with(
            "",
            "/users/00000000-0000-0000-0000-000000000001/photoz/x",
            &[("client-request-id", "c0ffee00-0000-0000-0000-000000000000")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        graph_error_code(&body, &headers),
        "InvalidAuthenticationToken"
    );
    assert_eq!(
        headers["client-request-id"],
        "c0ffee00-0000-0000-0000-000000000000"
    );
    assert!(headers.contains_key("www-authenticate"));

    let token = env.token().await;
    for (path, segment) in [
        (
            "/users/00000000-0000-0000-0000-000000000001/photoz/x",
            "photoz",
        ),
        ("/nothingHere/at/all", "nothingHere"),
        ("/groups/delta()/extra", "extra"),
        ("/users/a/manager/b", "b"),
    ] {
        let (status, headers, body) = env.get(&token, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(graph_error_code(&body, &headers), "BadRequest");
        assert_eq!(
            body["error"]["message"],
            format!("Resource not found for the segment '{segment}'."),
            "{path}"
        );
        assert_eq!(
            body["error"]["innerError"]["client-request-id"],
            headers["client-request-id"].to_str().expect("header"),
        );
        assert!(
            headers["content-type"]
                .to_str()
                .expect("header")
                .starts_with("application/json")
        );
    }
    let counters = env.running.control.counters();
    let unrouted = format!("GET {UNROUTED}");
    assert_eq!(counters.count_status(&unrouted, 401), 1);
    assert_eq!(counters.count_status(&unrouted, 400), 4);
}

/// Paths outside `/v1.0`, the authority and the control API are answered in Graph's error
/// shape and counted too.
#[tokio::test]
async fn other_versions_are_refused_and_counted() {
    let env = start(5, 1).await;
    let url = format!("{}/beta/users", env.running.authority_url);
    let response = env.client.get(url).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("json");
    assert_eq!(graph_error_code(&body, &headers), "BadRequest");
    assert_eq!(body["error"]["message"], "Invalid version: beta");
    let counters = env.running.control.counters();
    assert_eq!(counters.count_status("GET (unrouted)", 400), 1);
}
