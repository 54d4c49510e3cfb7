//! Scripted faults.

use std::time::Duration;

use graph_emulator::{FaultKind, FaultRule, Trigger};
use reqwest::StatusCode;

use crate::common::{graph_error_code, start};

/// Source: concepts/errors.md (503 with Retry-After; 429 `TooManyRequests`) — scripted here
/// one-shot, counted and for a tenant.
#[tokio::test]
async fn scripted_503_429_and_malformed_json_hit_the_next_matching_requests() {
    let env = start(20, 0).await;
    let token = env.token().await;
    let control = &env.running.control;
    control.add_fault(FaultRule::once(
        FaultKind::ServiceUnavailable {
            retry_after_secs: Some(3),
        },
        "/users",
    ));
    let (status, headers, body) = env.get(&token, "/users").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(graph_error_code(&body, &headers), "serviceNotAvailable");
    let (status, _, _) = env.get(&token, "/users").await;
    assert_eq!(status, StatusCode::OK, "one-shot");

    control.add_fault(FaultRule {
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 7,
        },
        endpoint: Some("GET /v1.0/users".into()),
        tenant: Some(env.tenant()),
        trigger: Trigger::Times { count: 2 },
    });
    for _ in 0..2 {
        let (status, headers, _) = env.get(&token, "/users").await;
        assert_eq!(
            (status, headers["retry-after"].to_str().expect("ra")),
            (StatusCode::TOO_MANY_REQUESTS, "7")
        );
    }
    control.add_fault(FaultRule::once(FaultKind::MalformedJson, "/users"));
    let (status, _, body) = env.get(&token, "/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_string(), "the body does not parse as JSON");
}

/// A rate-based rule fires on about its share of requests, reproducibly for one seed; the
/// counters see every request, with `x-ms-throttle-priority: low` ones counted apart.
#[tokio::test]
async fn a_rate_based_fault_hits_a_share_of_requests_and_counters_see_them() {
    let env = start(10, 0).await;
    let token = env.token().await;
    env.running.control.add_fault(FaultRule {
        kind: FaultKind::ServiceUnavailable {
            retry_after_secs: None,
        },
        endpoint: Some("/users".into()),
        tenant: None,
        trigger: Trigger::Rate { probability: 0.3 },
    });
    let mut failed = 0;
    for _ in 0..200 {
        let (status, _, _) = env
            .get_with(
                &token,
                "/users?$top=1",
                &[("x-ms-throttle-priority", "low")],
            )
            .await;
        failed += u32::from(status == StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!((35..=85).contains(&failed), "{failed} of 200 at 30 %");
    env.running.control.clear_faults();
    let (status, _, _) = env.get(&token, "/users?$top=1").await;
    assert_eq!(status, StatusCode::OK);
    let counters = env.running.control.counters();
    assert_eq!(counters.count("GET /v1.0/users"), 201);
    assert_eq!(
        counters.count_status("GET /v1.0/users", 503),
        u64::from(failed)
    );
    assert_eq!(counters.low_priority, 200);
}

/// A timeout fault holds the response past the client's timeout.
#[tokio::test]
async fn a_timeout_fault_outlasts_the_client_timeout() {
    let env = start(5, 0).await;
    let token = env.token().await;
    env.running.control.add_fault(FaultRule::once(
        FaultKind::Timeout { hang_ms: 5_000 },
        "/users",
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let error = client
        .get(format!("{}/users", env.running.graph_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect_err("times out");
    assert!(error.is_timeout());
}
