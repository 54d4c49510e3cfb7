//! The sync benchmark (issue 7): a generated tenant in the Graph emulator, a realistic mapping
//! config, and the daemon's own sync runs against SQLite or PostgreSQL.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench sync -- \
//!     --users 100000 --groups 2000 --latency-ms 50 --backend sqlite [--json PATH]
//! ```
//!
//! In one process it measures: a full sync (Graph requests by endpoint, the request floor, the
//! latency floor, wall time, time in the database, people per second, peak RSS), a delta cycle
//! after 100 and after 1 000 changed people, a remap from the mirror (no Graph), and the naive
//! baseline (`/users?$top=999` paging, `/users/{id}/manager` per user, `/groups/{id}/members` per
//! mapped group) through the same Graph client. See BENCHMARKS.md for the definitions.
//!
//! Time in the database is measured by wrapping the store in a decorator that times every
//! `Store` call the run makes (the union of their intervals, so concurrent calls count once);
//! nothing in `src/` is instrumented for this.

// The JSON report is one `json!` object with many keys.
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use entra_sync::clock::SystemClock;
use entra_sync::config::load::{Environment, load_str};
use entra_sync::config::{ConfigOverrides, Settings};
use entra_sync::graph::{self, GraphClient, GraphError, RetryPolicy};
use entra_sync::store::Store;
use entra_sync::store::observed::{ObservedStore, StoreObserver};
use entra_sync::store::postgres::PostgresStore;
use entra_sync::sync::{Mode, RunReport, RunRequest, Syncer};
use entra_sync::vocab::RunKind;
use graph_emulator::{EmulatorConfig, GraphEmulator, Running, well_known};
use serde_json::{Value, json};
use uuid::Uuid;

#[path = "../tests/fixture/config.rs"]
mod config_fixture;
use config_fixture::{ConfigFixture, SiteMapping};

/// The daemon's allocator (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTION: &str = "bench";
/// Graph's largest page (`$top` / `odata.maxpagesize`).
const PAGE: u64 = 999;
/// Requests per `$batch`.
const BATCH: u64 = 20;

// ---------------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone)]
struct Args {
    users: usize,
    groups: usize,
    latency_ms: u64,
    backend: Backend,
    json: Option<String>,
    naive_concurrency: usize,
    seed: u64,
    profile_sql: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        users: 10_000,
        groups: 500,
        latency_ms: 0,
        backend: Backend::Sqlite,
        json: None,
        naive_concurrency: 0,
        seed: 42,
        profile_sql: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // cargo passes it to harness = false benches
        }
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--users" => args.users = value()?.parse().context("--users")?,
            "--groups" => args.groups = value()?.parse().context("--groups")?,
            "--latency-ms" => args.latency_ms = value()?.parse().context("--latency-ms")?,
            "--backend" => {
                args.backend = match value()?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "postgres" | "postgresql" => Backend::Postgres,
                    other => bail!("--backend {other}: use sqlite or postgres"),
                }
            }
            "--json" => args.json = Some(value()?),
            "--naive-concurrency" => {
                args.naive_concurrency = value()?.parse().context("--naive-concurrency")?
            }
            "--seed" => args.seed = value()?.parse().context("--seed")?,
            "--profile-sql" => args.profile_sql = true,
            "-h" | "--help" => {
                println!(
                    "cargo bench --bench sync -- --users N --groups G --latency-ms L \
                     --backend sqlite|postgres [--json PATH] [--naive-concurrency C] [--seed S] \
                     [--profile-sql]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.naive_concurrency == 0 {
        // A naive integrator calls one after another. With latency that is hours at 100 000
        // people (100 000 × L), so the per-user calls then run on parallel workers; the
        // sequential time is reported alongside (the sum of the requests' own durations).
        args.naive_concurrency = if args.latency_ms == 0 { 1 } else { 64 };
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// A store that times every call

#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    start: Instant,
    took: Duration,
}

/// Records when each store call started and how long it took (calls dropped midway included).
#[derive(Debug, Default)]
struct Timings {
    state: Mutex<TimingState>,
}

#[derive(Debug, Default)]
struct TimingState {
    next: usize,
    under_way: BTreeMap<usize, (&'static str, Instant)>,
    ended: Vec<Call>,
}

impl StoreObserver for Timings {
    fn started(&self, method: &'static str) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let call = state.next;
        state.next += 1;
        state.under_way.insert(call, (method, Instant::now()));
        call
    }

    fn ended(&self, _method: &'static str, call: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((method, start)) = state.under_way.remove(&call) {
            state.ended.push(Call {
                method,
                start,
                took: start.elapsed(),
            });
        }
    }
}

impl Timings {
    /// The calls that ended since the last `take`.
    fn take(&self) -> Vec<Call> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.ended)
    }
}

/// Seconds during which at least one of `calls` was in flight, within `[from, to)`.
fn busy_seconds(calls: &[Call], from: Instant, to: Instant) -> f64 {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.start.max(from), (c.start + c.took).min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in spans {
        current = match current {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total.as_secs_f64()
}

/// Calls and seconds per store method.
fn by_method(calls: &[Call]) -> BTreeMap<&'static str, (u64, f64)> {
    let mut out: BTreeMap<&'static str, (u64, f64)> = BTreeMap::new();
    for c in calls {
        let e = out.entry(c.method).or_default();
        e.0 += 1;
        e.1 += c.took.as_secs_f64();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Statements per kind (`--profile-sql`): sqlx reports every statement as a DEBUG event on the
// `sqlx::query` target with a summary and its elapsed time; a layer counts them.

#[derive(Debug, Default, Clone)]
struct SqlProfile(Arc<Mutex<BTreeMap<String, (u64, f64)>>>);

impl SqlProfile {
    fn take(&self) -> BTreeMap<String, (u64, f64)> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct StatementVisitor {
    summary: String,
    elapsed: f64,
}

impl tracing::field::Visit for StatementVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.summary = value.to_owned();
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = value;
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlProfile {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut visitor = StatementVisitor::default();
        event.record(&mut visitor);
        // The statement's first words name it well enough.
        let kind: String = visitor
            .summary
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        if let Ok(mut map) = self.0.lock() {
            let e = map.entry(kind).or_default();
            e.0 += 1;
            e.1 += visitor.elapsed;
        }
    }
}

/// `people`: the people the run was about (everyone for a full run or remap, the changed for a
/// delta), for the per-person figure.
fn fmt_statements(profile: &BTreeMap<String, (u64, f64)>, people: u64) -> String {
    let total: u64 = profile.values().map(|(n, _)| n).sum();
    let seconds: f64 = profile.values().map(|(_, s)| s).sum();
    let mut rows: Vec<(&String, &(u64, f64))> = profile.iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let top = rows
        .iter()
        .take(8)
        .map(|(k, (n, s))| format!("`{k}` {n}× {s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{total} statements ({:.1} per person), {seconds:.2} s summed; top: {top}",
        total as f64 / people.max(1) as f64
    )
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// One timed sync run.
struct Measured {
    report: RunReport,
    wall: f64,
    requests: BTreeMap<String, u64>,
    calls: Vec<Call>,
    statements: BTreeMap<String, (u64, f64)>,
    table_stats: Option<String>,
    written_mb: f64,
    started: Instant,
    ended: Instant,
}

impl Measured {
    /// ` — FAILED: …` when the run failed.
    fn failure(&self) -> String {
        self.report
            .error
            .as_ref()
            .map(|e| format!(" — FAILED: {e}"))
            .unwrap_or_default()
    }

    fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    fn db_s(&self) -> f64 {
        busy_seconds(&self.calls, self.started, self.ended)
    }

    /// When evaluation started: the run reports how long it read (`read_seconds`).
    fn evaluation_start(&self) -> Instant {
        (self.started + Duration::from_secs_f64(self.report.read_seconds)).min(self.ended)
    }
}

struct Bench {
    running: Running,
    tenant: Uuid,
    settings: Settings,
    store: Arc<dyn Store>,
    /// The store's calls, timed.
    timings: Arc<Timings>,
    /// The store itself, for reads the figures do not count.
    inner: Arc<dyn Store>,
    graph: GraphClient,
    sql: SqlProfile,
    /// With `--profile-sql` on PostgreSQL: a connection to the benchmark database for its
    /// per-table statistics (sequential scans, tuples read) around each run.
    pg_probe: Option<sqlx::PgPool>,
}

/// `pg_stat_user_tables` for the mirror tables: name → (seq_scan, seq_tup_read, idx_scan,
/// n_tup_upd, n_tup_hot_upd).
async fn pg_table_stats(pool: &sqlx::PgPool) -> anyhow::Result<BTreeMap<String, [i64; 5]>> {
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, seq_tup_read, COALESCE(idx_scan, 0), n_tup_upd, \
         n_tup_hot_upd FROM pg_stat_user_tables \
         WHERE relname IN ('entra_users', 'entra_memberships', 'users')",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(n, a, b, c, d, e)| (n, [a, b, c, d, e]))
        .collect())
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

impl Bench {
    async fn run(&self, kind: RunKind, with_graph: bool) -> anyhow::Result<Measured> {
        let syncer = Syncer {
            store: self.store.clone(),
            graph: with_graph.then(|| self.graph.clone()),
            clock: Arc::new(SystemClock),
        };
        let before = self.graph.stats().by_endpoint();
        self.timings.take();
        self.sql.take();
        let stats_before = match &self.pg_probe {
            Some(pool) => Some(pg_table_stats(pool).await?),
            None => None,
        };
        let written_before = written_bytes();
        let started = Instant::now();
        let report = syncer
            .run(
                &self.settings.connections[0],
                &RunRequest::new(kind, Mode::Apply, "bench"),
            )
            .await
            .context("the sync run")?;
        let ended = Instant::now();
        if let Some(error) = &report.error {
            eprintln!("the {} run failed: {error}", kind.as_str());
        }
        let table_stats = match (&self.pg_probe, stats_before) {
            (Some(pool), Some(before)) => {
                // Backends flush their statistics when idle, at most every 10 s.
                tokio::time::sleep(Duration::from_secs(11)).await;
                let after = pg_table_stats(pool).await?;
                Some(
                    after
                        .iter()
                        .map(|(table, a)| {
                            let b = before.get(table).copied().unwrap_or_default();
                            format!(
                                "{table}: {} seq scans reading {} rows, {} index scans, {} updates ({} HOT)",
                                a[0] - b[0],
                                a[1] - b[1],
                                a[2] - b[2],
                                a[3] - b[3],
                                a[4] - b[4]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
            _ => None,
        };
        Ok(Measured {
            wall: (ended - started).as_secs_f64(),
            requests: diff(&self.graph.stats().by_endpoint(), &before),
            calls: self.timings.take(),
            statements: self.sql.take(),
            table_stats,
            written_mb: written_bytes().saturating_sub(written_before) as f64 / 1_048_576.0,
            report,
            started,
            ended,
        })
    }

    fn directory<T>(
        &self,
        f: impl FnOnce(&graph_emulator::directory::Directory) -> T,
    ) -> anyhow::Result<T> {
        self.running
            .control
            .with_directory(self.tenant, f)
            .map_err(|e| anyhow!("emulator: {e}"))
    }
}

fn rss_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Bytes this process caused to be written to storage (`/proc/self/io` `write_bytes`): the SQLite
/// file and its WAL (PostgreSQL writes in its own processes).
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mb(kb: Option<u64>) -> f64 {
    kb.map_or(f64::NAN, |k| k as f64 / 1024.0)
}

/// Resets the peak-RSS watermark (VmHWM) to the current RSS (Linux `clear_refs` 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

// ---------------------------------------------------------------------------------------------
// The tenant's mapping config

struct GroupCatalogue {
    offices: Vec<String>,
    departments: Vec<String>,
    projects: Vec<String>,
}

fn catalogue(bench_dir: &graph_emulator::directory::Directory) -> GroupCatalogue {
    let mut offices = Vec::new();
    let mut departments = Vec::new();
    let mut projects: Vec<(usize, String)> = Vec::new();
    for g in bench_dir.groups.iter().filter(|g| g.is_live()) {
        let name = g.display_name.to_string();
        if let Some(city) = name.strip_prefix("Office - ") {
            offices.push(city.to_owned());
        } else if name.starts_with("Dept - ") {
            departments.push(name);
        } else if name.starts_with("Project ") {
            projects.push((g.members.len(), name));
        }
    }
    offices.sort();
    departments.sort();
    // The largest project groups become teams and a CAB.
    projects.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    GroupCatalogue {
        offices,
        departments,
        projects: projects.into_iter().take(13).map(|(_, n)| n).collect(),
    }
}

/// Several site mappings (two agent mappings, one per office, visitors, everyone else), about
/// 50 mapped groups (roles, teams, CABs), field mappings, agent licences and licence import.
fn config_text(running: &Running, db_url: &str, groups: &GroupCatalogue) -> anyhow::Result<String> {
    let app = running
        .demo_app(0)
        .ok_or_else(|| anyhow!("the emulator has no demo app"))?;
    let dept_roles: Vec<String> = groups
        .departments
        .iter()
        .map(|d| format!("{} staff", d.trim_start_matches("Dept - ")))
        .collect();
    let (team_projects, cab_projects) = groups.projects.split_at(groups.projects.len().min(12));
    let project_teams: Vec<String> = (1..=team_projects.len())
        .map(|i| format!("Project team {i}"))
        .collect();
    let mut config = ConfigFixture::new(running, app)
        .connection_id(CONNECTION)
        .database(db_url)
        .contoso_desk()
        .halo(|halo| {
            let contoso = |site: &str| (site.to_owned(), "Contoso".to_owned());
            halo.sites.push(contoso("Visitors"));
            halo.sites.extend(groups.offices.iter().map(|c| contoso(c)));
            halo.user_roles
                .extend(["E5 User".to_owned(), "Helpdesk User".to_owned()]);
            halo.user_roles.extend(dept_roles.iter().cloned());
            halo.teams.extend(project_teams.iter().cloned());
            halo.cabs
                .push(("Project CAB".to_owned(), vec!["Member".to_owned()]));
            halo.user_custom_fields.push("CFCompany".to_owned());
        })
        .max_deactivations(5000)
        .field_mapping("user", "mobilePhone", "mobilenumber")
        .field_mapping("user", "employeeId", "custom.CFEmployeeNumber")
        .field_mapping("user", "companyName", "custom.CFCompany")
        .field_mapping("agent", "jobTitle", "jobtitle")
        .field_mapping("agent", "manager", "linemanager")
        .site_mapping(
            SiteMapping::new(6, "Infrastructure agents", "*agent*")
                .group(well_known::INFRASTRUCTURE)
                .when_value("jobTitle", "matches", "(?i)engineer|admin|architect")
                .agent_licence("concurrent"),
        );
    for (i, city) in groups.offices.iter().enumerate() {
        config = config.site_mapping(
            SiteMapping::new(100 + i as u32, &format!("Office {city}"), city)
                .user_role("Standard User")
                .group(&format!("Office - {city}"))
                .when_value("accountEnabled", "eq", "true"),
        );
    }
    config = config
        .site_mapping(
            SiteMapping::new(200, "Visitors", "Visitors")
                .group(well_known::VISITORS_DESK)
                .external_users("include"),
        )
        .site_mapping(
            SiteMapping::new(300, "Head office staff", "Head Office")
                .user_role("Standard User")
                .group(well_known::HELPDESK_USERS)
                .when("officeLocation", "absent"),
        )
        .site_mapping(SiteMapping::everyone_else(400))
        .user_role(well_known::LICENSED_E5, "E5 User")
        .user_role(well_known::HELPDESK_USERS, "Helpdesk User");
    for (group, role) in groups.departments.iter().zip(&dept_roles) {
        config = config.user_role(group, role);
    }
    for (group, team) in team_projects.iter().zip(&project_teams) {
        config = config.team(group, team);
    }
    for group in cab_projects {
        config = config.cab(group, "Project CAB", "Member");
    }
    Ok(config.render())
}

// ---------------------------------------------------------------------------------------------
// Changes for the delta cycles

/// Changes `count` people: 80 % attribute edits (jobTitle, department), 10 % added to (or removed
/// from) a mapped role group, 10 % soft-deleted. People are taken from `offset` on, every `stride`-th one.
fn change_people(bench: &Bench, count: usize, offset: usize) -> anyhow::Result<usize> {
    let control = &bench.running.control;
    let ids: Vec<Uuid> = bench.directory(|d| {
        let mut ids: Vec<Uuid> = d
            .live_users()
            .filter(|u| u.account_enabled)
            .map(|u| u.id)
            .collect();
        ids.sort();
        ids
    })?;
    let seniors = control
        .find_group(bench.tenant, well_known::SENIORS)
        .ok_or_else(|| anyhow!("no {} group", well_known::SENIORS))?;
    let stride = (ids.len() / (count * 3)).max(1);
    let picked: Vec<Uuid> = ids
        .iter()
        .skip(offset)
        .step_by(stride)
        .take(count)
        .copied()
        .collect();
    let edits = count * 8 / 10;
    let joins = count / 10;
    for (i, id) in picked.iter().enumerate() {
        let result = if i < edits {
            control.update_user(
                bench.tenant,
                *id,
                json!({"jobTitle": format!("Benchmark title {offset}-{i}"), "department": "Benchmarking"}),
            )
        } else if i < edits + joins {
            let member =
                bench.directory(|d| d.group(seniors).is_some_and(|g| g.has_member(*id)))?;
            if member {
                control.remove_member(bench.tenant, seniors, *id)
            } else {
                control.add_member(bench.tenant, seniors, *id)
            }
        } else {
            control.soft_delete_user(bench.tenant, *id)
        };
        result.map_err(|e| anyhow!("changing {id}: {e}"))?;
    }
    Ok(picked.len())
}

// ---------------------------------------------------------------------------------------------
// The naive baseline

struct Naive {
    requests: BTreeMap<String, u64>,
    wall: f64,
    /// Sum of every request's own duration: what strictly one-at-a-time calls would take.
    sequential: f64,
    users: usize,
    groups: usize,
}

async fn naive(bench: &Bench, concurrency: usize) -> anyhow::Result<Naive> {
    let graph = &bench.graph;
    let before = graph.stats().by_endpoint();
    let started = Instant::now();
    let mut sequential = Duration::ZERO;
    // 1. Every user, 999 at a time.
    let select = "id,userPrincipalName,mail,displayName,givenName,surname,jobTitle,department,\
                  officeLocation,mobilePhone,employeeId,companyName,accountEnabled,userType,assignedLicenses";
    let mut pages = graph.pages(graph.url(&format!("users?$top=999&$select={select}"))?);
    let mut ids: Vec<String> = Vec::new();
    loop {
        let t = Instant::now();
        let page = pages.next_page().await?;
        sequential += t.elapsed();
        let Some(page) = page else { break };
        ids.extend(
            page.value
                .iter()
                .filter_map(|u| u.get("id").and_then(Value::as_str).map(str::to_owned)),
        );
    }
    // 2. Each user's manager, one request per user.
    let shards: Vec<Vec<String>> = (0..concurrency)
        .map(|w| ids.iter().skip(w).step_by(concurrency).cloned().collect())
        .collect();
    let mut workers = tokio::task::JoinSet::new();
    for shard in shards {
        let graph = graph.clone();
        workers.spawn(async move {
            let mut spent = Duration::ZERO;
            for id in shard {
                let url = graph.url(&format!("users/{id}/manager?$select=id"))?;
                let t = Instant::now();
                match graph.get(&url).await {
                    Ok(_) => {}
                    Err(GraphError::Unauthorized { .. } | GraphError::Forbidden { .. }) => {
                        return Err(anyhow!("the naive baseline lost access"));
                    }
                    Err(_) => {} // 404: no manager
                }
                spent += t.elapsed();
            }
            anyhow::Ok(spent)
        });
    }
    while let Some(done) = workers.join_next().await {
        sequential += done.context("a naive worker")??;
    }
    // 3. Each mapped group's members, 999 at a time.
    let names = bench.settings.connections[0].mapping.groups();
    let mut groups = 0;
    for name in &names {
        let Some(id) = bench.running.control.find_group(bench.tenant, name) else {
            continue;
        };
        groups += 1;
        let mut pages =
            graph.pages(graph.url(&format!("groups/{id}/members?$top=999&$select=id"))?);
        loop {
            let t = Instant::now();
            let page = pages.next_page().await?;
            sequential += t.elapsed();
            if page.is_none() {
                break;
            }
        }
    }
    Ok(Naive {
        requests: diff(&graph.stats().by_endpoint(), &before),
        wall: started.elapsed().as_secs_f64(),
        sequential: sequential.as_secs_f64(),
        users: ids.len(),
        groups,
    })
}

// ---------------------------------------------------------------------------------------------
// The run

struct Database {
    url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn database(backend: Backend) -> anyhow::Result<Database> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().context("a temporary directory")?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            Ok(Database {
                url,
                cleanup: None,
                _dir: Some(dir),
            })
        }
        Backend::Postgres => {
            let admin_url = std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let admin = PostgresStore::connect(&admin_url, 1)
                .await
                .context("connecting to TEST_DATABASE_URL")?;
            let name = format!("entra_sync_bench_{}", Uuid::new_v4().simple());
            admin
                .create_database(&name)
                .await
                .context("creating the benchmark database")?;
            let mut url = url::Url::parse(&admin_url).context("TEST_DATABASE_URL")?;
            url.set_path(&format!("/{name}"));
            Ok(Database {
                url: url.to_string(),
                cleanup: Some((admin_url, name)),
                _dir: None,
            })
        }
    }
}

/// What PostgreSQL counted for the benchmark database over the whole process (all runs).
async fn print_pg_stats(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(admin_url).await?;
    // The cumulative statistics are flushed at most once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT xact_commit, xact_rollback, deadlocks, tup_inserted, tup_updated, tup_deleted \
         FROM pg_stat_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_one(&pool)
    .await?;
    println!(
        "pg_stat_database (all runs): {} commits, {} rollbacks, {} deadlocks, {} rows inserted, \
         {} updated, {} deleted",
        row.0, row.1, row.2, row.3, row.4, row.5
    );
    pool.close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("a Tokio runtime")?;
    runtime.block_on(async {
        let db = database(args.backend).await?;
        let outcome = bench(&args, &db.url).await;
        if let Some((admin_url, name)) = &db.cleanup {
            if let Err(e) = print_pg_stats(admin_url, name).await {
                eprintln!("pg_stat_database: {e}");
            }
            let admin = PostgresStore::connect(admin_url, 1).await?;
            admin
                .drop_database(name)
                .await
                .context("dropping the benchmark database")?;
        }
        outcome
    })
}

fn fmt_requests(requests: &BTreeMap<String, u64>) -> String {
    requests
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_slowest(m: &Measured) -> String {
    let mut calls: Vec<&Call> = m.calls.iter().collect();
    calls.sort_by_key(|c| std::cmp::Reverse(c.took));
    calls
        .iter()
        .take(4)
        .map(|c| {
            format!(
                "{} {:.0} ms at +{:.2} s",
                c.method,
                c.took.as_secs_f64() * 1000.0,
                (c.start - m.started).as_secs_f64()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_methods(calls: &[Call]) -> String {
    let mut rows: Vec<(&'static str, (u64, f64))> = by_method(calls).into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    rows.iter()
        .filter(|(_, (_, s))| *s >= 0.001)
        .map(|(m, (n, s))| format!("{m} {n}× {s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn bench(args: &Args, db_url: &str) -> anyhow::Result<()> {
    let sql = SqlProfile::default();
    if args.profile_sql {
        use tracing_subscriber::layer::SubscriberExt;
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::Layer::with_filter(sql.clone(), filter));
        tracing::subscriber::set_global_default(subscriber)
            .context("installing the statement profiler")?;
    }
    let latency = Duration::from_millis(args.latency_ms);
    let l = latency.as_secs_f64();
    let t = Instant::now();
    let running = GraphEmulator::start(EmulatorConfig {
        seed: args.seed,
        users: args.users,
        groups: args.groups,
        latency,
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| anyhow!("the emulator: {e}"))?;
    let tenant_setup_s = t.elapsed().as_secs_f64();
    let tenant = running
        .demo_app(0)
        .ok_or_else(|| anyhow!("no demo app"))?
        .tenant_id;
    let groups = running
        .control
        .with_directory(tenant, catalogue)
        .map_err(|e| anyhow!("{e}"))?;
    let text = config_text(&running, db_url, &groups)?;
    let settings = load_str(
        &text,
        "bench.toml",
        Path::new("."),
        &Environment::default(),
        &ConfigOverrides::default(),
    )
    .map_err(|e| anyhow!("the benchmark config: {e}"))?;
    let inner: Arc<dyn Store> = Arc::from(
        entra_sync::store::connect(db_url, settings.database.max_connections)
            .await
            .context("opening the store")?,
    );
    inner.migrate().await.context("migrations")?;
    entra_sync::app::ensure_declared(&settings, inner.as_ref(), &SystemClock).await?;
    let timings = Arc::new(Timings::default());
    let store: Arc<dyn Store> = Arc::new(ObservedStore::new(inner.clone(), timings.clone()));
    let graph = entra_sync::app::graph_client(
        &settings,
        &settings.connections[0],
        store.clone(),
        Arc::new(SystemClock),
        graph::http_client(Some(Duration::from_secs(120)), None)?,
        RetryPolicy::default(),
    )?;
    let bench = Bench {
        running,
        tenant,
        settings,
        store,
        timings,
        inner,
        graph,
        sql,
        pg_probe: if args.profile_sql && args.backend == Backend::Postgres {
            Some(
                sqlx::PgPool::connect(db_url)
                    .await
                    .context("a statistics connection")?,
            )
        } else {
            None
        },
    };
    let live_users = bench.directory(|d| d.live_user_count())? as u64;
    let names = bench.settings.connections[0].mapping.groups();
    eprintln!(
        "tenant: {live_users} users, {} groups ({} mapped), generated in {tenant_setup_s:.1} s; \
         backend {}, L = {} ms",
        args.groups,
        names.len(),
        args.backend.name(),
        args.latency_ms
    );

    // Full sync.
    let rss_before = rss_kb("VmRSS:");
    let peak_reset = reset_peak_rss();
    let full = bench.run(RunKind::Full, true).await?;
    let peak = rss_kb("VmHWM:");
    if let Some(error) = &full.report.error {
        bail!("the full sync failed: {error}");
    }
    eprintln!("full sync: {:.1} s", full.wall);

    // The request floor.
    let memberships = bench
        .inner
        .memberships(&bench.settings.connections[0].id)
        .await?;
    let mut members: BTreeMap<&str, u64> = BTreeMap::new();
    for (group, _, _) in &memberships {
        *members.entry(group.as_str()).or_default() += 1;
    }
    let largest_group = members.values().copied().max().unwrap_or(0);
    let member_rows: u64 = members.values().sum();
    let r = ceil_div(names.len() as u64, BATCH);
    let u = ceil_div(live_users, PAGE);
    let g1 = ceil_div(largest_group, PAGE).max(1);
    let request_floor = r + u.max(g1);
    let request_minimum = r + 1 + u + ceil_div(member_rows, PAGE);
    let latency_floor = request_floor as f64 * l;
    let full_requests = full.total_requests();
    let eval_start = full.evaluation_start();
    let read_s = (eval_start - full.started).as_secs_f64();
    let read_db = busy_seconds(&full.calls, full.started, eval_start);
    let eval_s = (full.ended - eval_start).as_secs_f64();
    let eval_db = busy_seconds(&full.calls, eval_start, full.ended);
    let db_s = full.db_s();
    let people = full.report.users.objects;

    // Delta cycles.
    let changed100 = change_people(&bench, 100, 0)?;
    reset_peak_rss();
    let delta100 = bench.run(RunKind::Delta, true).await?;
    let peak_delta100 = rss_kb("VmHWM:");
    // A failed cycle is retried by the daemon's next one; so here.
    let retry100 = match delta100.report.error {
        Some(_) => Some(bench.run(RunKind::Delta, true).await?),
        None => None,
    };
    eprintln!("delta (100 changed): {:.2} s", delta100.wall);
    let changed1000 = change_people(&bench, 1000, 1)?;
    reset_peak_rss();
    let delta1000 = bench.run(RunKind::Delta, true).await?;
    let peak_delta1000 = rss_kb("VmHWM:");
    let retry1000 = match delta1000.report.error {
        Some(_) => Some(bench.run(RunKind::Delta, true).await?),
        None => None,
    };
    eprintln!("delta (1 000 changed): {:.2} s", delta1000.wall);
    // A delta needs the name resolution, then one users/delta page and one page per group
    // chain, read concurrently.
    let delta_floor = r + 1;

    // Remap from the mirror, no Graph.
    reset_peak_rss();
    let remap = bench.run(RunKind::Remap, false).await?;
    let peak_remap = rss_kb("VmHWM:");
    eprintln!("remap: {:.1} s", remap.wall);

    // The naive baseline, through the same client.
    reset_peak_rss();
    let naive = naive(&bench, args.naive_concurrency).await?;
    let peak_naive = rss_kb("VmHWM:");
    eprintln!("naive baseline: {:.1} s", naive.wall);
    let naive_total: u64 = naive.requests.values().sum();

    let counters = bench.running.control.counters();
    let token_requests: u64 = counters
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.contains("/token"))
        .map(|(_, s)| s.values().sum::<u64>())
        .sum();

    let ratio = |wall: f64, floor: f64| {
        if floor > 0.0 {
            format!("{:.2}", wall / floor)
        } else {
            "n/a (L = 0)".to_owned()
        }
    };
    let title = format!(
        "{} users, {} groups, L = {} ms, {}",
        live_users,
        args.groups,
        args.latency_ms,
        args.backend.name()
    );
    let rows: Vec<(String, String)> = vec![
        (
            "full: Graph requests (total)".into(),
            format!(
                "{full_requests} (users pages {}, groups pages {})",
                full.report.users.pages, full.report.groups.pages
            ),
        ),
        (
            "full: requests by endpoint".into(),
            fmt_requests(&full.requests),
        ),
        (
            "request floor (R + max(U, G1))".into(),
            format!(
                "{request_floor} (R = {r} name batches for {} groups, U = {u} users pages, G1 = {g1} pages of the largest group, {largest_group} members)",
                names.len()
            ),
        ),
        (
            "requests / floor".into(),
            format!("{:.2}", full_requests as f64 / request_floor as f64),
        ),
        (
            "request minimum (all data once)".into(),
            format!("{request_minimum} ({member_rows} membership rows)"),
        ),
        (
            "latency floor (floor × L)".into(),
            format!("{latency_floor:.2} s"),
        ),
        ("full: wall".into(), format!("{:.2} s", full.wall)),
        (
            "full: wall / latency floor".into(),
            ratio(full.wall, latency_floor),
        ),
        (
            "full: time in the database".into(),
            format!(
                "{db_s:.2} s (read phase {read_db:.2} of {read_s:.2} s; evaluation phase {eval_db:.2} of {eval_s:.2} s)"
            ),
        ),
        (
            "full: people / s".into(),
            format!("{:.0} ({people} people)", people as f64 / full.wall),
        ),
        (
            "full: peak RSS".into(),
            format!(
                "{:.0} MB (process incl. emulator; {:.0} MB before the sync{})",
                mb(peak),
                mb(rss_before),
                if peak_reset { "" } else { "; VmHWM not reset" }
            ),
        ),
        (
            "peak RSS of the later phases".into(),
            format!(
                "delta 100: {:.0} MB, delta 1 000: {:.0} MB, remap: {:.0} MB, naive: {:.0} MB",
                mb(peak_delta100),
                mb(peak_delta1000),
                mb(peak_remap),
                mb(peak_naive)
            ),
        ),
        (
            "delta, 100 changed: requests".into(),
            format!(
                "{} ({}; {changed100} changed)",
                delta100.total_requests(),
                fmt_requests(&delta100.requests)
            ),
        ),
        (
            "delta, 100 changed: wall".into(),
            format!(
                "{:.2} s (latency floor {:.2} s; db {:.2} s){}",
                delta100.wall,
                delta_floor as f64 * l,
                delta100.db_s(),
                delta100.failure()
            ),
        ),
        (
            "delta, 1 000 changed: requests".into(),
            format!(
                "{} ({}; {changed1000} changed)",
                delta1000.total_requests(),
                fmt_requests(&delta1000.requests)
            ),
        ),
        (
            "delta, 1 000 changed: wall".into(),
            format!(
                "{:.2} s (latency floor {:.2} s; db {:.2} s){}",
                delta1000.wall,
                delta_floor as f64 * l,
                delta1000.db_s(),
                delta1000.failure()
            ),
        ),
    ];
    let mut rows = rows;
    for (name, retry) in [("100", &retry100), ("1 000", &retry1000)] {
        if let Some(m) = retry {
            rows.push((
                format!("delta, {name} changed, retried after the failure"),
                format!(
                    "{} requests, {:.2} s (db {:.2} s){}",
                    m.total_requests(),
                    m.wall,
                    m.db_s(),
                    m.failure()
                ),
            ));
        }
    }
    rows.extend([
        (
            "remap (no Graph): wall".into(),
            format!(
                "{:.2} s (db {:.2} s){}",
                remap.wall,
                remap.db_s(),
                remap.failure()
            ),
        ),
        (
            "naive: requests".into(),
            format!(
                "{naive_total} ({}; {} users, {} groups)",
                fmt_requests(&naive.requests),
                naive.users,
                naive.groups
            ),
        ),
        (
            "naive: wall".into(),
            format!(
                "{:.2} s with {} worker(s); one at a time: {:.1} s",
                naive.wall, args.naive_concurrency, naive.sequential
            ),
        ),
        (
            "naive / full requests".into(),
            format!("{:.1}×", naive_total as f64 / full_requests as f64),
        ),
    ]);
    println!("\n### {title}\n");
    println!("| figure | value |\n|---|---|");
    for (k, v) in &rows {
        println!("| {k} | {v} |");
    }
    for (name, m, per) in [
        ("full", &full, people),
        ("delta 100", &delta100, changed100 as u64),
        ("delta 1000", &delta1000, changed1000 as u64),
        ("remap", &remap, people),
    ] {
        println!("\nstore calls, {name}: {}", fmt_methods(&m.calls));
        println!("slowest store calls, {name}: {}", fmt_slowest(m));
        if args.backend == Backend::Sqlite {
            println!("written to storage, {name}: {:.0} MB", m.written_mb);
        }
        if args.profile_sql {
            println!("statements, {name}: {}", fmt_statements(&m.statements, per));
        }
        if let Some(stats) = &m.table_stats {
            println!("pg_stat_user_tables, {name}: {stats}");
        }
    }
    println!("run counts, full: {:?}", full.report.counts);
    println!("token requests (identity platform, all runs): {token_requests}");

    if let Some(path) = &args.json {
        let methods = |calls: &[Call]| -> Value {
            by_method(calls)
                .into_iter()
                .map(|(m, (n, s))| (m.to_owned(), json!({"calls": n, "seconds": s})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let statements = |p: &BTreeMap<String, (u64, f64)>| -> Value {
            p.iter()
                .map(|(k, (n, s))| (k.clone(), json!({"count": n, "seconds": s})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let out = json!({
            "users": live_users,
            "groups": args.groups,
            "mapped_groups": names.len(),
            "latency_ms": args.latency_ms,
            "backend": args.backend.name(),
            "requests_total": full_requests,
            "requests_by_endpoint": full.requests,
            "request_floor": request_floor,
            "request_minimum": request_minimum,
            "latency_floor_s": latency_floor,
            "wall_s": full.wall,
            "wall_over_latency_floor": if latency_floor > 0.0 { json!(full.wall / latency_floor) } else { Value::Null },
            "db_s": db_s,
            "read_s": read_s,
            "read_db_s": read_db,
            "evaluate_s": eval_s,
            "evaluate_db_s": eval_db,
            "people": people,
            "people_per_s": people as f64 / full.wall,
            "peak_rss_mb": mb(peak),
            "rss_before_sync_mb": mb(rss_before),
            "peak_rss_delta100_mb": mb(peak_delta100),
            "peak_rss_delta1000_mb": mb(peak_delta1000),
            "peak_rss_remap_mb": mb(peak_remap),
            "peak_rss_naive_mb": mb(peak_naive),
            "naive_requests_total": naive_total,
            "naive_requests_by_endpoint": naive.requests,
            "naive_wall_s": naive.wall,
            "naive_concurrency": args.naive_concurrency,
            "naive_sequential_s": naive.sequential,
            "delta100_error": delta100.report.error,
            "delta1000_error": delta1000.report.error,
            "remap_error": remap.report.error,
            "delta100_retry_wall_s": retry100.as_ref().map(|m| m.wall),
            "delta1000_retry_wall_s": retry1000.as_ref().map(|m| m.wall),
            "delta100_requests": delta100.total_requests(),
            "delta100_wall_s": delta100.wall,
            "delta100_db_s": delta100.db_s(),
            "delta1000_requests": delta1000.total_requests(),
            "delta1000_wall_s": delta1000.wall,
            "delta1000_db_s": delta1000.db_s(),
            "delta_latency_floor_s": delta_floor as f64 * l,
            "remap_wall_s": remap.wall,
            "remap_db_s": remap.db_s(),
            "written_mb": {
                "full": full.written_mb,
                "delta100": delta100.written_mb,
                "delta1000": delta1000.written_mb,
                "remap": remap.written_mb,
            },
            "statements": {
                "full": statements(&full.statements),
                "delta100": statements(&delta100.statements),
                "delta1000": statements(&delta1000.statements),
                "remap": statements(&remap.statements),
            },
            "store_calls": {
                "full": methods(&full.calls),
                "delta100": methods(&delta100.calls),
                "delta1000": methods(&delta1000.calls),
                "remap": methods(&remap.calls),
            },
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
