//! Resources outside the sync path that real Graph clients read: organization, profile
//! photos, type-cast member collections and `$count`.

use graph_emulator::well_known;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{graph_error_code, start};

/// Source: organization-list.md, organization-get.md, resources/organization.md
/// (displayName, verifiedDomains with isInitial/isDefault, assignedPlans of the tenant's SKUs).
#[tokio::test]
async fn organization_lists_the_tenant_with_its_domains_and_plans() {
    let env = start(20, 3).await;
    let token = env.token().await;
    let tenant = env.tenant();
    let (status, headers, list) = env.get(&token, "/organization").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(headers.contains_key("request-id"));
    assert_eq!(
        list["@odata.context"],
        format!("{}/$metadata#organization", env.running.graph_url)
    );
    let org = &list["value"][0];
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(org["id"], tenant.to_string());
    assert!(org["displayName"].as_str().is_some_and(|n| !n.is_empty()));
    let domain = &org["verifiedDomains"][0];
    assert_eq!(domain["isInitial"], true);
    assert_eq!(domain["isDefault"], true);
    assert!(
        domain["name"]
            .as_str()
            .is_some_and(|n| n.ends_with(".onmicrosoft.com")),
        "{domain}"
    );
    let (_, _, skus) = env.get(&token, "/subscribedSkus").await;
    let plans: usize = skus["value"]
        .as_array()
        .expect("skus")
        .iter()
        .map(|s| s["servicePlans"].as_array().map_or(0, Vec::len))
        .sum();
    let assigned = org["assignedPlans"].as_array().expect("assignedPlans");
    assert_eq!(assigned.len(), plans);
    assert!(plans > 0);
    assert_eq!(assigned[0]["capabilityStatus"], "Enabled");
    assert!(assigned[0]["servicePlanId"].is_string());

    let (status, _, one) = env.get(&token, &format!("/organization/{tenant}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        one["@odata.context"],
        format!("{}/$metadata#organization/$entity", env.running.graph_url)
    );
    assert_eq!(one["displayName"], org["displayName"]);
    let (status, headers, other) = env
        .get(&token, "/organization/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        graph_error_code(&other, &headers),
        "Request_ResourceNotFound"
    );
}

/// Source: profilephoto-get.md ("If no photo exists, the operation returns 404 Not Found";
/// Graph's code is `ImageNotFound`), resources/profilephoto.md (id, height, width).
#[tokio::test]
async fn photos_answer_image_not_found_or_a_generated_photo() {
    let env = start(20, 0).await;
    let token = env.token().await;
    let (_, _, users) = env.get(&token, "/users?$select=id").await;
    let ids: Vec<String> = users["value"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    let has_photo = |id: &str| {
        u8::from_str_radix(&id[id.len() - 2..], 16)
            .expect("hex")
            .is_multiple_of(2)
    };
    let without = ids.iter().find(|id| !has_photo(id)).expect("one without");
    let with = ids.iter().find(|id| has_photo(id)).expect("one with");

    for path in ["photos", "photo", "photo/$value"] {
        let (status, headers, body) = env.get(&token, &format!("/users/{without}/{path}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(graph_error_code(&body, &headers), "ImageNotFound");
        assert_eq!(
            body["error"]["message"],
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."
        );
    }
    let (status, _, photos) = env.get(&token, &format!("/users/{with}/photos")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(photos["value"][0]["width"], 1);
    let (status, _, meta) = env.get(&token, &format!("/users/{with}/photo")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["@odata.mediaContentType"], "image/png");
    assert_eq!(meta["height"], 1);
    let response = env
        .client
        .get(format!(
            "{}/users/{with}/photo/$value",
            env.running.graph_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("photo");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.expect("bytes");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

/// Source: profilephoto-get.md ("Get the metadata for a specific photo size":
/// `GET /users/{id}/photos/{size}`), resources/profilephoto.md (a media entity keyed by its
/// id, so `photos/{size}/$value` is that size's image). Backstage's msgraph reader lists
/// `photos`, then fetches `photos/{id}/$value` of the size it picked.
#[tokio::test]
async fn a_size_listed_in_photos_has_its_metadata_and_its_image() {
    let env = start(20, 0).await;
    let token = env.token().await;
    let (_, _, users) = env.get(&token, "/users?$select=id").await;
    let ids: Vec<String> = users["value"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    let has_photo = |id: &str| {
        u8::from_str_radix(&id[id.len() - 2..], 16)
            .expect("hex")
            .is_multiple_of(2)
    };
    let with = ids.iter().find(|id| has_photo(id)).expect("one with");
    let without = ids.iter().find(|id| !has_photo(id)).expect("one without");

    let (_, _, photos) = env.get(&token, &format!("/users/{with}/photos")).await;
    let size = photos["value"][0]["id"]
        .as_str()
        .expect("size id")
        .to_owned();
    for asked in [size.clone(), size.to_lowercase()] {
        let (status, _, meta) = env
            .get(&token, &format!("/users/{with}/photos/{asked}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{asked}: {meta}");
        assert_eq!(meta["id"], size.as_str());
        assert_eq!(meta["height"], 1);
        let response = env
            .client
            .get(format!(
                "{}/users/{with}/photos/{asked}/$value",
                env.running.graph_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("photo");
        assert_eq!(response.status(), StatusCode::OK, "{asked}");
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.expect("bytes");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
    for path in [
        format!("/users/{with}/photos/648x648"),
        format!("/users/{with}/photos/648x648/$value"),
        format!("/users/{without}/photos/{size}/$value"),
    ] {
        let (status, headers, body) = env.get(&token, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(graph_error_code(&body, &headers), "ImageNotFound", "{path}");
    }
    let counters = env.running.control.counters();
    assert!(
        counters.by_endpoint.keys().all(|k| !k.contains("unrouted")),
        "{:?}",
        counters.by_endpoint.keys()
    );
}

/// Source: group-list-members.md (example "Get only the users in a group":
/// `/members/microsoft.graph.user`), group-list-transitivemembers.md.
#[tokio::test]
async fn type_cast_segments_keep_only_that_kind_with_or_without_a_trailing_slash() {
    let env = start(200, 20).await;
    let token = env.token().await;
    let control = &env.running.control;
    let dl = control
        .find_group(env.tenant(), well_known::ALL_STAFF_DL)
        .expect("dl");
    let nested = control
        .find_group(env.tenant(), well_known::ALL_AGENTS)
        .expect("nested");
    let graph = &env.running.graph_url;
    for (group, collection) in [
        (dl, "members"),
        (nested, "members"),
        (nested, "transitiveMembers"),
    ] {
        let (_, _, all) = env
            .get(&token, &format!("/groups/{group}/{collection}?$top=999"))
            .await;
        let all = all["value"].as_array().expect("all").clone();
        let mut seen = 0;
        for (cast, set) in [
            ("user", "users"),
            ("group", "groups"),
            ("orgContact", "contacts"),
        ] {
            let expected: Vec<&Value> = all
                .iter()
                .filter(|m| m["@odata.type"] == format!("#microsoft.graph.{cast}"))
                .collect();
            for slash in ["", "/"] {
                let path =
                    format!("/groups/{group}/{collection}/microsoft.graph.{cast}{slash}?$top=999");
                let (status, _, body) = env.get(&token, &path).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
                assert_eq!(body["@odata.context"], format!("{graph}/$metadata#{set}"));
                let value: Vec<&Value> = body["value"].as_array().expect("value").iter().collect();
                assert_eq!(value, expected, "{path}");
            }
            seen += expected.len();
        }
        assert_eq!(seen, all.len());
    }
    let (_, _, contacts) = env
        .get(
            &token,
            &format!("/groups/{dl}/members/microsoft.graph.orgContact"),
        )
        .await;
    assert!(!contacts["value"].as_array().expect("contacts").is_empty());
}

/// Source: user-list.md and group-list.md (examples "Get only a count": `/$count` as
/// text/plain, and `$count=true` adding `@odata.count`, both with `ConsistencyLevel:
/// eventual`); aad-advanced-queries.md (without the header the count is refused).
#[tokio::test]
async fn count_needs_consistency_level_eventual() {
    let env = start(37, 6).await;
    let token = env.token().await;
    let eventual = [("ConsistencyLevel", "eventual")];
    let (_, _, all_groups) = env.get(&token, "/groups?$top=999").await;
    let groups = all_groups["value"].as_array().expect("groups").len();
    for (path, expected) in [("/users/$count", 37), ("/groups/$count", groups)] {
        let (status, headers, body) = env.get_with(&token, path, &eventual).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/plain")
        );
        assert_eq!(body, Value::from(expected as u64), "{path}");
        let (status, headers, body) = env.get(&token, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            graph_error_code(&body, &headers),
            "Request_UnsupportedQuery"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("'ConsistencyLevel:eventual' header is missing")),
            "{body}"
        );
    }
    let (status, _, body) = env
        .get_with(&token, "/users?$count=true&$top=5", &eventual)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["@odata.count"], 37);
    assert_eq!(body["value"].as_array().map(Vec::len), Some(5));
    let (status, _, body) = env.get_with(&token, "/groups?$count=true", &eventual).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["@odata.count"], groups);
    let (status, headers, body) = env.get(&token, "/users?$count=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(graph_error_code(&body, &headers), "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "$count is not currently supported."
    );
    let (status, _, body) = env
        .get_with(
            &token,
            "/users/$count?$filter=accountEnabled eq false",
            &eventual,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_u64().is_some_and(|n| n < 37), "{body}");
}
