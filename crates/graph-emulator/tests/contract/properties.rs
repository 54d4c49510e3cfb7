//! `$select` of documented properties the emulator does not model: Graph accepts every
//! property of the v1.0 resource and shows one without a value as `null` (a collection as
//! `[]`); only names that are not properties are refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{graph_error_code, start};

/// Source: resources/user.md ("Properties": externalUserState, proxyAddresses,
/// employeeHireDate); user-list.md ("$select").
#[tokio::test]
async fn users_answer_unmodelled_documented_properties_as_null_or_empty() {
    let env = start(3, 1).await;
    let token = env.token().await;
    let select = "displayName,externalUserState,proxyAddresses,employeeHireDate";
    let (status, _, body) = env.get(&token, &format!("/users?$select={select}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = &body["value"][0];
    assert_eq!(first["externalUserState"], Value::Null);
    assert_eq!(first["proxyAddresses"], json!([]));
    assert_eq!(first["employeeHireDate"], Value::Null);
    assert!(first["displayName"].is_string());
    let mut keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "displayName",
            "employeeHireDate",
            "externalUserState",
            "id",
            "proxyAddresses"
        ]
    );
    let id = first["id"].as_str().expect("id");
    let (status, _, one) = env
        .get(
            &token,
            &format!("/users/{id}?$select=ProxyAddresses,ageGroup"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["proxyAddresses"], json!([]));
    assert_eq!(one["ageGroup"], Value::Null);

    let (status, _, delta) = env
        .get(&token, &format!("/users/delta()?$select={select}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{delta}");
}

/// Source: user-list.md / group-get.md ("$select"); Graph's message for a name that is not a
/// property of the type.
#[tokio::test]
async fn names_that_are_not_properties_are_refused_with_graphs_message() {
    let env = start(3, 1).await;
    let token = env.token().await;
    for (path, kind) in [
        ("/users?$select=displayName,noSuchProperty", "user"),
        ("/groups?$select=displayName,noSuchProperty", "group"),
    ] {
        let (status, headers, body) = env.get(&token, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(graph_error_code(&body, &headers), "BadRequest");
        assert_eq!(
            body["error"]["message"],
            format!(
                "Could not find a property named 'noSuchProperty' on type 'microsoft.graph.{kind}'."
            )
        );
    }
}

/// Source: resources/group.md ("Properties": classification, proxyAddresses, isAssignableToRole).
#[tokio::test]
async fn groups_answer_unmodelled_documented_properties_as_null_or_empty() {
    let env = start(3, 2).await;
    let token = env.token().await;
    let select = "displayName,classification,proxyAddresses,isAssignableToRole";
    let (status, _, body) = env.get(&token, &format!("/groups?$select={select}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = &body["value"][0];
    assert_eq!(first["classification"], Value::Null);
    assert_eq!(first["proxyAddresses"], json!([]));
    assert_eq!(first["isAssignableToRole"], Value::Null);
    assert!(first["displayName"].is_string());
    let id = first["id"].as_str().expect("id");
    let (status, _, one) = env
        .get(&token, &format!("/groups/{id}?$select={select}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["proxyAddresses"], json!([]));
}
