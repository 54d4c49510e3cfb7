//! users/delta and groups/delta rounds.

use std::collections::{HashMap, HashSet};

use graph_emulator::{EmulatorConfig, FaultKind, FaultRule, GroupKind, well_known};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{graph_error_code, start, start_with};

const MINIMAL: (&str, &str) = ("Prefer", "return=minimal");

fn ids(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

fn keys(item: &Value) -> Vec<String> {
    let mut keys: Vec<String> = item.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

/// Source: user-delta.md ("Response": `@odata.context`, `@odata.nextLink` with `$skiptoken`,
/// then `@odata.deltaLink` with `$deltatoken`); delta-query-overview.md (the initial round is
/// the full state; `Prefer: odata.maxpagesize`).
#[tokio::test]
async fn the_initial_round_returns_every_live_user_over_several_pages() {
    let env = start(450, 20).await;
    let token = env.token().await;
    let first = "/users/delta?$select=displayName,jobTitle,manager";
    let (status, headers, body) = env
        .get_with(&token, first, &[("Prefer", "odata.maxpagesize=100")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["preference-applied"], "odata.maxpagesize=100");
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#users", env.running.graph_url)
    );
    let next = body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with(&format!(
            "{}/users/delta?$skiptoken=",
            env.running.graph_url
        )),
        "{next}"
    );
    assert_eq!(body["value"].as_array().expect("value").len(), 100);
    let (items, delta_link, pages) = env
        .round(&token, first, &[("Prefer", "odata.maxpagesize=100")])
        .await;
    assert_eq!(pages, 5);
    assert_eq!(items.len(), 450);
    assert_eq!(ids(&items).len(), 450);
    assert!(delta_link.starts_with(&format!(
        "{}/users/delta?$deltatoken=",
        env.running.graph_url
    )));
    let managed = items
        .iter()
        .find(|i| i.get("manager@delta").is_some())
        .expect("someone has a manager");
    assert_eq!(
        managed["manager@delta"][0]["@odata.type"],
        "#microsoft.graph.user"
    );
    assert!(
        items
            .iter()
            .all(|i| i.get("id").is_some() && i.get("displayName").is_some())
    );
}

/// Source: user-delta.md (Example 3 "minimal response": only changed properties, nulls
/// included); delta-query-users.md (`manager@delta`, `@removed` with reason `changed`);
/// delta-query-overview.md ("changed" = soft-deleted, "deleted" = permanently deleted).
/// An emulator behind a name (a container's service name) hands out links under that name, not
/// under the address it is bound to, so clients can follow them.
#[tokio::test]
async fn links_name_the_public_url_rather_than_the_bound_address() {
    let env = start_with(EmulatorConfig {
        users: 150,
        groups: 5,
        public_url: Some("http://emulator:4580/".to_owned()),
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(env.running.graph_url, "http://emulator:4580/v1.0");
    assert_eq!(env.running.authority_url, "http://emulator:4580");
    let bound = format!("http://{}", env.running.local_addr);
    let app = env.app();
    let token = env
        .client
        .post(format!("{bound}/{}/oauth2/v2.0/token", app.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id.to_string()),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(token.status(), StatusCode::OK);
    let token: Value = token.json().await.expect("token json");
    let token = token["access_token"].as_str().expect("access_token");
    let (status, _, body) = env
        .get_with(
            token,
            &format!("{bound}/v1.0/users/delta?$select=displayName"),
            &[("Prefer", "odata.maxpagesize=100")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with("http://emulator:4580/v1.0/users/delta?$skiptoken="),
        "{next}"
    );
}

#[tokio::test]
async fn a_second_round_reports_exactly_the_changes_with_minimal_properties() {
    let env = start(120, 10).await;
    let token = env.token().await;
    let tenant = env.tenant();
    let select = "/users/delta?$select=displayName,jobTitle,department,mobilePhone,manager";
    let (initial, delta_link, _) = env.round(&token, select, &[]).await;
    let mut live: Vec<String> = initial
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    live.sort();
    let id = |n: usize| uuid::Uuid::parse_str(&live[n]).expect("uuid");
    let control = &env.running.control;

    control
        .update_user(
            tenant,
            id(1),
            json!({"jobTitle": "Chief Coffee Officer", "mobilePhone": null}),
        )
        .expect("update");
    control
        .set_manager(tenant, id(2), Some(id(3)))
        .expect("manager");
    control
        .soft_delete_user(tenant, id(4))
        .expect("soft delete");
    control
        .hard_delete_user(tenant, id(5))
        .expect("hard delete");
    let created = control.create_user(tenant, json!({"userPrincipalName": "zoe.o'neill@contoso.com", "displayName": "Zoë O'Neill", "jobTitle": "Analyst"})).expect("create");
    // Outside $select: no notification.
    control
        .update_user(tenant, id(6), json!({"city": "Reykjavík"}))
        .expect("city");

    let (changes, _, _) = env.round(&token, &delta_link, &[MINIMAL]).await;
    let by_id: HashMap<String, &Value> = changes
        .iter()
        .map(|c| (c["id"].as_str().expect("id").to_owned(), c))
        .collect();
    let expected: HashSet<String> = [id(1), id(2), id(4), id(5), created]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids(&changes), expected, "{changes:#?}");
    let updated = by_id[&id(1).to_string()];
    assert_eq!(keys(updated), vec!["id", "jobTitle", "mobilePhone"]);
    assert_eq!(updated["jobTitle"], "Chief Coffee Officer");
    assert!(updated["mobilePhone"].is_null());
    let moved = by_id[&id(2).to_string()];
    assert_eq!(keys(moved), vec!["id", "manager@delta"]);
    assert_eq!(
        moved["manager@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": id(3)}])
    );
    assert_eq!(
        *by_id[&id(4).to_string()],
        json!({"id": id(4), "@removed": {"reason": "changed"}})
    );
    assert_eq!(
        *by_id[&id(5).to_string()],
        json!({"id": id(5), "@removed": {"reason": "deleted"}})
    );
    let new = by_id[&created.to_string()];
    assert_eq!(new["displayName"], "Zoë O'Neill");
    assert_eq!(new["jobTitle"], "Analyst");

    // Without return=minimal the same round carries every selected property.
    let (full, _, _) = env.round(&token, &delta_link, &[]).await;
    let updated = full
        .iter()
        .find(|c| c["id"] == id(1).to_string())
        .expect("updated user");
    assert!(updated.get("displayName").is_some() && updated.get("department").is_some());
}

/// Source: delta-query-overview.md ("Use $select to track only the properties you need":
/// changes to other properties do not surface the object).
#[tokio::test]
async fn a_change_outside_select_produces_no_notification() {
    let env = start(60, 5).await;
    let token = env.token().await;
    let (items, delta_link, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;
    let someone = uuid::Uuid::parse_str(items[0]["id"].as_str().expect("id")).expect("uuid");
    env.running
        .control
        .update_user(
            env.tenant(),
            someone,
            json!({"department": "Moved", "jobTitle": "New"}),
        )
        .expect("update");
    let (changes, _, _) = env.round(&token, &delta_link, &[MINIMAL]).await;
    assert!(changes.is_empty(), "{changes:?}");
    let (changes, _, _) = env
        .round(&token, "/users/delta?$select=displayName,department", &[])
        .await;
    assert_eq!(
        changes.len(),
        items.len(),
        "a fresh round with department is a full state again"
    );
}

/// Source: delta-query-overview.md ("$deltatoken=latest" returns an empty response with a
/// deltaLink).
#[tokio::test]
async fn deltatoken_latest_returns_only_a_delta_link_and_later_changes_follow() {
    let env = start(30, 5).await;
    let token = env.token().await;
    let (status, _, body) = env
        .get(
            &token,
            "/users/delta?$deltatoken=latest&$select=displayName",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], json!([]));
    assert!(body.get("@odata.nextLink").is_none());
    let link = body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    let user = env
        .running
        .control
        .create_user(
            env.tenant(),
            json!({"id": "00000000-0000-4000-8000-00000000000a", "userPrincipalName": "new@contoso.com", "displayName": "New"}),
        )
        .expect("create");
    assert_eq!(
        user.to_string(),
        "00000000-0000-4000-8000-00000000000a",
        "a given id is kept"
    );
    let (changes, _, _) = env.round(&token, &link, &[]).await;
    assert_eq!(ids(&changes), HashSet::from([user.to_string()]));
}

/// Source: user-delta.md ("$filter=id eq … or …", "There is a limit of 50 filtered
/// objects"; anything else is not supported).
#[tokio::test]
async fn delta_filters_by_up_to_fifty_ids_and_refuses_other_filters() {
    let env = start(80, 5).await;
    let token = env.token().await;
    let (all, _, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;
    let wanted: Vec<&str> = all
        .iter()
        .take(3)
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    let filter: Vec<String> = wanted.iter().map(|id| format!("id eq '{id}'")).collect();
    let (items, _, _) = env
        .round(
            &token,
            &format!(
                "/users/delta?$select=displayName&$filter={}",
                filter.join(" or ")
            ),
            &[],
        )
        .await;
    assert_eq!(
        ids(&items),
        wanted.iter().map(|s| (*s).to_owned()).collect()
    );
    let too_many: Vec<String> = (0..51)
        .map(|_| format!("id eq '{}'", uuid::Uuid::new_v4()))
        .collect();
    let (status, headers, body) = env
        .get(
            &token,
            &format!("/users/delta?$filter={}", too_many.join(" or ")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_UnsupportedQuery"
    );
    let (status, headers, body) = env
        .get(&token, "/users/delta?$filter=displayName eq 'x'")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Request_UnsupportedQuery"
    );
}

/// Source: group-delta.md (`$select=displayName,members`, `$filter=id eq …`, "members@delta"
/// example); delta-query-groups.md ("deltaLink response": removed member with
/// `@removed: deleted`, added member plain; "Paging through members in a large group").
#[tokio::test]
async fn group_delta_reports_membership_additions_and_removals_and_splits_large_groups() {
    let env = start(300, 20).await;
    let token = env.token().await;
    let control = &env.running.control;
    let tenant = env.tenant();
    let all_company = control
        .find_group(tenant, well_known::ALL_COMPANY)
        .expect("All Company");
    let visitors = control
        .find_group(tenant, well_known::VISITORS_DESK)
        .expect("Visitors' Desk");
    let first = format!(
        "/groups/delta?$select=displayName,members&$filter=id eq '{all_company}' or id eq '{visitors}'"
    );
    let (items, delta_link, pages) = env
        .round(&token, &first, &[("Prefer", "odata.maxpagesize=50")])
        .await;
    assert!(
        pages >= 6,
        "a {}-member group over pages of 50 objects: {pages} pages",
        items.len()
    );
    let company_chunks: Vec<&Value> = items
        .iter()
        .filter(|i| i["id"] == all_company.to_string())
        .collect();
    assert!(
        company_chunks.len() > 1,
        "the large group repeats on several pages"
    );
    assert!(
        company_chunks
            .iter()
            .all(|c| c["displayName"] == well_known::ALL_COMPANY)
    );
    let members: HashSet<&str> = company_chunks
        .iter()
        .flat_map(|c| c["members@delta"].as_array().expect("members@delta"))
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    let expected = control
        .with_directory(tenant, |d| d.group(all_company).map(|g| g.members.len()))
        .expect("dir")
        .expect("group");
    assert_eq!(members.len(), expected);

    let leaver = control
        .with_directory(tenant, |d| {
            d.group(visitors)
                .and_then(|g| g.members.first().map(|m| m.id))
        })
        .expect("dir")
        .expect("a guest");
    let joiner = control
        .find_user(
            tenant,
            &control
                .with_directory(tenant, |d| {
                    d.users
                        .iter()
                        .find(|u| !d.group(visitors).is_some_and(|g| g.has_member(u.id)))
                        .and_then(|u| {
                            u.text(graph_emulator::directory::UserProp::UserPrincipalName)
                                .map(str::to_owned)
                        })
                })
                .expect("dir")
                .expect("upn"),
        )
        .expect("joiner");
    control
        .remove_member(tenant, visitors, leaver)
        .expect("remove");
    control.add_member(tenant, visitors, joiner).expect("add");
    let other = control
        .create_group(tenant, "SG-Not-Tracked", GroupKind::Security)
        .expect("group");
    control
        .add_member(tenant, other, joiner)
        .expect("add elsewhere");

    let (changes, _, _) = env.round(&token, &delta_link, &[MINIMAL]).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["id"], visitors.to_string());
    assert_eq!(
        changes[0]["members@delta"],
        json!([
            {"@odata.type": "#microsoft.graph.user", "id": leaver, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.user", "id": joiner}
        ])
    );
    assert!(
        changes[0].get("displayName").is_none(),
        "return=minimal leaves the unchanged name out"
    );
}

/// Source: delta-query-groups.md ("When a group is deleted (Microsoft 365 groups), the item
/// contains an annotation: `@removed` with value of `reason: changed`"; permanently deleted
/// groups, security groups among them, `reason: deleted`); a deleted group leaves the groups it
/// was a member of, whose `members@delta` show it removed (delta-query-groups.md, "deltaLink
/// response").
#[tokio::test]
async fn a_deleted_group_is_reported_removed_and_leaves_its_parents() {
    let env = start(50, 20).await;
    let token = env.token().await;
    let control = &env.running.control;
    let tenant = env.tenant();
    let someone = control
        .with_directory(tenant, |d| d.live_users().next().map(|u| u.id))
        .expect("dir")
        .expect("a user");
    let parent = control
        .create_group(tenant, "SG-Parent", GroupKind::Security)
        .expect("parent");
    let child = control
        .create_group(tenant, "SG-Child", GroupKind::Security)
        .expect("child");
    let team = control
        .create_group(tenant, "Team Rollout", GroupKind::Microsoft365)
        .expect("team");
    control.add_member(tenant, child, someone).expect("add");
    control.add_member(tenant, parent, child).expect("nest");
    control.add_member(tenant, team, someone).expect("add");
    let first = format!(
        "/groups/delta?$select=displayName,members&$filter=id eq '{parent}' or id eq '{child}' or id eq '{team}'"
    );
    let (items, delta_link, _) = env.round(&token, &first, &[]).await;
    assert_eq!(items.len(), 3, "{items:#?}");

    control.delete_group(tenant, child).expect("delete child");
    // The Microsoft 365 group goes through the HTTP control route.
    let url = format!("{}/tenants/{tenant}/groups/{team}", env.running.control_url);
    let response = env.client.delete(&url).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = env.client.delete(&url).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "already deleted");
    assert!(control.find_group(tenant, "SG-Child").is_none());

    let (changes, next_link, _) = env.round(&token, &delta_link, &[MINIMAL]).await;
    let by_id: HashMap<String, &Value> = changes
        .iter()
        .map(|c| (c["id"].as_str().expect("id").to_owned(), c))
        .collect();
    assert_eq!(by_id.len(), 3, "{changes:#?}");
    assert_eq!(
        by_id[&parent.to_string()]["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.group", "id": child, "@removed": {"reason": "deleted"}}])
    );
    assert_eq!(
        *by_id[&child.to_string()],
        json!({"id": child, "@removed": {"reason": "deleted"}}),
        "a security group is deleted for good"
    );
    assert_eq!(
        *by_id[&team.to_string()],
        json!({"id": team, "@removed": {"reason": "changed"}}),
        "a Microsoft 365 group goes to deleted items"
    );
    let (again, _, _) = env.round(&token, &next_link, &[]).await;
    assert_eq!(again, Vec::<Value>::new(), "a deletion is reported once");

    let (fresh, _, _) = env.round(&token, &first, &[]).await;
    assert_eq!(
        ids(&fresh),
        HashSet::from([parent.to_string()]),
        "an initial round leaves deleted groups out"
    );
    assert_eq!(fresh[0].get("members@delta"), None, "{fresh:#?}");
    let (status, _, _) = env.get(&token, &format!("/groups/{child}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Source: delta-query-overview.md ("Synchronization reset": 410 Gone with a Location
/// header; expired tokens `syncStateNotFound`); `Directory_ExpiredPageToken` as Graph
/// returns it for an expired skip token.
#[tokio::test]
async fn expired_tokens_and_resync_are_reported_as_graph_does() {
    let env = start(150, 5).await;
    let token = env.token().await;
    let control = &env.running.control;
    let (_, delta_link, _) = env
        .round(&token, "/users/delta?$select=displayName", &[])
        .await;

    control.add_fault(FaultRule::once(
        FaultKind::SyncStateNotFound,
        "/users/delta",
    ));
    let (status, headers, body) = env.get(&token, &delta_link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(graph_error_code(&body, &headers), "syncStateNotFound");

    control.add_fault(FaultRule::once(FaultKind::ResyncRequired, "/users/delta"));
    let (status, headers, body) = env.get(&token, &delta_link).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(graph_error_code(&body, &headers), "resyncRequired");
    let location = headers["location"].to_str().expect("location");
    assert!(
        location.starts_with(&format!("{}/users/delta?", env.running.graph_url))
            && location.contains("%24select=displayName"),
        "{location}"
    );
    let (restart, _, _) = env.round(&token, location, &[]).await;
    assert_eq!(restart.len(), 150, "the Location starts a full round");

    let (_, _, first_page) = env.get(&token, "/users/delta?$select=displayName").await;
    let next = first_page["@odata.nextLink"].as_str().expect("nextLink");
    control.add_fault(FaultRule::once(FaultKind::ExpiredPageToken, "/users/delta"));
    let (status, headers, body) = env.get(&token, next).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph_error_code(&body, &headers),
        "Directory_ExpiredPageToken"
    );

    env.clock.advance(chrono::Duration::days(8));
    let token = env.token().await;
    let (status, headers, body) = env.get(&token, &delta_link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "delta tokens live 7 days");
    assert_eq!(graph_error_code(&body, &headers), "syncStateNotFound");
}
