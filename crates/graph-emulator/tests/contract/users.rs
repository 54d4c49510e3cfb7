//! /users, /users/{id}, /users/{id}/manager.

use graph_emulator::EmulatorConfig;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{graph_error_code, start, start_with};

/// Source: user-list.md (Example 1 "Get all users": `@odata.context`, `@odata.nextLink`,
/// default properties businessPhones … userPrincipalName, id; default page 100).
#[tokio::test]
async fn list_users_returns_default_properties_and_absolute_next_links() {
    let env = start(150, 5).await;
    let token = env.token().await;
    let (status, headers, body) = env.get(&token, "/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
    assert!(headers.contains_key("request-id") && headers.contains_key("client-request-id"));
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#users", env.running.graph_url)
    );
    let value = body["value"].as_array().expect("value");
    assert_eq!(value.len(), 100);
    let mut keys: Vec<&str> = value[0]
        .as_object()
        .expect("user")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "businessPhones",
            "displayName",
            "givenName",
            "id",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName"
        ]
    );
    let next = body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with(&format!("{}/users?", env.running.graph_url))
            && next.contains("$skiptoken=")
    );
    let (_, _, page2) = env.get(&token, next).await;
    assert_eq!(page2["value"].as_array().expect("value").len(), 50);
    assert!(page2.get("@odata.nextLink").is_none());
}

/// Source: user-list.md ("$top … 1 and 999"; unsupported filters: `Request_UnsupportedQuery`).
#[tokio::test]
async fn top_outside_one_to_999_and_unsupported_filters_are_400() {
    let env = start(10, 0).await;
    let token = env.token().await;
    for path in [
        "/users?$top=1000",
        "/users?$top=0",
        "/users?$filter=endswith(mail,'x')",
        "/users?$filter=skills eq 'x'",
    ] {
        let (status, headers, body) = env.get(&token, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            graph_error_code(&body, &headers),
            "Request_UnsupportedQuery",
            "{path}"
        );
    }
}

/// Source: user-list.md ($filter on userPrincipalName / mail with `eq`, OData quote escaping).
#[tokio::test]
async fn filters_the_daemon_uses_find_users_including_apostrophes() {
    let env = start(300, 5).await;
    let token = env.token().await;
    let upn = env
        .running
        .control
        .with_directory(env.tenant(), |d| {
            d.users
                .iter()
                .filter_map(|u| u.text(graph_emulator::directory::UserProp::UserPrincipalName))
                .find(|u| u.contains('\'') && !u.contains("#EXT#"))
                .map(str::to_owned)
        })
        .expect("dir")
        .expect("an apostrophe UPN");
    let escaped = upn.replace('\'', "''");
    let (status, _, body) = env
        .get(
            &token,
            &format!(
                "/users?$filter=userPrincipalName eq '{escaped}'&$select=id,userPrincipalName"
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().expect("value").len(), 1);
    assert_eq!(body["value"][0]["userPrincipalName"], upn.as_str());
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/$metadata#users(id,userPrincipalName)",
            env.running.graph_url
        )
    );
    let (_, _, guests) = env
        .get(
            &token,
            "/users?$filter=userType eq 'Guest'&$select=id,userType&$top=999",
        )
        .await;
    assert!(
        guests["value"]
            .as_array()
            .expect("value")
            .iter()
            .all(|g| g["userType"] == "Guest")
    );
}

/// Source: user-list.md ("$expand … returns at most 100 objects per page"); user-list-manager.md.
#[tokio::test]
async fn expand_manager_caps_pages_at_100_and_embeds_the_manager() {
    let env = start(250, 5).await;
    let token = env.token().await;
    let (status, _, body) = env
        .get(
            &token,
            "/users?$top=999&$expand=manager($select=id,displayName)",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let value = body["value"].as_array().expect("value");
    assert_eq!(value.len(), 100);
    let with_manager = value
        .iter()
        .find(|u| u.get("manager").is_some())
        .expect("a managed user");
    assert_eq!(
        with_manager["manager"]["@odata.type"],
        "#microsoft.graph.user"
    );
    assert!(with_manager["manager"]["displayName"].is_string());
}

/// Source: user-get.md (by id or userPrincipalName; `@odata.context …/$entity`);
/// user-list-manager.md; concepts/errors.md (404 `Request_ResourceNotFound`).
#[tokio::test]
async fn get_user_by_id_or_upn_and_its_manager() {
    let env = start(40, 0).await;
    let token = env.token().await;
    let (_, _, list) = env
        .get(&token, "/users?$select=id,userPrincipalName&$top=999")
        .await;
    let users = list["value"].as_array().expect("value");
    let top = &users[0];
    let (status, _, by_upn) = env
        .get(
            &token,
            &format!("/users/{}", top["userPrincipalName"].as_str().expect("upn")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_upn["id"], top["id"]);
    assert_eq!(
        by_upn["@odata.context"],
        format!("{}/$metadata#users/$entity", env.running.graph_url)
    );
    let (status, headers, body) = env
        .get(
            &token,
            &format!("/users/{}/manager", top["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the top of the tree has no manager"
    );
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_ResourceNotFound"
    );
    let (status, _, manager) = env
        .get(
            &token,
            &format!("/users/{}/manager", users[1]["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(manager["id"], top["id"]);
    assert_eq!(manager["@odata.type"], "#microsoft.graph.user");
    let (status, headers, body) = env
        .get(&token, &format!("/users/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_ResourceNotFound"
    );
}

/// Source: user-list.md (Example "signInActivity": needs AuditLog.Read.All; pages of at most
/// 120); signinactivity.md (property names); concepts/errors.md (403
/// `Authorization_RequestDenied`).
#[tokio::test]
async fn sign_in_activity_needs_audit_log_read_all_and_pages_by_120() {
    let env = start_with(EmulatorConfig {
        users: 300,
        groups: 0,
        ..EmulatorConfig::default()
    })
    .await;
    let token = env.token().await;
    let (status, _, body) = env
        .get(&token, "/users?$select=id,signInActivity&$top=999")
        .await;
    assert_eq!(status, StatusCode::OK);
    let value = body["value"].as_array().expect("value");
    assert_eq!(value.len(), 120);
    let activity = value
        .iter()
        .map(|u| &u["signInActivity"])
        .find(|a| a.is_object())
        .expect("someone signed in");
    for key in [
        "lastSignInDateTime",
        "lastSignInRequestId",
        "lastNonInteractiveSignInDateTime",
        "lastNonInteractiveSignInRequestId",
        "lastSuccessfulSignInDateTime",
        "lastSuccessfulSignInRequestId",
    ] {
        assert!(activity.get(key).is_some(), "{key}");
    }
    let without = env
        .running
        .control
        .add_app(
            env.tenant(),
            "no-audit",
            &["User.Read.All", "Group.Read.All"],
        )
        .expect("app");
    let limited = env.token_for(&without).await;
    let (status, headers, body) = env.get(&limited, "/users?$select=id,signInActivity").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Authorization_RequestDenied"
    );
    let (status, _, _) = env.get(&limited, "/users?$select=id,displayName").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same app reads users without signInActivity"
    );
    let no_users = env
        .running
        .control
        .add_app(env.tenant(), "groups-only", &["Group.Read.All"])
        .expect("app");
    let token = env.token_for(&no_users).await;
    let (status, _, body): (_, _, Value) = env.get(&token, "/users/delta").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
