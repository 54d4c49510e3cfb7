//! The daemon benchmark: one `entra-sync run` process keeping many emulated tenants in step on
//! PostgreSQL over TCP.
//!
//! ```text
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench --bench daemon -- --connections 200 --users 1000 --latency-ms 50 \
//!     [--interval 2m] [--cycles 3] [--change-percent 1] [--parallel 16] [--json PATH]
//!     [--daemon-log PATH] (the daemon's warnings and errors; default daemon.log)
//! ```
//!
//! It measures, for the daemon process alone (the emulator runs in this process):
//! - the first import: from the daemon's start until every tenant has a successful run;
//! - then, while `--change-percent` of each tenant's people change once per interval, for
//!   `--cycles` intervals: the daemon's average CPU (share of one core), its peak RSS, and the
//!   staleness of each change (from the change in the emulator to the change in the database),
//!   as p50, p95 and max.

#[path = "../tests/fixture/daemon.rs"]
mod daemon_fixture;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use daemon_fixture::{daemon_config, one_per_tenant};
use graph_emulator::{EmulatorConfig, GraphEmulator};
use serde_json::json;
use sqlx::Row;

struct Args {
    connections: usize,
    users: usize,
    latency_ms: u64,
    interval: Duration,
    cycles: u32,
    change_percent: f64,
    parallel: usize,
    json: Option<String>,
    /// Where the daemon's warnings and errors go.
    daemon_log: String,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        connections: 200,
        users: 1000,
        latency_ms: 50,
        interval: Duration::from_secs(120),
        cycles: 3,
        change_percent: 1.0,
        parallel: 16,
        json: None,
        daemon_log: "daemon.log".to_owned(),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || {
            given
                .next()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--connections" => args.connections = value()?.parse()?,
            "--users" => args.users = value()?.parse()?,
            "--latency-ms" => args.latency_ms = value()?.parse()?,
            "--interval" => args.interval = humantime::parse_duration(&value()?)?,
            "--cycles" => args.cycles = value()?.parse()?,
            "--change-percent" => args.change_percent = value()?.parse()?,
            "--parallel" => args.parallel = value()?.parse()?,
            "--json" => args.json = Some(value()?),
            "--daemon-log" => args.daemon_log = value()?,
            "--bench" => {}
            other => bail!("unknown flag {other} (see the doc comment of benches/daemon.rs)"),
        }
    }
    Ok(args)
}

/// The daemon's CPU seconds so far (user + system) and its peak RSS in bytes, from /proc.
fn usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat (utime, stime), counted after the command name.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("VmHWM")?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()?;
    Ok((ticks / 100.0, hwm_kb * 1024))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("entra_sync_daemon_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = entra_sync::store::postgres::PostgresStore::connect(&admin_url, 1).await?;
    admin.create_database(&name).await?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("TEST_DATABASE_URL names a database")?;
    let url = format!("{base}/{name}");
    let outcome = run(&args, &url).await;
    admin.drop_database(&name).await?;
    let report = outcome?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

async fn run(args: &Args, url: &str) -> anyhow::Result<serde_json::Value> {
    let running = GraphEmulator::start(EmulatorConfig {
        tenants: args.connections,
        users: args.users,
        groups: 5,
        latency: Duration::from_millis(args.latency_ms),
        ..EmulatorConfig::default()
    })
    .await?;
    let ids: Vec<String> = (0..args.connections)
        .map(|n| format!("tenant-{n:03}"))
        .collect();
    let connections = one_per_tenant(&ids);
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("entra-sync.toml");
    let daemon = format!("max_parallel_connections = {}", args.parallel);
    let interval = humantime::format_duration(args.interval).to_string();
    std::fs::write(
        &config,
        daemon_config(&running, listen, &connections, &daemon, &interval),
    )?;
    let pool = sqlx::PgPool::connect(url).await?;

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args([
            "--config",
            config.to_str().context("utf-8")?,
            "--database-url",
            url,
            "run",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&args.daemon_log)?))
        .spawn()?;
    let pid = child.id();

    // Phase 1: every tenant imported once.
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT connection_id) FROM sync_runs WHERE status = 'succeeded'",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
        if done as usize >= args.connections {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!("the daemon exited during the first import: {status}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first_import = started.elapsed().as_secs_f64();
    let (_, rss_after_import) = usage(pid)?;
    eprintln!(
        "first import of {} tenants: {first_import:.1} s",
        args.connections
    );

    // Phase 2: changes every interval; staleness per change.
    let tenants = running.control.tenant_ids();
    let per_tenant = ((args.users as f64) * args.change_percent / 100.0).ceil() as usize;
    let (cpu_start, _) = usage(pid)?;
    let steady = Instant::now();
    let mut staleness: Vec<f64> = Vec::new();
    let mut missed = 0;
    for cycle in 0..args.cycles {
        let cycle_start = Instant::now();
        // (connection, Entra id) → (the surname it should get, when it changed).
        let mut pending: BTreeMap<(String, String), (String, Instant)> = BTreeMap::new();
        for (index, tenant) in tenants.iter().enumerate() {
            // People the connection syncs (a person outside its group would never arrive),
            // different ones each cycle.
            let synced: Vec<String> = sqlx::query_scalar(
                "SELECT entra_id FROM users WHERE connection_id = $1 AND entra_id IS NOT NULL \
                 ORDER BY entra_id LIMIT $2 OFFSET $3",
            )
            .bind(&ids[index])
            .bind(per_tenant as i64)
            .bind((cycle as usize * per_tenant) as i64)
            .fetch_all(&pool)
            .await?;
            let people: Vec<uuid::Uuid> = synced
                .iter()
                .map(|id| id.parse())
                .collect::<Result<_, _>>()?;
            for person in people {
                let surname = format!("Changed{cycle}");
                running
                    .control
                    .update_user(*tenant, person, json!({ "surname": surname }))?;
                pending.insert(
                    (ids[index].clone(), person.to_string()),
                    (surname, Instant::now()),
                );
            }
        }
        let deadline = cycle_start + args.interval * 2;
        while !pending.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let rows = sqlx::query(
                "SELECT connection_id, entra_id, surname FROM users WHERE surname LIKE 'Changed%'",
            )
            .fetch_all(&pool)
            .await?;
            for row in rows {
                let key = (row.get::<String, _>(0), row.get::<String, _>(1));
                let surname: Option<String> = row.get(2);
                if let Some((wanted, at)) = pending.get(&key)
                    && surname.as_deref() == Some(wanted.as_str())
                {
                    staleness.push(at.elapsed().as_secs_f64());
                    pending.remove(&key);
                }
            }
        }
        if !pending.is_empty() {
            // Which connections, and what their rows say now, so a miss can be understood.
            let mut by_connection: BTreeMap<&str, usize> = BTreeMap::new();
            for (connection, _) in pending.keys() {
                *by_connection.entry(connection.as_str()).or_default() += 1;
            }
            let ((connection, person), (wanted, _)) = pending.iter().next().expect("one");
            let row: Option<(Option<String>, bool)> = sqlx::query_as(
                "SELECT surname, inactive FROM users WHERE connection_id = $1 AND entra_id = $2",
            )
            .bind(connection)
            .bind(person)
            .fetch_optional(&pool)
            .await?;
            let runs: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT kind, status, started_at::text FROM sync_runs WHERE connection_id = $1 \
                 ORDER BY id DESC LIMIT 3",
            )
            .bind(connection)
            .fetch_all(&pool)
            .await?;
            eprintln!(
                "cycle {cycle}: {} changes never arrived, by connection {by_connection:?}; \
                 {connection}/{person} wanted {wanted}, has {row:?}; its last runs {runs:?}",
                pending.len()
            );
            missed += pending.len();
        }
        let left = args.interval.saturating_sub(cycle_start.elapsed());
        tokio::time::sleep(left).await;
    }
    let (cpu_end, peak_rss) = usage(pid)?;
    let cpu_share = (cpu_end - cpu_start) / steady.elapsed().as_secs_f64();
    staleness.sort_by(f64::total_cmp);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exit = tokio::task::spawn_blocking(move || child.wait()).await??;
    running.shutdown().await;
    Ok(json!({
        "connections": args.connections,
        "changes_missed": missed,
        "users_per_connection": args.users,
        "latency_ms": args.latency_ms,
        "interval_seconds": args.interval.as_secs(),
        "parallel": args.parallel,
        "first_import_seconds": first_import,
        "rss_after_import_bytes": rss_after_import,
        "steady_cycles": args.cycles,
        "steady_cpu_share_of_one_core": cpu_share,
        "peak_rss_bytes": peak_rss,
        "changes": staleness.len(),
        "staleness_p50_seconds": percentile(&staleness, 50.0),
        "staleness_p95_seconds": percentile(&staleness, 95.0),
        "staleness_max_seconds": staleness.last().copied().unwrap_or(f64::NAN),
        "daemon_exit": exit.code(),
    }))
}
