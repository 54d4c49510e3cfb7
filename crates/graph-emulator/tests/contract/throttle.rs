//! Resource-unit throttling.

use graph_emulator::{EmulatorConfig, well_known};
use reqwest::StatusCode;

use crate::common::{graph_error_code, start_with};

/// Source: throttling-limits.md ("Identity and access service limits": S-size tenant 3 500
/// resource units per 10 s per app+tenant; `GET groups/{id}/transitiveMembers` costs 5;
/// 429 responses carry `Retry-After`, `x-ms-throttle-scope`, `x-ms-throttle-information`;
/// every response carries `x-ms-resource-unit`; `x-ms-throttle-limit-percentage` above 80 %).
#[tokio::test]
async fn a_burst_beyond_the_bucket_is_throttled_and_succeeds_after_retry_after() {
    let env = start_with(EmulatorConfig {
        users: 40,
        groups: 14,
        throttle: true,
        ..EmulatorConfig::default()
    })
    .await;
    let token = env.token().await;
    let group = env
        .running
        .control
        .find_group(env.tenant(), well_known::ALL_AGENTS)
        .expect("group");
    let path = format!("/groups/{group}/transitiveMembers");
    let mut admitted = 0;
    let mut saw_percentage = false;
    let (retry_after, headers, body) = loop {
        let (status, headers, body) = env.get(&token, &path).await;
        assert!(headers.contains_key("x-ms-resource-unit"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            break (
                headers["retry-after"]
                    .to_str()
                    .expect("retry-after")
                    .parse::<i64>()
                    .expect("seconds"),
                headers,
                body,
            );
        }
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ms-resource-unit"], "5");
        saw_percentage |= headers.contains_key("x-ms-throttle-limit-percentage");
        admitted += 1;
        assert!(admitted <= 700, "the bucket never emptied");
    };
    assert_eq!(admitted, 700, "3 500 units at 5 units a request");
    assert!(
        saw_percentage,
        "x-ms-throttle-limit-percentage appears past 80 %"
    );
    assert!(retry_after >= 1);
    assert_eq!(graph_error_code(&body, &headers), "TooManyRequests");
    let scope = headers["x-ms-throttle-scope"].to_str().expect("scope");
    assert_eq!(
        scope,
        format!(
            "Tenant_Application/ReadWrite/{}/{}",
            env.app().client_id,
            env.tenant()
        )
    );
    assert_eq!(
        headers["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );

    env.clock.advance(chrono::Duration::seconds(retry_after));
    let (status, _, _) = env.get(&token, &path).await;
    assert_eq!(status, StatusCode::OK, "the retry after Retry-After passes");
    let counters = env.running.control.counters();
    assert_eq!(
        counters.count_status("GET /v1.0/groups/{id}/transitiveMembers", 429),
        1
    );
}
