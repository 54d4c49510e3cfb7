//! subscribedSkus and assignLicense.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{graph_error_code, start};

/// Source: subscribedsku-list.md (Response: accountName, accountId, appliesTo,
/// capabilityStatus, consumedUnits, id, prepaidUnits{enabled,suspended,warning,lockedOut},
/// servicePlans[{servicePlanId,servicePlanName,provisioningStatus,appliesTo}], skuId,
/// skuPartNumber, subscriptionIds).
#[tokio::test]
async fn subscribed_skus_have_the_documented_shape() {
    let env = start(100, 0).await;
    let token = env.token().await;
    let (status, _, body) = env.get(&token, "/subscribedSkus").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#subscribedSkus", env.running.graph_url)
    );
    let sku = &body["value"][0];
    for key in [
        "accountName",
        "accountId",
        "appliesTo",
        "capabilityStatus",
        "consumedUnits",
        "id",
        "skuId",
        "skuPartNumber",
        "subscriptionIds",
    ] {
        assert!(sku.get(key).is_some(), "{key}");
    }
    for key in ["enabled", "suspended", "warning", "lockedOut"] {
        assert!(sku["prepaidUnits"][key].is_u64(), "{key}");
    }
    for key in [
        "servicePlanId",
        "servicePlanName",
        "provisioningStatus",
        "appliesTo",
    ] {
        assert!(sku["servicePlans"][0].get(key).is_some(), "{key}");
    }
    assert_eq!(sku["skuPartNumber"], "ENTERPRISEPACK");
}

/// Source: user-assignlicense.md (request body addLicenses/removeLicenses, response: the
/// user); errors for missing usage location, unknown SKU, no available units.
#[tokio::test]
async fn assign_license_enforces_usage_location_known_skus_and_units() {
    let env = start(200, 0).await;
    let token = env.token().await;
    let control = &env.running.control;
    let tenant = env.tenant();
    let (_, _, skus) = env.get(&token, "/subscribedSkus").await;
    let sku = |part: &str| {
        skus["value"]
            .as_array()
            .expect("value")
            .iter()
            .find(|s| s["skuPartNumber"] == part)
            .expect(part)
            .clone()
    };
    let power_bi = sku("POWER_BI_PRO");
    let visio = sku("VISIOCLIENT");
    let (candidate, no_location) = control
        .with_directory(tenant, |d| {
            use graph_emulator::directory::UserProp;
            let with = d
                .live_users()
                .find(|u| {
                    u.text(UserProp::UsageLocation).is_some()
                        && u.assigned_licenses.iter().all(|l| {
                            l.sku_id.to_string() != power_bi["skuId"].as_str().unwrap_or("")
                        })
                })
                .map(|u| u.id);
            let without = d
                .live_users()
                .find(|u| u.text(UserProp::UsageLocation).is_none())
                .map(|u| u.id);
            (with, without)
        })
        .expect("dir");
    let user = candidate.expect("a user with a usage location");
    let body = json!({"addLicenses": [{"disabledPlans": [], "skuId": power_bi["skuId"]}], "removeLicenses": []});
    let (status, _, response) = env
        .post_json(&token, &format!("/users/{user}/assignLicense"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["id"], user.to_string());
    let (_, _, after) = env.get(&token, "/subscribedSkus").await;
    let consumed = |v: &Value| {
        v["value"]
            .as_array()
            .expect("value")
            .iter()
            .find(|s| s["skuId"] == power_bi["skuId"])
            .expect("sku")["consumedUnits"]
            .as_u64()
    };
    assert_eq!(
        consumed(&after),
        power_bi["consumedUnits"].as_u64().map(|c| c + 1)
    );

    let bad = [
        (
            json!({"addLicenses": [{"disabledPlans": [], "skuId": uuid::Uuid::new_v4()}], "removeLicenses": []}),
            user,
        ),
        (
            json!({"addLicenses": [{"disabledPlans": [], "skuId": visio["skuId"]}], "removeLicenses": []}),
            user,
        ),
    ];
    for (body, user) in bad {
        let (status, headers, response) = env
            .post_json(&token, &format!("/users/{user}/assignLicense"), &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
        assert_eq!(graph_error_code(&response, &headers), "Request_BadRequest");
    }
    let (status, headers, response) = env
        .post_json(
            &token,
            &format!("/users/{user}/assignLicense"),
            &json!({"addLicenses": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(graph_error_code(&response, &headers), "BadRequest");
    if let Some(user) = no_location {
        let body = json!({"addLicenses": [{"disabledPlans": [], "skuId": power_bi["skuId"]}], "removeLicenses": []});
        let (status, _, response) = env
            .post_json(&token, &format!("/users/{user}/assignLicense"), &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            response["error"]["message"]
                .as_str()
                .expect("message")
                .contains("usage location")
        );
    }
}

/// Source: subscribedsku-list.md and user-assignlicense.md ("Permissions":
/// Organization.Read.All / LicenseAssignment.ReadWrite.All); concepts/errors.md (403).
#[tokio::test]
async fn licence_endpoints_need_their_permissions() {
    let env = start(30, 0).await;
    let app = env
        .running
        .control
        .add_app(env.tenant(), "reader", &["User.Read.All", "Group.Read.All"])
        .expect("app");
    let token = env.token_for(&app).await;
    let (status, headers, body) = env.get(&token, "/subscribedSkus").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Authorization_RequestDenied"
    );
    let (_, _, users) = env.get(&token, "/users?$select=id&$top=1").await;
    let id = users["value"][0]["id"].as_str().expect("id").to_owned();
    let body = json!({"addLicenses": [], "removeLicenses": []});
    let (status, headers, body) = env
        .post_json(&token, &format!("/users/{id}/assignLicense"), &body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Authorization_RequestDenied"
    );
}
