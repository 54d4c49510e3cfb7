//! The status page in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`) by `fantoccini`, against the API and pages server of the
//! other tests, its database synced from the emulator. One flow covers signing in, the healthy
//! connection, the inbound log filtered to one person, the preview, a read-only agent's view, an
//! agent without a grant, and approving a quarantined run. Each page it visits is saved as a
//! screenshot under `target/status-page-screenshots/`.
//!
//! Without chromedriver the test fails under `CI=true` and is skipped (saying so) otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use entra_sync::service::{LogRequest, SyncRequest};
use entra_sync::sync::Mode;
use entra_sync::sync::lease::LeaseWait;
use entra_sync::vocab::{AccessLevel, Action, RecordKind, RunStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use graph_emulator::EmulatorConfig;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::api::{MODIFIER, OUTSIDER, READER, agent, key, service_with};
use crate::emulator::start;
use crate::pages::{csrf_of, serve_pages};
use crate::support::backends;
use crate::sync_runs::tenant;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Where the screenshots go: `target/status-page-screenshots/` of the repository.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page-screenshots")
}

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver and waits for it to say it is listening.
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
        loop {
            let line = lines
                .next_line()
                .await
                .expect("chromedriver's output")
                .expect("chromedriver said it started before it stopped");
            if line.contains("started successfully") {
                break;
            }
        }
        // The rest of its output is read (and dropped) so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session.
    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1400"],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Saves what the browser shows as `name.png`.
async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = screenshots();
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
}

async fn text(browser: &Client) -> String {
    browser
        .find(Locator::Css("main"))
        .await
        .expect("a main element")
        .text()
        .await
        .expect("its text")
}

/// Clicks what `selector` finds and waits for the page that has `marker` (a CSS selector).
async fn click_to(browser: &Client, selector: &str, marker: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap();
    if let Err(e) = browser.wait().for_element(Locator::Css(marker)).await {
        let page = text(browser).await;
        panic!("after clicking {selector}, no {marker}: {e}\n{page}");
    }
}

/// The page's heading is `title`.
fn heading(title: &str) -> String {
    format!("h1[data-title='{title}']")
}

async fn sign_in(browser: &Client, base: &str, key: &str) {
    browser.goto(&format!("{base}/sign-in")).await.unwrap();
    let field = browser.find(Locator::Css("input[name=key]")).await.unwrap();
    field.send_keys(key).await.unwrap();
    click_to(browser, "main button[type=submit]", &heading("Connections")).await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/");
}

async fn sign_out(browser: &Client) {
    click_to(browser, "header form button", &heading("Sign in")).await;
    assert_eq!(browser.current_url().await.unwrap().path(), "/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_works_in_a_browser() {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing: .ci/run installs chromium and chromium-driver"
            );
        }
        eprintln!(
            "SKIPPED the_status_page_works_in_a_browser: {CHROMEDRIVER} or {CHROMIUM} is missing \
             (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let running = start(EmulatorConfig {
        tenants: 2,
        users: 12,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    // One backend is enough for the browser: the matrix tests cover both.
    let db = backends().await.remove(0);
    let (service, store, _clock) = service_with(
        &running,
        &db,
        "max_deactivations = { count = 1, percent = 100 }\n",
    )
    .await;
    let sync = |full: bool| {
        service.sync(SyncRequest {
            connection: "contoso".to_owned(),
            full,
            mode: Mode::Apply,
            wait: LeaseWait::Refuse,
            trigger: "test".to_owned(),
        })
    };
    sync(true).await.expect("a first sync");
    for email in [READER, MODIFIER, OUTSIDER] {
        agent(store.as_ref(), email).await;
    }
    service
        .grant_access("contoso", READER, AccessLevel::Read)
        .await
        .unwrap();
    service
        .grant_access("contoso", MODIFIER, AccessLevel::ReadModify)
        .await
        .unwrap();
    service
        .grant_access("fabrikam", OUTSIDER, AccessLevel::Read)
        .await
        .unwrap();
    let (reader, modifier, outsider) = (
        key(&service, Some(READER), None).await,
        key(&service, Some(MODIFIER), None).await,
        key(&service, Some(OUTSIDER), None).await,
    );
    let base = serve_pages(service.clone()).await;
    let _ = std::fs::remove_dir_all(screenshots());

    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // Signed in as read_modify: the connection is healthy.
    sign_in(&browser, &base, &modifier).await;
    let page = text(&browser).await;
    assert!(page.contains("contoso"), "{page}");
    assert!(page.contains("healthy"), "{page}");
    assert!(!page.contains("fabrikam"), "{page}");
    shot(&browser, "01-connections").await;
    browser.set_window_size(390, 844).await.unwrap();
    shot(&browser, "02-connections-narrow").await;
    browser.set_window_size(1280, 1400).await.unwrap();

    // A change in Entra and more deactivations than the guard allows: the next run quarantines.
    let mut people: Vec<(String, Uuid)> = service
        .log(LogRequest {
            connection: Some("contoso".to_owned()),
            user: None,
            action: Some(Action::Created),
            since: None,
            run: None,
            before: None,
            limit: 1_000,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.target == Some(RecordKind::User))
        .filter_map(|r| Some((r.upn?, Uuid::parse_str(r.entra_id?.as_str()).ok()?)))
        .collect();
    people.sort();
    people.dedup();
    let t = tenant(&running);
    for (_, id) in &people[..3] {
        running
            .control
            .soft_delete_user(t, *id)
            .expect("soft delete");
    }
    let (changed, changed_id) = people[5].clone();
    running
        .control
        .update_user(
            t,
            changed_id,
            serde_json::json!({"displayName": "Quarantine Studies"}),
        )
        .expect("update");
    let report = sync(false).await.expect("a delta sync");
    assert_eq!(report.status, RunStatus::Quarantined, "{report:?}");
    let quarantined = report.run_id.expect("a run").0;

    // The inbound log, filtered to one person through its form: the mapping that matched and
    // the field change.
    browser
        .goto(&format!("{base}/connections/contoso/log"))
        .await
        .unwrap();
    let person = browser
        .find(Locator::Css("input[name=person]"))
        .await
        .unwrap();
    person.send_keys(&changed).await.unwrap();
    click_to(
        &browser,
        "form.filters button[type=submit]",
        &format!("input[name=person][value='{changed}']"),
    )
    .await;
    let url = browser.current_url().await.unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "person" && v == changed.as_str()),
        "{url}"
    );
    let page = text(&browser).await;
    assert!(page.contains("site mapping: 1 Everyone"), "{page}");
    assert!(page.contains("user.name: "), "{page}");
    assert!(page.contains(" → Quarantine Studies"), "{page}");
    let others = people
        .iter()
        .filter(|(upn, _)| *upn != changed && page.contains(upn.as_str()))
        .count();
    assert_eq!(others, 0, "only {changed}'s rows: {page}");
    shot(&browser, "03-inbound-log-one-person").await;

    // The import preview, with its apply button for read_modify.
    browser
        .goto(&format!("{base}/connections/contoso/preview?records=users"))
        .await
        .unwrap();
    let page = text(&browser).await;
    assert!(page.contains("Planned action"), "{page}");
    assert!(page.contains("Apply: run the import now"), "{page}");
    shot(&browser, "04-import-preview").await;

    // Approving the quarantined run: its button, the confirmation page, the approval.
    browser
        .goto(&format!("{base}/connections/contoso"))
        .await
        .unwrap();
    let page = text(&browser).await;
    assert!(page.contains("quarantined: awaiting approval"), "{page}");
    shot(&browser, "05-connection-quarantined").await;
    click_to(
        &browser,
        &format!("a[href$='do=approve&run={quarantined}']"),
        &heading("Approve a quarantined run"),
    )
    .await;
    let page = text(&browser).await;
    assert!(page.contains("held back 3 deactivations"), "{page}");
    shot(&browser, "06-confirm-approval").await;
    click_to(
        &browser,
        "main form button[type=submit]",
        "p.notice[role=status]",
    )
    .await;
    let page = text(&browser).await;
    assert!(page.contains("The quarantined run was approved"), "{page}");
    assert!(page.contains("approved by api key"), "{page}");
    shot(&browser, "07-connection-approved").await;
    let run = service
        .run(entra_sync::ids::RunId(quarantined))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.approved_by.as_deref(), Some("api key 2"), "{run:?}");
    let deactivated = service
        .log(LogRequest {
            connection: Some("contoso".to_owned()),
            user: None,
            action: Some(Action::Deactivated),
            since: None,
            run: None,
            before: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(deactivated.len(), 3, "the held-back deactivations applied");
    browser
        .goto(&format!("{base}/connections/contoso/licences"))
        .await
        .unwrap();
    shot(&browser, "08-licences").await;
    sign_out(&browser).await;

    // A read-only agent: no action buttons, and a crafted POST with its own session is refused.
    sign_in(&browser, &base, &reader).await;
    for page in ["", "/preview"] {
        browser
            .goto(&format!("{base}/connections/contoso{page}"))
            .await
            .unwrap();
        let source = browser.source().await.unwrap();
        assert!(!source.contains("/confirm?"), "{page}: {source}");
        assert!(
            browser.find(Locator::Css("div.actions")).await.is_err(),
            "{page}"
        );
    }
    shot(&browser, "09-connection-read-only").await;
    let session = browser
        .get_named_cookie("entra_sync_session")
        .await
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    let csrf = csrf_of(&browser.source().await.unwrap());
    let crafted = reqwest::Client::new()
        .post(format!("{base}/connections/contoso/sync"))
        .header("cookie", format!("entra_sync_session={}", session.value()))
        .form(&[
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
            ("kind", "full"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(crafted.status(), StatusCode::FORBIDDEN);
    sign_out(&browser).await;

    // An agent without a grant on contoso: not listed, and its page is not found.
    sign_in(&browser, &base, &outsider).await;
    let page = text(&browser).await;
    assert!(
        page.contains("fabrikam") && !page.contains("contoso"),
        "{page}"
    );
    browser
        .goto(&format!("{base}/connections/contoso"))
        .await
        .unwrap();
    let page = text(&browser).await;
    assert!(page.contains("Not Found"), "{page}");
    assert!(page.contains("connection \"contoso\""), "{page}");
    shot(&browser, "10-no-grant-not-found").await;

    browser.close().await.unwrap();
    drop(driver);
    db.cleanup().await;
}
