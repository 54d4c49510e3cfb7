//! Licences imported without a user sync (`licences import`, Halo's "import manually"), on both
//! backends: the rows match the emulator's subscribed SKUs, counts and product names included;
//! a SKU the tenant stops listing is marked, not deleted, and unmarked when it comes back.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use entra_sync::app::LiveGraph;
use entra_sync::clock::{Clock, ManualClock};
use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::service::{RunsRequest, Service};
use entra_sync::store::{Licence, Store};
use graph_emulator::EmulatorConfig;

use crate::cli::entra_sync;
use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::backends;

/// A service over `db` for connection `contoso`, importing licences for client Contoso.
struct Desk {
    text: String,
    service: Service,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
}

async fn desk(running: &graph_emulator::Running, db: &crate::support::TestDb) -> Desk {
    let text = ConfigFixture::contoso(running, &db.url)
        .import_licences("Contoso")
        .render();
    let settings = load_str(
        &text,
        "licences.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let graph = Arc::new(LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service = Service::new(Arc::new(settings), store.clone(), clock.clone(), graph);
    Desk {
        text,
        service,
        store,
        clock,
    }
}

/// `(part number, sku id, enabled, warning, consumed)` of each licence, sorted.
fn counts(licences: &[Licence]) -> Vec<(String, String, i64, i64, i64)> {
    let mut rows: Vec<_> = licences
        .iter()
        .map(|l| {
            (
                l.part_number.clone(),
                l.sku_id.clone(),
                l.enabled_units,
                l.warning_units,
                l.consumed_units,
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licences_import_without_a_user_sync_and_a_lapsed_sku_is_marked_not_deleted() {
    let running = start(EmulatorConfig {
        users: 20,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).unwrap().tenant_id;
    // Three units of the first SKU are in their grace period.
    running
        .control
        .edit_skus(tenant, |skus| skus[0].warning_units = 3)
        .unwrap();
    let emulated = || {
        let mut rows: Vec<_> = running
            .control
            .with_directory(tenant, |d| {
                d.skus
                    .iter()
                    .map(|s| {
                        (
                            s.part_number.to_string(),
                            s.sku_id.to_string(),
                            i64::from(s.enabled_units),
                            i64::from(s.warning_units),
                            i64::from(s.consumed_units),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap();
        rows.sort();
        rows
    };
    for db in backends().await {
        let Desk {
            text,
            service,
            store,
            clock,
        } = desk(&running, &db).await;

        let import = service.import_licences("contoso").await.expect("imported");
        assert_eq!(import.skus, 6);
        assert_eq!(import.unsubscribed, 0);
        let licences = service.licences("contoso").await.unwrap();
        assert_eq!(counts(&licences), emulated(), "{}", db.url);
        let name = |part: &str| {
            licences
                .iter()
                .find(|l| l.part_number == part)
                .map(|l| l.display_name.clone())
        };
        assert_eq!(name("ENTERPRISEPACK").as_deref(), Some("Office 365 E3"));
        assert_eq!(name("SPE_E5").as_deref(), Some("Microsoft 365 E5"));
        assert!(licences.iter().all(|l| l.unsubscribed_at.is_none()));
        assert!(
            licences.iter().all(|l| l.capability_status == "Enabled"),
            "{licences:?}"
        );
        // No user sync ran: no run, nobody linked.
        let runs = service
            .runs(RunsRequest {
                connection: Some("contoso".to_owned()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(runs.is_empty(), "{runs:?}");
        assert_eq!(
            store
                .linked_count(&entra_sync::ids::ConnectionId::parse("contoso").unwrap())
                .await
                .unwrap(),
            0
        );

        // The tenant stops subscribing to FLOW_FREE: its row stays, marked, once.
        let mut lapsed = None;
        running
            .control
            .edit_skus(tenant, |skus| {
                let at = skus
                    .iter()
                    .position(|s| &*s.part_number == "FLOW_FREE")
                    .unwrap();
                lapsed = Some(skus.remove(at));
            })
            .unwrap();
        clock.advance(chrono::Duration::hours(1));
        let marked_at = clock.now();
        let import = service.import_licences("contoso").await.unwrap();
        assert_eq!((import.skus, import.unsubscribed), (5, 1));
        clock.advance(chrono::Duration::hours(1));
        assert_eq!(
            service
                .import_licences("contoso")
                .await
                .unwrap()
                .unsubscribed,
            0,
            "marked once"
        );
        let licences = service.licences("contoso").await.unwrap();
        assert_eq!(licences.len(), 6, "nothing deleted");
        for licence in &licences {
            let expected = (licence.part_number == "FLOW_FREE").then_some(marked_at);
            assert_eq!(licence.unsubscribed_at, expected, "{}", licence.part_number);
        }
        // It comes back: no longer marked.
        running
            .control
            .edit_skus(tenant, |skus| skus.push(lapsed.take().unwrap()))
            .unwrap();
        service.import_licences("contoso").await.unwrap();
        assert!(
            service
                .licences("contoso")
                .await
                .unwrap()
                .iter()
                .all(|l| l.unsubscribed_at.is_none())
        );

        // The same from the command line, with the list's product names.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("entra-sync.toml");
        std::fs::write(&config, &text).unwrap();
        let config = config.to_str().unwrap();
        let (code, out, err) = tokio::task::spawn_blocking({
            let config = config.to_owned();
            move || entra_sync(&["--config", &config, "licences", "import", "contoso"])
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(out, "Imported 6 licences for connection contoso.\n");
        let (code, out, err) = tokio::task::spawn_blocking({
            let config = config.to_owned();
            move || entra_sync(&["--config", &config, "licences", "list", "contoso"])
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Office 365 E3"), "{out}");
        assert_eq!(out.lines().count(), 7, "{out}");
        db.cleanup().await;
    }
}

/// Each imported user's licence links, by SKU id, and what the emulator assigns them.
async fn links_and_assignments(
    running: &graph_emulator::Running,
    store: &dyn Store,
) -> (Vec<(String, Vec<String>)>, Vec<(String, Vec<String>)>) {
    let tenant = running.demo_app(0).unwrap().tenant_id;
    let people = store
        .people(&entra_sync::ids::ConnectionId::parse("contoso").unwrap())
        .await
        .unwrap();
    let mut linked = Vec::new();
    for (entra_id, user) in &people.users {
        let mut skus: Vec<String> = store
            .user_licences(user.id)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.sku_id)
            .collect();
        skus.sort();
        linked.push((entra_id.to_string(), skus));
    }
    linked.sort();
    let mut assigned: Vec<(String, Vec<String>)> = running
        .control
        .with_directory(tenant, |d| {
            d.live_users()
                .map(|u| {
                    let mut skus: Vec<String> = u
                        .assigned_licenses
                        .iter()
                        .map(|l| l.sku_id.to_string())
                        .collect();
                    skus.sort();
                    (u.id.to_string(), skus)
                })
                .collect()
        })
        .unwrap();
    let imported: std::collections::BTreeSet<String> =
        linked.iter().map(|(id, _)| id.clone()).collect();
    assigned.retain(|(id, _)| imported.contains(id));
    assigned.sort();
    (linked, assigned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_links_every_user_to_their_licences_and_a_delta_removes_a_removed_one() {
    use entra_sync::service::SyncRequest;
    use entra_sync::sync::Mode;
    use entra_sync::sync::lease::LeaseWait;

    for db in backends().await {
        let running = start(EmulatorConfig {
            users: 60,
            groups: 4,
            ..EmulatorConfig::default()
        })
        .await;
        let tenant = running.demo_app(0).unwrap().tenant_id;
        let Desk {
            text: _,
            service,
            store,
            clock,
        } = desk(&running, &db).await;
        service.declare().await.unwrap();
        let sync = |full: bool| SyncRequest {
            connection: "contoso".to_owned(),
            full,
            mode: Mode::Apply,
            wait: LeaseWait::Refuse,
            trigger: "test".to_owned(),
        };
        service.sync(sync(true)).await.expect("a full sync");
        let (linked, assigned) = links_and_assignments(&running, store.as_ref()).await;
        assert!(linked.len() > 30, "{} imported", linked.len());
        assert!(
            linked.iter().any(|(_, skus)| skus.len() > 1),
            "someone holds several"
        );
        assert_eq!(linked, assigned, "{}", db.url);
        // The licences table has the SKUs' counts.
        let emulated_consumed = |part: &str| {
            running
                .control
                .with_directory(tenant, |d| {
                    d.skus
                        .iter()
                        .find(|s| &*s.part_number == part)
                        .map(|s| i64::from(s.consumed_units))
                })
                .unwrap()
        };
        let consumed = |licences: &[Licence], part: &str| {
            licences
                .iter()
                .find(|l| l.part_number == part)
                .map(|l| l.consumed_units)
        };
        let licences = service.licences("contoso").await.unwrap();
        assert_eq!(
            consumed(&licences, "ENTERPRISEPACK"),
            emulated_consumed("ENTERPRISEPACK")
        );

        // One user loses a licence in Entra; the next delta removes the link and the count.
        let (holder, sku) = linked
            .iter()
            .find_map(|(id, skus)| Some((id.clone(), skus.first()?.clone())))
            .expect("a licensed user");
        running
            .control
            .assign_licences(
                tenant,
                holder.parse().unwrap(),
                &[],
                &[sku.parse().unwrap()],
            )
            .unwrap();
        clock.advance(chrono::Duration::minutes(10));
        service.sync(sync(false)).await.expect("a delta sync");
        let (linked, assigned) = links_and_assignments(&running, store.as_ref()).await;
        assert_eq!(linked, assigned, "{}", db.url);
        let after = linked.iter().find(|(id, _)| *id == holder).unwrap();
        assert!(!after.1.contains(&sku), "{after:?}");
        let part = licences
            .iter()
            .find(|l| l.sku_id == sku)
            .unwrap()
            .part_number
            .clone();
        let licences = service.licences("contoso").await.unwrap();
        assert_eq!(consumed(&licences, &part), emulated_consumed(&part));
        db.cleanup().await;
    }
}
