//! The admin API under load while the daemon runs a large full sync.
//!
//! ```text
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --bench load -- --users 100000 --rate 200 --seconds 60 \
//!     [--backend postgres|sqlite] [--latency-ms 50] [--without-preview] [--json PATH]
//! ```
//!
//! Two phases, each with a fresh database and one `entra-sync run` process whose first cycle is
//! a full sync of one emulated tenant of `--users` people:
//! 1. alone: the full sync's duration (from the run's record);
//! 2. under load: from the moment the run is recorded, a loopback load generator sends
//!    `--rate` admin API requests per second for `--seconds`, open loop (a request is sent on
//!    schedule whether or not earlier ones have answered), round-robin over the read routes an
//!    operator's tools call: the connection list, the connection's status, its runs, its inbound
//!    log, its import preview, and `/metrics`.
//!
//! It reports the latency (p50, p90, p99, max) of the requests sent while the sync ran and of
//! all of them, every non-2xx answer or transport error, and the sync's slowdown.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use entra_sync::ids::ConnectionId;
use entra_sync::store::{self, Store};
use entra_sync::vocab::RunStatus;
use graph_emulator::{EmulatorConfig, GraphEmulator, Running};
use serde_json::json;

#[path = "../tests/fixture/daemon.rs"]
mod daemon_fixture;
use daemon_fixture::{daemon_config, one_per_tenant};

const CONNECTION: &str = "loaded";

struct Args {
    users: usize,
    latency_ms: u64,
    rate: u32,
    seconds: u64,
    backend: String,
    json: Option<String>,
    /// Leave the import preview out of the mix.
    without_preview: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        users: 100_000,
        latency_ms: 50,
        rate: 200,
        seconds: 60,
        backend: "postgres".to_owned(),
        json: None,
        without_preview: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--users" => args.users = value()?.parse()?,
            "--latency-ms" => args.latency_ms = value()?.parse()?,
            "--rate" => args.rate = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--backend" => args.backend = value()?,
            "--json" => args.json = Some(value()?),
            "--without-preview" => args.without_preview = true,
            "--bench" => {}
            other => bail!("unknown flag {other} (see the doc comment of benches/load.rs)"),
        }
    }
    if !["postgres", "sqlite"].contains(&args.backend.as_str()) {
        bail!("--backend is postgres or sqlite, not {}", args.backend);
    }
    Ok(args)
}

/// A fresh database: its URL, and what drops it.
struct Database {
    url: String,
    postgres: Option<(store::postgres::PostgresStore, String)>,
    _dir: tempfile::TempDir,
}

impl Database {
    async fn fresh(backend: &str) -> anyhow::Result<Database> {
        let dir = tempfile::tempdir()?;
        if backend == "sqlite" {
            let url = format!("sqlite://{}", dir.path().join("load.db").display());
            return Ok(Database {
                url,
                postgres: None,
                _dir: dir,
            });
        }
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("entra_sync_load_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = store::postgres::PostgresStore::connect(&admin_url, 1).await?;
        admin.create_database(&name).await?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("TEST_DATABASE_URL names a database")?;
        Ok(Database {
            url: format!("{base}/{name}"),
            postgres: Some((admin, name)),
            _dir: dir,
        })
    }

    async fn drop(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.postgres {
            admin.drop_database(&name).await?;
        }
        Ok(())
    }
}

/// `entra-sync ARGS` with the config and database, to completion: its stdout.
fn command(config: &std::path::Path, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args(["--config", config.to_str().context("utf-8")?])
        .args(["--database-url", url])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()?;
    if !output.status.success() {
        bail!(
            "entra-sync {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn spawn_daemon(config: &std::path::Path, url: &str) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args(["--config", config.to_str().context("utf-8")?])
        .args(["--database-url", url, "run"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

fn stop(mut child: Child) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    child.wait()?;
    Ok(())
}

/// The connection's first run, once there is one.
async fn first_run(store: &dyn Store) -> anyhow::Result<Option<store::RunRow>> {
    let connection = ConnectionId::parse(CONNECTION).map_err(anyhow::Error::msg)?;
    Ok(store.runs(Some(&connection), 10).await?.pop())
}

/// Waits for the first run to end; its duration in seconds.
async fn finished(store: &dyn Store, daemon: &mut Child) -> anyhow::Result<f64> {
    loop {
        if let Some(run) = first_run(store).await?
            && let Some(ended) = run.ended_at
        {
            if run.status != RunStatus::Succeeded {
                bail!("the full sync ended {:?}: {:?}", run.status, run.error);
            }
            return Ok((ended - run.started_at).num_milliseconds() as f64 / 1000.0);
        }
        if let Some(status) = daemon.try_wait()? {
            bail!("the daemon exited during the sync: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One request's outcome: when it was sent (since the load began), how long it took, and its
/// status (0 for a transport error).
#[derive(Clone, Copy)]
struct Sample {
    route: usize,
    sent: f64,
    millis: f64,
    status: u16,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

fn summary(samples: &[Sample]) -> serde_json::Value {
    let mut millis: Vec<f64> = samples.iter().map(|s| s.millis).collect();
    millis.sort_by(f64::total_cmp);
    let errors = samples
        .iter()
        .filter(|s| !(200..300).contains(&s.status))
        .count();
    json!({
        "requests": samples.len(),
        "errors": errors,
        "p50_ms": percentile(&millis, 50.0),
        "p90_ms": percentile(&millis, 90.0),
        "p99_ms": percentile(&millis, 99.0),
        "max_ms": millis.last().copied().unwrap_or(f64::NAN),
    })
}

async fn phase(
    args: &Args,
    running: &Running,
    load: bool,
) -> anyhow::Result<(f64, Vec<Sample>, Option<f64>)> {
    let db = Database::fresh(&args.backend).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("entra-sync.toml");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let ids = [CONNECTION.to_owned()];
    std::fs::write(
        &config,
        daemon_config(running, listen, &one_per_tenant(&ids), "", "24h"),
    )?;
    // The key first (this migrates the database), then the daemon, whose first cycle syncs.
    let key = command(&config, &db.url, &["keys", "create", "--admin"])?
        .trim()
        .to_owned();
    let store: Arc<dyn Store> = store::connect(&db.url, 2).await?.into();
    let mut daemon = spawn_daemon(&config, &db.url)?;
    while first_run(store.as_ref()).await?.is_none() {
        if let Some(status) = daemon.try_wait()? {
            bail!("the daemon exited before its first run: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !load {
        let seconds = finished(store.as_ref(), &mut daemon).await?;
        stop(daemon)?;
        db.drop().await?;
        return Ok((seconds, Vec::new(), None));
    }

    let base = format!("http://{listen}");
    let c = format!("{base}/api/connections/{CONNECTION}");
    let mut routes = vec![
        format!("{base}/api/connections"),
        c.clone(),
        format!("{c}/runs?limit=20"),
        format!("{c}/log?limit=50"),
        format!("{c}/preview?limit=50"),
        format!("{base}/metrics"),
    ];
    if args.without_preview {
        routes.remove(4);
    }
    let routes = Arc::new(routes);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let began = Instant::now();
    let sync_done: Arc<Mutex<Option<f64>>> = Arc::default();
    let watcher = {
        let store = store.clone();
        let sync_done = sync_done.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(Some(run)) = first_run(store.as_ref()).await
                    && run.ended_at.is_some()
                {
                    *sync_done.lock().expect("lock") = Some(began.elapsed().as_secs_f64());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = u64::from(args.rate) * args.seconds;
    let mut in_flight = Vec::with_capacity(total as usize);
    for n in 0..total {
        tick.tick().await;
        let (http, routes, samples, key) =
            (http.clone(), routes.clone(), samples.clone(), key.clone());
        in_flight.push(tokio::spawn(async move {
            let route = n as usize % routes.len();
            let url = &routes[route];
            let sent = began.elapsed().as_secs_f64();
            let at = Instant::now();
            let status = match http.get(url).bearer_auth(&key).send().await {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    // The whole body, as a client reads it.
                    match answer.bytes().await {
                        Ok(_) => status,
                        Err(_) => 0,
                    }
                }
                Err(_) => 0,
            };
            let millis = at.elapsed().as_secs_f64() * 1000.0;
            samples.lock().expect("lock").push(Sample {
                route,
                sent,
                millis,
                status,
            });
        }));
    }
    for request in in_flight {
        request.await?;
    }
    let seconds = finished(store.as_ref(), &mut daemon).await?;
    watcher.await?;
    stop(daemon)?;
    db.drop().await?;
    let samples = samples.lock().expect("lock").clone();
    let done = *sync_done.lock().expect("lock");
    Ok((seconds, samples, done))
}

/// The routes, in the order the load generator takes them (for the report).
const ROUTES: [&str; 6] = [
    "GET /api/connections",
    "GET /api/connections/{id}",
    "GET /api/connections/{id}/runs?limit=20",
    "GET /api/connections/{id}/log?limit=50",
    "GET /api/connections/{id}/preview?limit=50",
    "GET /metrics",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let running = GraphEmulator::start(EmulatorConfig {
        tenants: 1,
        users: args.users,
        groups: 5,
        latency: Duration::from_millis(args.latency_ms),
        ..EmulatorConfig::default()
    })
    .await?;
    let (alone, _, _) = phase(&args, &running, false).await?;
    eprintln!("the full sync alone: {alone:.1} s");
    running.control.reset()?;
    let (loaded, samples, sync_done) = phase(&args, &running, true).await?;
    eprintln!("the full sync under load: {loaded:.1} s");
    let during: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| sync_done.is_none_or(|done| s.sent < done))
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for s in &samples {
        *statuses.entry(s.status).or_default() += 1;
    }
    let report = json!({
        "backend": args.backend,
        "users": args.users,
        "latency_ms": args.latency_ms,
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "sync_alone_seconds": alone,
        "sync_under_load_seconds": loaded,
        "slowdown_percent": (loaded / alone - 1.0) * 100.0,
        "sync_ended_after_load_began_seconds": sync_done,
        "while_syncing": summary(&during),
        "all": summary(&samples),
        "without_preview": args.without_preview,
        "while_syncing_by_route": ROUTES
            .iter()
            .filter(|name| !(args.without_preview && name.contains("preview")))
            .enumerate()
            .map(|(i, name)| {
                let of: Vec<Sample> = during.iter().copied().filter(|s| s.route == i).collect();
                (name.to_string(), summary(&of))
            })
            .collect::<serde_json::Map<_, _>>(),
        "statuses": statuses,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    running.shutdown().await;
    Ok(())
}
