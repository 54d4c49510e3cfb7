//! Licence write-back through the admin API, on both backends: an assignment and a removal
//! change the emulator's assignments and then the local links, each logged with source `api` and
//! the caller's agent; Graph's refusals (no usage location, a missing permission) come back with
//! advice and change nothing locally; a `read` caller is refused and an outsider gets 404.

use std::sync::Arc;

use entra_sync::service::{Service, SyncRequest};
use entra_sync::store::{InboundRow, LogQuery, Store};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::{AccessLevel, Action, NotificationKind};
use graph_emulator::directory::UserProp;
use graph_emulator::{AppCredentials, EmulatorConfig, Running};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::{agent, call, key, serve};
use crate::config_fixture::{ConfigFixture, SiteMapping};
use crate::emulator::start;
use crate::support::{TestDb, backends, cid};

/// A service over `db` for `contoso` signing in as `app`, licences imported and managed, after
/// a full sync.
pub(crate) async fn synced_desk(
    running: &Running,
    db: &TestDb,
    app: &AppCredentials,
    followers: Option<(u32, bool)>,
) -> (Service, Arc<dyn Store>) {
    let mut config = ConfigFixture::new(running, app)
        .database(&db.url)
        .contoso_desk()
        .entities(&["users", "agents", "licences"])
        .max_deactivations(1000)
        .site_mapping(SiteMapping::everyone_else(20))
        .site_mapping(
            SiteMapping::new(10, "Office staff", "Head Office")
                .group(graph_emulator::well_known::ALL_COMPANY)
                .when("officeLocation", "present"),
        )
        .import_licences("Contoso")
        .manage_licences();
    if let Some((max_members, default)) = followers {
        config = config.followers(max_members, default);
    }
    let (service, store, _) =
        crate::support::desk_service(&config.render(), "write-back.toml", &db.url).await;
    service
        .sync(SyncRequest {
            connection: "contoso".to_owned(),
            full: true,
            mode: Mode::Apply,
            wait: LeaseWait::Refuse,
            trigger: "test".to_owned(),
        })
        .await
        .expect("a full sync");
    (service, store)
}

/// The SKU ids the emulator assigns `user`, sorted.
fn assigned(running: &Running, tenant: Uuid, user: Uuid) -> Vec<String> {
    let mut skus: Vec<String> = running
        .control
        .with_directory(tenant, |d| {
            d.user(user)
                .unwrap()
                .assigned_licenses
                .iter()
                .map(|l| l.sku_id.to_string())
                .collect()
        })
        .unwrap();
    skus.sort();
    skus
}

/// The SKU ids `user` is linked to locally, sorted.
async fn linked(store: &dyn Store, user: &str) -> Vec<String> {
    let user = store
        .imported_user("contoso", user)
        .await
        .unwrap()
        .expect("an imported user");
    store
        .user_licences(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.sku_id)
        .collect()
}

/// The connection's licence rows in the inbound log, oldest first.
async fn licence_log(store: &dyn Store) -> Vec<InboundRow> {
    let mut rows: Vec<InboundRow> = store
        .inbound_log(&LogQuery {
            connection_id: Some(cid("contoso")),
            limit: 1_000,
            ..LogQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.notification == NotificationKind::Licence)
        .collect();
    rows.reverse();
    rows
}

/// An imported user with a usage location, and a SKU with units left they do not hold (its id
/// and part number).
async fn candidate(running: &Running, tenant: Uuid, store: &dyn Store) -> (Uuid, String, String) {
    let choices: Vec<(Uuid, String, String)> = running
        .control
        .with_directory(tenant, |d| {
            let open: Vec<_> = d
                .skus
                .iter()
                .filter(|s| s.available_units() > 0)
                .map(|s| (s.sku_id, s.part_number.to_string()))
                .collect();
            d.live_users()
                .filter(|u| u.text(UserProp::UsageLocation).is_some())
                .filter_map(|u| {
                    let (sku, part) = open
                        .iter()
                        .find(|(sku, _)| !u.assigned_licenses.iter().any(|l| l.sku_id == *sku))?;
                    Some((u.id, sku.to_string(), part.clone()))
                })
                .collect()
        })
        .unwrap();
    for choice in choices {
        if store
            .imported_user("contoso", &choice.0.to_string())
            .await
            .unwrap()
            .is_some()
        {
            return choice;
        }
    }
    panic!("no imported user without a licence they could get");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licences_are_assigned_and_removed_through_the_api_graph_first_and_logged() {
    let running = start(EmulatorConfig {
        users: 40,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).unwrap().clone();
    let tenant = app.tenant_id;
    let http = reqwest::Client::new();
    for db in backends().await {
        let (service, store) = synced_desk(&running, &db, &app, None).await;
        let modifier = agent(store.as_ref(), "modifier@contoso.com").await;
        agent(store.as_ref(), "reader@contoso.com").await;
        agent(store.as_ref(), "outsider@contoso.com").await;
        service
            .grant_access("contoso", "modifier@contoso.com", AccessLevel::ReadModify)
            .await
            .unwrap();
        service
            .grant_access("contoso", "reader@contoso.com", AccessLevel::Read)
            .await
            .unwrap();
        let bearer = |k: String| format!("Bearer {k}");
        let as_modifier = bearer(key(&service, Some("modifier@contoso.com"), None).await);
        let as_reader = bearer(key(&service, Some("reader@contoso.com"), None).await);
        let as_outsider = bearer(key(&service, Some("outsider@contoso.com"), None).await);
        let base = serve(service.clone()).await;

        let (user, sku, part) = candidate(&running, tenant, store.as_ref()).await;
        let url = format!("{base}/api/connections/contoso/users/{user}/licences");
        let before = assigned(&running, tenant, user);
        assert_eq!(linked(store.as_ref(), &user.to_string()).await, before);

        // A read-only caller is refused, an outsider does not see the connection: nothing moves.
        for (caller, status) in [(&as_reader, 403), (&as_outsider, 404)] {
            let (got, body) =
                call(&http, "POST", &url, Some(caller), Some(json!({"sku": sku}))).await;
            assert_eq!(got.as_u16(), status, "{body}");
            let (got, _) = call(&http, "DELETE", &format!("{url}/{sku}"), Some(caller), None).await;
            assert_eq!(got.as_u16(), status);
        }
        assert_eq!(assigned(&running, tenant, user), before);

        // Assign (by part number): Graph first, then the link.
        let (status, body) = call(
            &http,
            "POST",
            &url,
            Some(&as_modifier),
            Some(json!({"sku": part})),
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        assert_eq!(body["assigned"], true);
        assert_eq!(body["licence"]["sku_id"], sku.as_str());
        let mut after = before.clone();
        after.push(sku.clone());
        after.sort();
        assert_eq!(assigned(&running, tenant, user), after, "{}", db.url);
        assert_eq!(linked(store.as_ref(), &user.to_string()).await, after);
        let listed: Vec<&str> = body["licences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["sku_id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, after.iter().map(String::as_str).collect::<Vec<_>>());

        // Remove (by SKU id).
        let (status, body) = call(
            &http,
            "DELETE",
            &format!("{url}/{sku}"),
            Some(&as_modifier),
            None,
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        assert_eq!(body["assigned"], false);
        assert_eq!(assigned(&running, tenant, user), before);
        assert_eq!(linked(store.as_ref(), &user.to_string()).await, before);

        // Both steps are logged with source api and the caller's agent.
        let rows = licence_log(store.as_ref()).await;
        let summary: Vec<(String, Action, Option<i64>, Option<String>)> = rows
            .iter()
            .map(|r| {
                (
                    r.source.clone(),
                    r.action,
                    r.agent_id,
                    r.entra_id.as_ref().map(|e| e.to_string()),
                )
            })
            .collect();
        let expected = (
            "api".to_owned(),
            Action::Updated,
            Some(modifier),
            Some(user.to_string()),
        );
        assert_eq!(summary, vec![expected.clone(), expected], "{}", db.url);
        let changes = |row: &InboundRow| {
            (
                row.changes[0]["before"].clone(),
                row.changes[0]["after"].clone(),
            )
        };
        let (first_before, first_after) = changes(&rows[0]);
        assert!(
            !first_before
                .as_array()
                .unwrap()
                .contains(&Value::from(part.as_str()))
        );
        assert!(
            first_after
                .as_array()
                .unwrap()
                .contains(&Value::from(part.as_str()))
        );
        assert_eq!(changes(&rows[1]), (first_after, first_before));

        // No usage location: Graph's sentence with the advice, nothing changed here or there.
        running
            .control
            .update_user(tenant, user, json!({"usageLocation": null}))
            .unwrap();
        let (status, body) = call(
            &http,
            "POST",
            &url,
            Some(&as_modifier),
            Some(json!({"sku": sku})),
        )
        .await;
        assert_eq!(status.as_u16(), 409, "{body}");
        assert_eq!(body["error"]["code"], "refused");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(
                "License assignment cannot be done for user with invalid usage location."
            ) && message.contains("set the usage location (usageLocation"),
            "{message}"
        );
        assert_eq!(assigned(&running, tenant, user), before);
        assert_eq!(linked(store.as_ref(), &user.to_string()).await, before);
        let rows = licence_log(store.as_ref()).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].action, Action::Error);
        assert!(
            rows[2]
                .message
                .as_deref()
                .unwrap()
                .contains("usage location")
        );
        running
            .control
            .update_user(tenant, user, json!({"usageLocation": "GB"}))
            .unwrap();

        // A licence the connection never imported, and a person it did not import: 404.
        let (status, _) = call(
            &http,
            "POST",
            &url,
            Some(&as_modifier),
            Some(json!({"sku": "NOPE"})),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        let stranger = format!(
            "{base}/api/connections/contoso/users/{}/licences",
            Uuid::new_v4()
        );
        let (status, _) = call(
            &http,
            "POST",
            &stranger,
            Some(&as_modifier),
            Some(json!({"sku": sku})),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_licence_permission_is_told_its_name() {
    let running = start(EmulatorConfig {
        users: 20,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).unwrap().tenant_id;
    let app = running
        .control
        .add_app(
            tenant,
            "read-only",
            &["User.Read.All", "Group.Read.All", "Organization.Read.All"],
        )
        .unwrap();
    for db in backends().await {
        let (service, store) = synced_desk(&running, &db, &app, None).await;
        // The online check says what to grant before anyone tries.
        let verdict = &service.check_online(Some("contoso")).await.unwrap()[0];
        let missing: Vec<&str> = verdict.missing.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(missing, ["LicenseAssignment.ReadWrite.All"], "{verdict:?}");
        assert!(verdict.missing[0].1.contains("manage_from_halo"));
        assert!(
            !verdict.can_sync(),
            "check --online refuses the configuration"
        );

        let (user, sku, _) = candidate(&running, tenant, store.as_ref()).await;
        let before = assigned(&running, tenant, user);
        let admin = key(&service, None, None).await;
        let base = serve(service.clone()).await;
        let (status, body) = call(
            &reqwest::Client::new(),
            "POST",
            &format!("{base}/api/connections/contoso/users/{user}/licences"),
            Some(&format!("Bearer {admin}")),
            Some(json!({"sku": sku})),
        )
        .await;
        assert_eq!(status.as_u16(), 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("LicenseAssignment.ReadWrite.All"),
            "{message}"
        );
        assert_eq!(assigned(&running, tenant, user), before);
        assert_eq!(linked(store.as_ref(), &user.to_string()).await, before);
        // An admin key has no agent: the refusal's row names none.
        let rows = licence_log(store.as_ref()).await;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].action, rows[0].agent_id), (Action::Error, None));
        db.cleanup().await;
    }
}
