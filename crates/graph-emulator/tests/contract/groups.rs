//! /groups, members, transitiveMembers.

use graph_emulator::well_known;
use reqwest::StatusCode;

use crate::common::{graph_error_code, start};

/// Source: group-list.md (`$filter=displayName eq '…'`, response `@odata.context`
/// `$metadata#groups`; group properties) and OData quote escaping (`''`).
#[tokio::test]
async fn groups_resolve_by_display_name_with_escaped_quotes() {
    let env = start(100, 30).await;
    let token = env.token().await;
    let (status, _, body) = env
        .get(
            &token,
            "/groups?$filter=displayName eq 'Visitors'' Desk'&$select=id,displayName",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#groups", env.running.graph_url)
    );
    let value = body["value"].as_array().expect("value");
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["displayName"], "Visitors' Desk");
    let (_, _, none) = env
        .get(&token, "/groups?$filter=displayName eq 'No Such Group'")
        .await;
    assert_eq!(none["value"].as_array().expect("value").len(), 0);
    let (_, _, all) = env.get(&token, "/groups?$top=999").await;
    let group = &all["value"][0];
    for key in [
        "id",
        "displayName",
        "description",
        "groupTypes",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "createdDateTime",
    ] {
        assert!(group.get(key).is_some(), "{key}");
    }
    let (status, headers, body) = env.get(&token, "/groups?$filter=description eq 'x'").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_UnsupportedQuery"
    );
}

/// Source: group-get.md (`@odata.context …#groups/$entity`, group properties); concepts/errors.md
/// (404 `Request_ResourceNotFound`); an unknown path segment is a 400 `BadRequest`.
#[tokio::test]
async fn get_group_by_id_and_unknown_segments() {
    let env = start(30, 14).await;
    let token = env.token().await;
    let id = env
        .running
        .control
        .find_group(env.tenant(), well_known::CAB)
        .expect("group");
    let (status, _, body) = env
        .get(
            &token,
            &format!("/groups/{id}?$select=id,displayName,securityEnabled"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#groups/$entity", env.running.graph_url)
    );
    assert_eq!(body["displayName"], well_known::CAB);
    assert_eq!(body["securityEnabled"], true);
    let (status, headers, body) = env
        .get(&token, &format!("/groups/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_ResourceNotFound"
    );
    let (status, _, body) = env.get(&token, "/devices").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
}

/// Source: group-list-members.md (members with `@odata.type`: users, groups, org contacts);
/// group-list-transitivemembers.md (nested groups' members included).
#[tokio::test]
async fn members_include_contacts_and_transitive_members_include_nested_users() {
    let env = start(200, 20).await;
    let token = env.token().await;
    let control = &env.running.control;
    let dl = control
        .find_group(env.tenant(), well_known::ALL_STAFF_DL)
        .expect("dl");
    let (status, _, body) = env
        .get(&token, &format!("/groups/{dl}/members?$top=999"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#directoryObjects", env.running.graph_url)
    );
    let types: Vec<&str> = body["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|m| m["@odata.type"].as_str().expect("type"))
        .collect();
    assert!(
        types.contains(&"#microsoft.graph.orgContact") && types.contains(&"#microsoft.graph.user")
    );
    let nested = control
        .find_group(env.tenant(), well_known::ALL_AGENTS)
        .expect("nested");
    let (_, _, direct) = env.get(&token, &format!("/groups/{nested}/members")).await;
    let (_, _, transitive) = env
        .get(&token, &format!("/groups/{nested}/transitiveMembers"))
        .await;
    let direct = direct["value"].as_array().expect("value");
    assert_eq!(
        direct
            .iter()
            .filter(|m| m["@odata.type"] == "#microsoft.graph.group")
            .count(),
        2
    );
    assert!(transitive["value"].as_array().expect("value").len() > direct.len());
    let (_, _, paged) = env
        .get(&token, &format!("/groups/{dl}/members?$top=10"))
        .await;
    assert!(
        paged["@odata.nextLink"]
            .as_str()
            .expect("nextLink")
            .starts_with(&env.running.graph_url)
    );
}

/// Source: group-list.md ("Permissions": Group.Read.All or GroupMember.Read.All);
/// concepts/errors.md (403 `Authorization_RequestDenied`).
#[tokio::test]
async fn groups_need_a_group_permission() {
    let env = start(20, 14).await;
    let app = env
        .running
        .control
        .add_app(env.tenant(), "users-only", &["User.Read.All"])
        .expect("app");
    let token = env.token_for(&app).await;
    let (status, headers, body) = env.get(&token, "/groups").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Authorization_RequestDenied"
    );
}

/// `--groups 0` generates no groups at all, not even the well-known ones; any other size
/// keeps them.
#[tokio::test]
async fn zero_groups_means_no_groups_and_one_keeps_the_well_known_ones() {
    let env = start(10, 0).await;
    let token = env.token().await;
    let (status, _, body) = env.get(&token, "/groups").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], serde_json::json!([]));
    let (_, _, delta) = env.get(&token, "/groups/delta").await;
    assert_eq!(delta["value"], serde_json::json!([]));

    let env = start(10, 1).await;
    let token = env.token().await;
    let (_, _, body) = env.get(&token, "/groups?$top=999").await;
    let names: Vec<&str> = body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert!(names.contains(&well_known::ALL_COMPANY), "{names:?}");
}
