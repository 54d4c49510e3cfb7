//! The typed Graph endpoints (`graph::endpoints`) against the emulator: what `delta reset
//! --latest` and licence imports read.

use std::collections::BTreeSet;
use std::time::Duration;

use entra_sync::graph::endpoints::{PrepaidUnits, Sku};
use entra_sync::graph::{GraphClient, RetryPolicy};
use graph_emulator::Running;

async fn secret_client(users: usize) -> (Running, GraphClient) {
    crate::graph_client::secret_client(users, RetryPolicy::default(), Some(Duration::from_secs(30)))
        .await
}

/// The ids a delta round from `link` reports.
async fn ids_from(client: &GraphClient, link: &str) -> BTreeSet<String> {
    let mut pages = client.pages(client.link(link).expect("a Graph link"));
    let mut ids = BTreeSet::new();
    while let Some(page) = pages.next_page().await.expect("a page") {
        ids.extend(
            page.value
                .iter()
                .map(|u| u["id"].as_str().expect("an id").to_owned()),
        );
    }
    ids
}

#[tokio::test]
async fn the_latest_users_link_skips_everyone_and_reports_only_later_changes() {
    let (running, client) = secret_client(120).await;
    running.control.reset_counters();
    let link = client
        .latest_users_delta_link("id,displayName")
        .await
        .expect("the latest link")
        .expect("Graph returns a link");
    assert_eq!(
        running.control.counters().count("GET /v1.0/users/delta"),
        1,
        "one request, no initial round"
    );
    assert_eq!(ids_from(&client, &link).await, BTreeSet::new());

    let tenant = running.control.tenant_ids()[0];
    let who = running
        .control
        .with_directory(tenant, |d| d.users[7].id)
        .expect("a user");
    running
        .control
        .update_user(
            tenant,
            who,
            serde_json::json!({"displayName": "Renamed Later"}),
        )
        .expect("update");
    assert_eq!(
        ids_from(&client, &link).await,
        BTreeSet::from([who.to_string()])
    );
}

#[tokio::test]
async fn subscribed_skus_come_back_typed_as_the_tenant_has_them() {
    let (running, client) = secret_client(60).await;
    let tenant = running.control.tenant_ids()[0];
    let expected: Vec<Sku> = running
        .control
        .with_directory(tenant, |d| {
            d.skus
                .iter()
                .map(|s| Sku {
                    sku_id: s.sku_id.to_string(),
                    sku_part_number: s.part_number.to_string(),
                    consumed_units: i64::from(s.consumed_units),
                    prepaid_units: PrepaidUnits {
                        enabled: i64::from(s.enabled_units),
                        warning: i64::from(s.warning_units),
                        suspended: 0,
                    },
                    capability_status: "Enabled".to_owned(),
                })
                .collect()
        })
        .expect("the tenant's SKUs");
    assert!(!expected.is_empty());
    assert!(expected.iter().any(|s| s.consumed_units > 0));
    assert_eq!(client.subscribed_skus().await.expect("the SKUs"), expected);
}
