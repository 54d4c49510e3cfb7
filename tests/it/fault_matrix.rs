//! The fault matrix at run level, on both backends: each Graph fault strikes the delta run that
//! carries one person's change and another's removal. For each, the run ends in a defined status
//! (absorbed by retries, or failed with a message); a failed run deactivates no one and loses
//! nothing already stored; and once the fault is gone the next run converges to the tables of a
//! twin tenant synced without it. RELIABILITY.md lists the rows and what each shows.

use std::time::Duration;

use entra_sync::service::{RunReport, Service, ServiceError, SyncRequest};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::RunStatus;
use graph_emulator::{EmulatorConfig, FaultKind, FaultRule, Running, Trigger};
use serde_json::json;
use uuid::Uuid;

use crate::config_fixture::ConfigFixture;
use crate::crash::{scalar, semantic};
use crate::emulator::start;
use crate::support::{TestDb, backends};

/// How a fault's run must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// Retries absorb it: the run succeeds and applies the changes.
    Absorbed,
    /// The run fails, with a message; the next one converges.
    Fails,
}

struct Case {
    name: &'static str,
    /// Installs the fault; `tenant` is the tenant it strikes.
    fault: fn(&Running, Uuid),
    ends: Ends,
    /// The fault forces a fresh initial round. Such a round cannot tell a soft-deleted person
    /// from a deleted one (both are simply missing), so the mirror marks the removal `missing`
    /// where the twin's delta said `changed`; every service-desk table still matches.
    resync: bool,
}

fn rule(kind: FaultKind, endpoint: &str, count: u32) -> FaultRule {
    FaultRule {
        trigger: Trigger::Times { count },
        ..FaultRule::once(kind, endpoint)
    }
}

const CASES: &[Case] = &[
    Case {
        name: "429 burst with Retry-After",
        fault: |r, _| {
            r.control.add_fault(rule(
                FaultKind::TooManyRequests {
                    retry_after_secs: 1,
                },
                "users/delta",
                3,
            ))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "503 burst",
        fault: |r, _| {
            r.control.add_fault(rule(
                FaultKind::ServiceUnavailable {
                    retry_after_secs: None,
                },
                "users/delta",
                3,
            ))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "504 after a held request (a timeout mid-page)",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::Timeout { hang_ms: 200 }, "users/delta", 2))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "connection reset half-way through the body, twice",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::ResetConnection, "users/delta", 2))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "the same people on two pages (a page linking back to itself)",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::RepeatPage, "users/delta", 1))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "truncated JSON body, twice",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::MalformedJson, "users/delta", 2))
        },
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "expired delta token (syncStateNotFound)",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::SyncStateNotFound, "users/delta", 1))
        },
        ends: Ends::Absorbed,
        resync: true,
    },
    Case {
        name: "410 resyncRequired",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::ResyncRequired, "users/delta", 1))
        },
        ends: Ends::Absorbed,
        resync: true,
    },
    Case {
        name: "access token expired mid-run",
        fault: |r, _| r.control.expire_access_tokens(),
        ends: Ends::Absorbed,
        resync: false,
    },
    Case {
        name: "truncated JSON on every attempt",
        fault: |r, _| {
            r.control
                .add_fault(rule(FaultKind::MalformedJson, "users/delta", 1_000))
        },
        ends: Ends::Fails,
        resync: false,
    },
    Case {
        name: "503 on every attempt",
        fault: |r, _| {
            r.control.add_fault(rule(
                FaultKind::ServiceUnavailable {
                    retry_after_secs: None,
                },
                "users/delta",
                1_000,
            ))
        },
        ends: Ends::Fails,
        resync: false,
    },
];

/// A service for `contoso` over `db` (leases of 3 s, so a failed run's lease lapses quickly).
async fn service(running: &Running, db: &TestDb) -> Service {
    let text = format!(
        "{}\n[daemon]\nlease_ttl = \"3s\"\n",
        ConfigFixture::contoso(running, &db.url).render()
    );
    crate::support::desk_service(&text, "faults.toml", &db.url)
        .await
        .0
}

async fn sync(service: &Service, full: bool) -> Result<RunReport, ServiceError> {
    service
        .sync(SyncRequest {
            connection: "contoso".to_owned(),
            full,
            mode: Mode::Apply,
            wait: LeaseWait::Wait(Duration::from_secs(30)),
            trigger: "test".to_owned(),
        })
        .await
}

/// A tenant of 150 people (the same one every time: the generator is seeded).
async fn tenant() -> (Running, Uuid) {
    let running = start(EmulatorConfig {
        users: 150,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let tenant = running.demo_app(0).unwrap().tenant_id;
    (running, tenant)
}

/// One person renamed and another soft-deleted: their ids.
fn change(running: &Running, tenant: Uuid) -> (Uuid, Uuid) {
    let mut ids: Vec<Uuid> = running
        .control
        .with_directory(tenant, |d| {
            d.live_users()
                .filter(|u| u.account_enabled)
                .map(|u| u.id)
                .collect()
        })
        .unwrap();
    ids.sort();
    let (renamed, removed) = (ids[3], ids[7]);
    running
        .control
        .update_user(tenant, renamed, json!({"displayName": "Renamed Person"}))
        .unwrap();
    running.control.soft_delete_user(tenant, removed).unwrap();
    (renamed, removed)
}

/// Whether the user record of `id` is inactive (`None` when there is none).
async fn inactive(url: &str, id: Uuid) -> Option<bool> {
    const SQL: &str = "SELECT inactive FROM users WHERE entra_id = $1";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let found = sqlx::query_scalar(SQL)
            .bind(id.to_string())
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        found
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let found = sqlx::query_scalar(SQL)
            .bind(id.to_string())
            .fetch_optional(&pool)
            .await
            .unwrap();
        pool.close().await;
        found
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_defined_deactivates_no_one_when_failed_and_the_next_run_converges() {
    let mut table = Vec::new();
    for case in CASES {
        for db in backends().await {
            // The twin, without the fault.
            let (twin, twin_tenant) = tenant().await;
            let twin_db = crate::support::fresh_like(&db.url).await;
            let reference = service(&twin, &twin_db).await;
            sync(&reference, true).await.unwrap();
            change(&twin, twin_tenant);
            sync(&reference, false).await.unwrap();
            let expected = semantic(&twin_db.url).await;
            twin_db.cleanup().await;

            let (running, tenant) = tenant().await;
            let service = service(&running, &db).await;
            let baseline = sync(&service, true).await.unwrap();
            assert_eq!(baseline.status, RunStatus::Succeeded);
            let stored = scalar(&db.url, "SELECT COUNT(*) FROM users").await;
            let (renamed, removed) = change(&running, tenant);
            (case.fault)(&running, tenant);
            let outcome = sync(&service, false).await;
            let what = format!("{} ({})", case.name, db.url.split(':').next().unwrap());
            let status = match (&outcome, case.ends) {
                (Ok(report), Ends::Absorbed) => {
                    assert_eq!(
                        report.status,
                        RunStatus::Succeeded,
                        "{what}: {:?}",
                        report.error
                    );
                    "succeeded".to_owned()
                }
                (Ok(report), Ends::Fails) => {
                    assert_eq!(report.status, RunStatus::Failed, "{what}: {report:?}");
                    "failed".to_owned()
                }
                (Err(error), Ends::Fails) => {
                    let message = error.to_string();
                    assert!(!message.is_empty(), "{what}");
                    format!("failed: {message}")
                }
                (Err(error), Ends::Absorbed) => panic!("{what}: {error}"),
            };
            if case.ends == Ends::Fails {
                // Nothing lost, no one deactivated, the change not half-applied.
                assert_eq!(
                    scalar(&db.url, "SELECT COUNT(*) FROM users").await,
                    stored,
                    "{what}"
                );
                assert_eq!(
                    scalar(
                        &db.url,
                        "SELECT COUNT(*) FROM inbound_log WHERE action = 'deactivated'"
                    )
                    .await,
                    0,
                    "{what}: a failed run deactivates no one"
                );
                let failed = scalar(
                    &db.url,
                    "SELECT COUNT(*) FROM sync_runs WHERE status = 'failed' AND error IS NOT NULL",
                )
                .await;
                assert_eq!(
                    failed, 1,
                    "{what}: the failed run is recorded with its error"
                );
            }
            running.control.clear_faults();
            sync(&service, false)
                .await
                .expect("the run after the fault");
            let got = semantic(&db.url).await;
            for (name, rows) in &expected {
                if case.resync && *name == "entra_users" {
                    continue;
                }
                // Compared whole, reported by table (the rows are long).
                assert!(&got[name] == rows, "{what}: {name} differs from the twin's");
            }
            // The twin applied both changes (so equality means this run did too).
            assert_eq!(
                inactive(&db.url, removed).await,
                Some(true),
                "{what}: the removal"
            );
            assert_eq!(inactive(&db.url, renamed).await, Some(false), "{what}");
            table.push(format!("{what}: {status}"));
            db.cleanup().await;
        }
    }
    eprintln!("{}", table.join("\n"));
}

/// A delta page that lost its `@odata.nextLink` mid-chain, in a full run over 1 200 people
/// (two pages of 999): taken for the round's end, it would call the 201 people on the unread
/// page missing and deactivate them. The run fails instead, deactivating no one, and the next
/// full run reads the whole round and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_its_next_link_fails_the_run_instead_of_deactivating_the_unread() {
    let running = start(EmulatorConfig {
        users: 1_200,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let service = service(&running, &db).await;
        assert_eq!(
            sync(&service, true).await.unwrap().status,
            RunStatus::Succeeded
        );
        let inactive = scalar(&db.url, "SELECT COUNT(*) FROM users WHERE inactive").await;
        running
            .control
            .add_fault(rule(FaultKind::DropNextLink, "users/delta", 1));
        let outcome = sync(&service, true).await;
        match &outcome {
            Ok(report) => assert_eq!(report.status, RunStatus::Failed, "{}", db.url),
            Err(error) => assert!(error.to_string().contains("nextLink"), "{error}"),
        }
        assert_eq!(
            scalar(
                &db.url,
                "SELECT COUNT(*) FROM inbound_log WHERE action = 'deactivated'"
            )
            .await,
            0,
            "{}: nobody deactivated",
            db.url
        );
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM users WHERE inactive").await,
            inactive
        );
        let error = scalar(
            &db.url,
            "SELECT COUNT(*) FROM sync_runs WHERE status = 'failed' AND error LIKE '%nextLink%'",
        )
        .await;
        assert_eq!(
            error, 1,
            "{}: the failed run names the missing link",
            db.url
        );
        running.control.clear_faults();
        let report = sync(&service, true).await.expect("the next full run");
        assert_eq!(report.status, RunStatus::Succeeded);
        assert_eq!(report.counts.get("deactivated").copied().unwrap_or(0), 0);
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM users WHERE inactive").await,
            inactive
        );
        db.cleanup().await;
    }
}

/// Faults within a full read of 1 200 people (two pages of 999), each on its own: an expired
/// page token on the second page restarts the round; a page that links back to itself brings
/// its people twice; a person whose attributes come with unexpected types and `null`s is synced
/// from what can be read. Each run succeeds, logs each person once, and the next full run
/// without the fault ends in the tables of a full run that never had one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_faults_in_a_full_read_end_in_the_tables_of_a_clean_one() {
    let running = start(EmulatorConfig {
        users: 1_200,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let clean = crate::support::fresh_like(&db.url).await;
        let reference = service(&running, &clean).await;
        assert_eq!(
            sync(&reference, true).await.unwrap().status,
            RunStatus::Succeeded
        );
        let expected = semantic(&clean.url).await;
        let people = scalar(&clean.url, "SELECT COUNT(*) FROM inbound_log").await;
        clean.cleanup().await;

        for (name, kind) in [
            ("an expired page token", FaultKind::ExpiredPageToken),
            ("a page linking back to itself", FaultKind::RepeatPage),
            ("unexpected types", FaultKind::WrongTypes),
        ] {
            let fresh = crate::support::fresh_like(&db.url).await;
            let service = service(&running, &fresh).await;
            running.control.reset_counters();
            running
                .control
                .add_fault(rule(kind.clone(), "users/delta", 1));
            let report = sync(&service, true).await.expect("the faulted run");
            let what = format!("{name} ({})", fresh.url.split(':').next().unwrap());
            assert_eq!(
                report.status,
                RunStatus::Succeeded,
                "{what}: {:?}",
                report.error
            );
            let fired = running
                .control
                .counters()
                .by_endpoint
                .iter()
                .any(|(e, by)| e.contains("users/delta") && by.keys().any(|status| *status == 400));
            assert_eq!(fired, kind == FaultKind::ExpiredPageToken, "{what}: 400s");
            // The fault took effect: the round restarted, or a page came twice.
            let (restarts, pages) = (report.users.restarted.len(), report.users.pages);
            match kind {
                FaultKind::ExpiredPageToken => assert_eq!(restarts, 1, "{what}"),
                FaultKind::RepeatPage => assert_eq!((restarts, pages), (0, 3), "{what}"),
                _ => assert_eq!((restarts, pages), (0, 2), "{what}"),
            }
            // Each person logged once, however often a page brought them.
            assert_eq!(
                scalar(&fresh.url, "SELECT COUNT(*) FROM inbound_log").await,
                people,
                "{what}"
            );
            assert_eq!(
                scalar(
                    &fresh.url,
                    "SELECT COUNT(*) FROM inbound_log WHERE action = 'deactivated'"
                )
                .await,
                0,
                "{what}"
            );
            if kind == FaultKind::WrongTypes {
                // Scalars of another type are read as text, objects and lists as absent or
                // their first text, a `null` name as the sign-in name; nobody is left out.
                let odd = scalar(
                    &fresh.url,
                    "SELECT COUNT(*) FROM users WHERE jobtitle = '12345' AND department IS NULL \
                     AND emailaddress = 'a@b.c' AND name = login AND NOT inactive",
                )
                .await;
                assert_eq!(odd, 1, "{what}: the person synced from what can be read");
                // And the person's row says what came of another type and how it was read.
                let noted = scalar(
                    &fresh.url,
                    "SELECT COUNT(*) FROM inbound_log WHERE message LIKE \
                     '%jobTitle: Graph sent a number where text was expected; read as text%' \
                     AND message LIKE '%department: Graph sent an object where text was expected; ignored%' \
                     AND message LIKE '%accountEnabled: Graph sent a string where true or false was expected%' \
                     AND message LIKE '%businessPhones: Graph sent a string%' \
                     AND message LIKE '%mail: Graph sent a list%' \
                     AND message LIKE '%officeLocation: Graph sent a boolean%'",
                )
                .await;
                assert_eq!(noted, 1, "{what}: the odd types noted on the person's row");
                running.control.clear_faults();
                let again = sync(&service, true).await.expect("the next full run");
                assert_eq!(again.counts.get("updated").copied(), Some(1), "{what}");
            } else {
                assert_eq!(
                    sync(&service, true)
                        .await
                        .unwrap()
                        .counts
                        .get("updated")
                        .copied()
                        .unwrap_or(0),
                    0,
                    "{what}: nothing left to change"
                );
            }
            let got = semantic(&fresh.url).await;
            for (table, rows) in &expected {
                assert!(
                    &got[table] == rows,
                    "{what}: {table} differs from a clean run's"
                );
            }
            running.control.clear_faults();
            fresh.cleanup().await;
        }
        db.cleanup().await;
    }
}
