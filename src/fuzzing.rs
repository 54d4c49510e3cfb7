//! What the fuzz targets in `tests/fuzz` run, here so that the normal test suite replays their
//! corpora and every input that once broke something (`tests/it/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes through the daemon's own code for one kind of untrusted
//! input and returns how that input was classified, or a [`Broken`] invariant: a panic is a
//! crash and a `Broken` is a bug the target reports as one. Beyond "no panic", each checks what
//! the code promises: an error names where it happened, merging a page twice is merging it once,
//! the API never answers a server error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, Uri};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tower::ServiceExt;
use url::Url;

use crate::api::{Api, MAX_BODY, router};
use crate::clock::SystemClock;
use crate::config::load::{ENV_PREFIX, Environment, load_str_with};
use crate::config::{ConfigError, ConfigOverrides, Secrets};
use crate::graph::batch::BatchResponse;
use crate::graph::error::{Retries, RetryPolicy};
use crate::graph::pages::{Page, RawPage};
use crate::mirror::{MirrorUser, group_delta, merge_user};

/// How the code under test took an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Taken as valid: a usable configuration, a page, a batch answer, a 2xx answer.
    Accepted,
    /// Refused with an error that says what is wrong (and, for the API, a 4xx).
    Rejected,
}

/// An invariant the input broke, in a sentence naming the input's part that broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Broken(pub String);

fn broken<T>(message: impl Into<String>) -> Result<T, Broken> {
    Err(Broken(message.into()))
}

/// The configuration file, layered and validated as the daemon loads it (mappings compiled);
/// a usable one then plans a sample person through every connection's mapping.
///
/// Lines `#! ENTRA_SYNC__…=value` (TOML comments) are the environment the file is loaded with,
/// so overrides are fuzzed together with the file they apply to.
pub fn config_and_mapping(data: &[u8]) -> Result<Verdict, Broken> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Verdict::Rejected);
    };
    let env: Environment = text
        .lines()
        .filter_map(|line| line.strip_prefix("#! ")?.split_once('='))
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    // A base no secret or CA file can be found under: loading must not depend on this machine.
    let base = Path::new("/nonexistent/entra-sync-fuzz");
    let loaded = load_str_with(
        text,
        "fuzz.toml",
        base,
        &env,
        &ConfigOverrides::default(),
        Secrets::Deferred,
    );
    let settings = match loaded {
        Ok(settings) => settings,
        Err(ConfigError::Shape { path, message }) => {
            if path.is_empty() || message.trim().is_empty() {
                return broken(format!(
                    "a shape error without a place or a message: {path:?}: {message:?}"
                ));
            }
            return Ok(Verdict::Rejected);
        }
        Err(ConfigError::Invalid(problems)) => {
            if problems.is_empty() {
                return broken("an invalid configuration with no problem named");
            }
            for problem in &problems {
                match problem.split_once(": ") {
                    Some((at, what)) if !at.trim().is_empty() && !what.trim().is_empty() => {}
                    _ => return broken(format!("a problem that names no key path: {problem:?}")),
                }
            }
            return Ok(Verdict::Rejected);
        }
        Err(e @ ConfigError::Read { .. }) => {
            return broken(format!("text already read cannot fail to read: {e}"));
        }
    };
    let person = sample_person();
    for connection in &settings.connections {
        let plan = connection.mapping.plan(&person, &Nobody);
        let _ = connection.mapping.reconcile_user(
            &plan.user,
            None,
            mapping::ReconcilePolicy {
                deactivate_out_of_scope: true,
            },
        );
    }
    Ok(Verdict::Accepted)
}

/// One page of users as Graph sends it (a delta round's or the collection's): its links read first (the quick scan a cursor does
/// before asking for the next page), then its objects parsed and merged into an empty mirror,
/// each mirrored person planned through the demo's mapping.
///
/// Invariants: a refused page names its URL; the quick scan and the full parse agree on the
/// links; replaying an object right after merging it changes nothing; merging the page twice
/// leaves the mirror as merging it once; nothing mirrored holds a NUL character.
pub fn graph_page_and_mirror(data: &[u8]) -> Result<Verdict, Broken> {
    let url = page_url();
    // As the client reads a page body (`GraphClient::raw_page`); a body that is no JSON is a
    // transient error there, retried, and never becomes a page.
    let Ok(body) = serde_json::from_slice::<Box<RawValue>>(data) else {
        return Ok(Verdict::Rejected);
    };
    let names_url = |e: &crate::graph::GraphError| {
        let message = e.to_string();
        if message.contains(url.as_str()) {
            Ok(Verdict::Rejected)
        } else {
            broken(format!(
                "a refused page that does not name its URL: {message}"
            ))
        }
    };
    let raw = match RawPage::new(body, &url) {
        Ok(raw) => raw,
        Err(e) => return names_url(&e),
    };
    let links = (
        raw.next_link().map(str::to_owned),
        raw.delta_link().map(str::to_owned),
    );
    let page = match raw.page(&url) {
        Ok(page) => page,
        Err(e) => return names_url(&e),
    };
    if (page.next_link.clone(), page.delta_link.clone()) != links {
        return broken(format!(
            "the quick scan read the links {links:?}, the page {:?}",
            (&page.next_link, &page.delta_link)
        ));
    }
    let once = merge_page(&page, BTreeMap::new())?;
    let twice = merge_page(&page, once.clone())?;
    if once != twice {
        return broken("merging the page twice left a different mirror than merging it once");
    }
    for object in &page.value {
        let _ = group_delta(object);
    }
    let mapping = &demo_mapping()?.mapping;
    for person in once.values() {
        let mut object = person.attributes.clone();
        object.insert("id".to_owned(), Value::String(person.entra_id.clone()));
        if let Ok(user) = mapping::EntraUser::from_graph(&object) {
            let _ = mapping.plan(&user, &Nobody);
        }
    }
    Ok(Verdict::Accepted)
}

/// Merges every object of `page` into `mirror` as a delta round does, checking each merge.
fn merge_page(
    page: &Page,
    mut mirror: BTreeMap<String, MirrorUser>,
) -> Result<BTreeMap<String, MirrorUser>, Broken> {
    for object in &page.value {
        let Some(id) = object.get("id").and_then(Value::as_str) else {
            continue;
        };
        let Some(merged) = merge_user(mirror.get(id), object, false) else {
            continue;
        };
        if let Some(text) = nul_in(&merged.user) {
            return broken(format!(
                "the mirrored person {id:?} holds a NUL character in {text:?}"
            ));
        }
        let Some(replay) = merge_user(Some(&merged.user), object, false) else {
            return broken(format!("the person {id:?} merged once but not again"));
        };
        if replay.notification.is_some() || replay.user != merged.user {
            return broken(format!(
                "replaying the object of {id:?} is no no-op: {:?}",
                replay.notification
            ));
        }
        mirror.insert(merged.user.entra_id.clone(), merged.user);
    }
    Ok(mirror)
}

/// The first text in a mirrored person (id, attribute names, values) that holds a NUL.
fn nul_in(user: &MirrorUser) -> Option<String> {
    fn in_value(value: &Value) -> Option<String> {
        match value {
            Value::String(text) if text.contains('\0') => Some(text.clone()),
            Value::Array(items) => items.iter().find_map(in_value),
            Value::Object(map) => in_map(map),
            _ => None,
        }
    }
    fn in_map(map: &Map<String, Value>) -> Option<String> {
        map.iter().find_map(|(key, value)| {
            if key.contains('\0') {
                Some(key.clone())
            } else {
                in_value(value)
            }
        })
    }
    if user.entra_id.contains('\0') {
        return Some(user.entra_id.clone());
    }
    in_map(&user.attributes)
}

/// A `$batch` answer, read as both of its readers do: `GraphClient::batch_get` (each item's body
/// parsed, or its error classified) and the page batcher (each body read as a page).
///
/// Invariants: a retry waits no longer than the default policy allows; an item whose body is
/// refused names the item.
pub fn batch_response(data: &[u8]) -> Result<Verdict, Broken> {
    let url = batch_url();
    let page_url = page_url();
    let Ok(response) = serde_json::from_slice::<BatchResponse>(data) else {
        return Ok(Verdict::Rejected);
    };
    let policy = RetryPolicy::default();
    let longest = policy.max_retry_after.max(policy.max_delay);
    for item in response.responses {
        let id = item.id.clone();
        if let Err(e) = item.into_value(&url) {
            if e.to_string().trim().is_empty() {
                return broken(format!("batch item {id:?} failed with an empty message"));
            }
            if let Some(delay) = Retries::default().delay(&e, &policy)
                && delay > longest
            {
                return broken(format!(
                    "batch item {id:?} waits {delay:?}, past the policy"
                ));
            }
        }
    }
    // The page batcher's reading: each item's body is a page of a cursor.
    let Ok(response) = serde_json::from_slice::<BatchResponse>(data) else {
        return broken("a batch answer parsed once but not twice");
    };
    for item in response.responses {
        if let Ok(Some(body)) = item.into_result("User.Read.All", "users delta page")
            && let Ok(raw) = RawPage::new(body, &page_url)
        {
            let _ = raw.page(&page_url);
        }
    }
    Ok(Verdict::Accepted)
}

/// One admin API request through the real router, over a service with the Graph emulator's
/// small tenant synced once into an in-memory SQLite store.
///
/// The input is the request as text: a line `METHOD /path?query`, header lines `Name: value`,
/// an empty line and the body. In header values `$ADMIN` and `$AGENT` stand for an admin key
/// and a signed-in agent's key. Invariants: no answer is a server error; an error under `/api`
/// with a body has the API's one error shape.
pub fn api_request(data: &[u8]) -> Result<Verdict, Broken> {
    let harness = match ApiHarness::get() {
        Ok(harness) => harness,
        Err(why) => return broken(format!("the API harness could not start: {why}")),
    };
    let Some(request) = harness.request(data) else {
        return Ok(Verdict::Rejected);
    };
    let method = request.method().clone();
    let uri = request.uri().clone();
    let router = harness.router.clone();
    let answer = harness.runtime.block_on(async move {
        let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4 * MAX_BODY * 64)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, body))
    });
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(why) => {
            return broken(format!(
                "{method} {uri}: the answer could not be read: {why}"
            ));
        }
    };
    let text = String::from_utf8_lossy(&body);
    if status.is_server_error() {
        return broken(format!("{method} {uri} answered {status}: {text}"));
    }
    if status.is_success() || status.is_redirection() || status.is_informational() {
        return Ok(Verdict::Accepted);
    }
    if uri.path().starts_with("/api/") && !body.is_empty() {
        let shape = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let error = v.get("error")?;
            let code = error.get("code")?.as_str()?;
            let message = error.get("message")?.as_str()?;
            (!code.is_empty() && !message.is_empty()).then_some(())
        });
        if shape.is_none() {
            return broken(format!(
                "{method} {uri} answered {status} outside the error shape: {text}"
            ));
        }
    }
    Ok(Verdict::Rejected)
}

/// The running pieces an API request goes through, started once per process.
struct ApiHarness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    admin_key: String,
    agent_key: Option<String>,
    /// Kept running for the process's life.
    _emulator: graph_emulator::Running,
}

static API: OnceLock<Result<ApiHarness, String>> = OnceLock::new();

impl ApiHarness {
    fn get() -> Result<&'static ApiHarness, String> {
        API.get_or_init(ApiHarness::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn start() -> Result<ApiHarness, String> {
        use crate::service::{KeyRequest, Service, SyncRequest};
        use secrecy::ExposeSecret;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a runtime: {e}"))?;
        let (emulator, router, admin_key, agent_key) = runtime.block_on(async {
            let emulator = graph_emulator::GraphEmulator::start(graph_emulator::EmulatorConfig {
                users: 12,
                groups: 8,
                ..graph_emulator::EmulatorConfig::default()
            })
            .await
            .map_err(|e| format!("the emulator: {e}"))?;
            let app = emulator
                .demo_app(0)
                .ok_or("the emulator has no demo app")?
                .clone();
            let env: Environment = [
                ("ENTRA_SYNC__DATABASE__URL", "sqlite::memory:".to_owned()),
                (
                    "ENTRA_SYNC__CONNECTION__DEMO__TENANT_ID",
                    app.tenant_id.to_string(),
                ),
                (
                    "ENTRA_SYNC__CONNECTION__DEMO__CLIENT_ID",
                    app.client_id.to_string(),
                ),
                (
                    "ENTRA_SYNC__CONNECTION__DEMO__AUTHORITY_URL",
                    emulator.authority_url.clone(),
                ),
                (
                    "ENTRA_SYNC__CONNECTION__DEMO__GRAPH_URL",
                    emulator.graph_url.clone(),
                ),
                (
                    "ENTRA_SYNC__CONNECTION__DEMO__AUTH__SECRET",
                    app.client_secret.clone(),
                ),
            ]
            .into_iter()
            .collect();
            let settings = demo_settings(&env).map_err(|e| e.to_string())?;
            let store: Arc<dyn crate::store::Store> = crate::store::connect("sqlite::memory:", 1)
                .await
                .map_err(|e| format!("the store: {e}"))?
                .into();
            store
                .migrate()
                .await
                .map_err(|e| format!("migrations: {e}"))?;
            let clock = Arc::new(SystemClock);
            let graph = Arc::new(crate::app::LiveGraph {
                store: store.clone(),
                clock: clock.clone(),
            });
            let service = Service::new(Arc::new(settings), store.clone(), clock, graph);
            service
                .declare()
                .await
                .map_err(|e| format!("declaring: {e}"))?;
            service
                .sync(SyncRequest {
                    connection: "demo".to_owned(),
                    full: true,
                    mode: crate::sync::Mode::Apply,
                    wait: crate::sync::lease::LeaseWait::Refuse,
                    trigger: "fuzz".to_owned(),
                })
                .await
                .map_err(|e| format!("the first sync: {e}"))?;
            let key = |agent: Option<String>| KeyRequest {
                admin: agent.is_none(),
                agent,
                expires_at: None,
            };
            let admin_key = service
                .create_key(&key(None))
                .await
                .map_err(|e| format!("an admin key: {e}"))?
                .key
                .expose_secret()
                .to_owned();
            let connection = service
                .connection("demo")
                .map_err(|e| e.to_string())?
                .id
                .clone();
            let people = store.people(&connection).await.map_err(|e| e.to_string())?;
            let mut agents: Vec<String> = people
                .agents
                .values()
                .filter_map(|a| a.emailaddress.clone())
                .collect();
            agents.sort();
            let agent_key = match agents.first() {
                Some(email) => Some(
                    service
                        .create_key(&key(Some(email.clone())))
                        .await
                        .map_err(|e| format!("an agent key: {e}"))?
                        .key
                        .expose_secret()
                        .to_owned(),
                ),
                None => None,
            };
            let current = Arc::new(move || service.clone());
            let api = Api::new(current).with_callback(
                Url::parse("http://127.0.0.1:8080/authcallback").map_err(|e| e.to_string())?,
            );
            Ok::<_, String>((emulator, router(api), admin_key, agent_key))
        })?;
        Ok(ApiHarness {
            runtime,
            router,
            admin_key,
            agent_key,
            _emulator: emulator,
        })
    }

    /// The request `data` describes, or `None` when it describes none (no method line, a URI or
    /// header that HTTP cannot carry).
    fn request(&self, data: &[u8]) -> Option<Request<Body>> {
        let (head, body) = split_head(data);
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.lines();
        let (method, target) = lines.next()?.split_once(' ')?;
        let uri = Uri::try_from(target.trim()).ok()?;
        if !uri.path().starts_with('/') || uri.authority().is_some() {
            return None;
        }
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).ok()?)
            .uri(uri);
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let mut value = value.trim().replace("$ADMIN", &self.admin_key);
            if let Some(agent) = &self.agent_key {
                value = value.replace("$AGENT", agent);
            }
            builder = builder.header(name.trim(), value);
        }
        builder.body(Body::from(body.to_vec())).ok()
    }
}

/// The head and body of a request text, split at its first empty line (`\n\n` or `\r\n\r\n`).
fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    for (i, window) in data.windows(2).enumerate() {
        if window == b"\n\n" {
            return (&data[..i], &data[i + 2..]);
        }
        if window == b"\r\n" && data.get(i + 2..i + 4) == Some(b"\r\n") {
            return (&data[..i], &data[i + 4..]);
        }
    }
    (data, &[])
}

/// The demo's configuration (`config/demo.toml`), loaded with `env` over it.
fn demo_settings(env: &Environment) -> Result<crate::config::Settings, ConfigError> {
    load_str_with(
        include_str!("../config/demo.toml"),
        "config/demo.toml",
        Path::new("."),
        env,
        &ConfigOverrides::default(),
        Secrets::Deferred,
    )
}

/// The demo connection's settings, loaded once: a realistic mapping to plan mirrored people by.
fn demo_mapping() -> Result<&'static crate::config::ConnectionSettings, Broken> {
    static DEMO: OnceLock<Result<crate::config::Settings, String>> = OnceLock::new();
    let settings = DEMO
        .get_or_init(|| demo_settings(&Environment::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Broken(format!("the demo configuration does not load: {e}")))?;
    settings
        .connections
        .first()
        .ok_or_else(|| Broken("the demo configuration has no connection".to_owned()))
}

/// The URL pages are read from: Graph's users.
fn page_url() -> Url {
    Url::parse("https://graph.microsoft.com/v1.0/users").expect("a constant URL")
}

/// The URL batches are posted to.
fn batch_url() -> Url {
    Url::parse("https://graph.microsoft.com/v1.0/")
        .and_then(|base| base.join(crate::graph::batch::PATH))
        .expect("a constant URL")
}

/// A person with the attributes the demo's mapping reads.
fn sample_person() -> mapping::EntraUser {
    mapping::EntraUser::new("00000000-0000-4000-8000-00000000f022")
        .with("displayName", "Ada Lovelace")
        .with("userPrincipalName", "ada@contoso.example")
        .with("mail", "ada@contoso.example")
        .with("department", "Finance")
        .with("jobTitle", "Accountant")
        .with("employeeId", "E-1815")
        .with("officeLocation", "London")
        .with("accountEnabled", "true")
}

/// A directory that knows nobody: planning then depends on the person and the mapping alone.
struct Nobody;

impl mapping::Directory for Nobody {
    fn groups_of(&self, _member: &str, _visit: &mut dyn FnMut(&str, &str)) {}
    fn has_agent(&self, _entra_id: &str) -> bool {
        false
    }
    fn find_site(&self, _field: &str, _value: &str) -> Option<mapping::Site> {
        None
    }
    fn find_team(&self, _name: &str) -> Option<Arc<str>> {
        None
    }
}
