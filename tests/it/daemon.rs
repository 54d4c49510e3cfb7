//! The daemon as operators run it: the real binary (`entra-sync run`) against the emulator,
//! watched through its database, its HTTP endpoints and its JSON logs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_sync::ids::RunId;
use entra_sync::store::{self, RunRow, Store};
use entra_sync::vocab::{RunKind, RunStatus};
use graph_emulator::EmulatorConfig;
use serde_json::Value;

use crate::crash::semantic;
use crate::daemon_fixture::{Connection, daemon_config, one_per_tenant};
use crate::emulator::start;
use crate::support::{backends, cid, postgres};

/// Short leases (a killed replica is taken over quickly) and a grace that a cancelled run meets.
pub(crate) const TEST_DAEMON: &str = "lease_ttl = \"3s\"\nshutdown_grace = \"20s\"";

/// A free loopback port.
pub(crate) fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A running `entra-sync run`, its JSON log lines collected.
pub(crate) struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    listen: SocketAddr,
    config: PathBuf,
}

impl Daemon {
    pub(crate) fn spawn(config: &Path, database_url: &str, listen: SocketAddr) -> Self {
        Self::spawn_logging(config, database_url, listen, "info")
    }

    /// [`Daemon::spawn`] with `RUST_LOG` set to `filter`.
    pub(crate) fn spawn_logging(
        config: &Path,
        database_url: &str,
        listen: SocketAddr,
        filter: &str,
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
            .args(["--config", config.to_str().expect("utf-8")])
            .args([
                "--database-url",
                database_url,
                "--log-format",
                "json",
                "run",
            ])
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                collected.lock().unwrap().push(value);
            }
        });
        Self {
            child,
            lines,
            listen,
            config: config.to_owned(),
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Log lines whose message contains `text`.
    pub(crate) fn logged(&self, text: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            .cloned()
            .collect()
    }

    /// Every line it has written, as written.
    pub(crate) fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let answer = reqwest::get(format!("http://{}{path}", self.listen))
            .await
            .expect("the daemon answers");
        (answer.status().as_u16(), answer.text().await.expect("body"))
    }

    /// Waits for the process to exit, at most `within`.
    async fn exited(mut self, within: Duration) -> (ExitStatus, Duration) {
        let asked = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, asked.elapsed());
            }
            assert!(
                asked.elapsed() < within,
                "the daemon did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a one-off command with the daemon's configuration.
    pub(crate) async fn command(&self, database_url: &str, args: &[&str]) -> std::process::Output {
        run_command(&self.config, database_url, args).await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `entra-sync` with `config`, `database_url` and `args`, off the test's runtime (the
/// emulator serves on it, and a command may need the emulator).
async fn run_command(config: &Path, database_url: &str, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entra-sync"));
    command
        .args(["--config", config.to_str().expect("utf-8")])
        .args(["--database-url", database_url])
        .args(args);
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("the command runs")
}

/// Polls `check` until it holds, failing after `within`.
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn runs_of(store: &dyn Store, connection: &str) -> Vec<RunRow> {
    let mut runs = store
        .runs(Some(&cid(connection)), 1000)
        .await
        .expect("runs");
    runs.reverse();
    runs
}

/// The value of the series `name` with exactly `labels` in Prometheus text.
pub(crate) fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{').unwrap_or((key, "}"));
            if metric != name {
                return None;
            }
            let body = rest.strip_suffix('}')?;
            let mut found: Vec<(String, String)> = body
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            found.sort();
            let mut wanted: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            wanted.sort();
            (found == wanted).then(|| value.parse().ok()).flatten()
        })
}

/// The sum of every series `name` whose labels include `labels`.
pub(crate) fn series_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{')?;
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

#[tokio::test]
async fn the_daemon_runs_what_is_enabled_here_takes_triggers_reloads_and_stops_cleanly() {
    let running = start(EmulatorConfig {
        tenants: 3,
        users: 30,
        groups: 4,
        ..EmulatorConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("daemon.db").display()
    );
    let config = dir.path().join("entra-sync.toml");
    let listen = free_address();
    let here = Connection {
        id: "alpha",
        app: 0,
        instances: None,
    };
    let elsewhere = Connection {
        id: "beta",
        app: 1,
        instances: Some(&["elsewhere"]),
    };
    std::fs::write(
        &config,
        daemon_config(&running, listen, &[here, elsewhere], TEST_DAEMON, "10s"),
    )
    .unwrap();
    let store: Arc<dyn Store> = store::connect(&url, 2).await.expect("store").into();
    store.migrate().await.expect("migrate");
    let daemon = Daemon::spawn(&config, &url, listen);
    let minute = Duration::from_secs(60);

    eventually("alpha's first run", minute, || async {
        runs_of(store.as_ref(), "alpha")
            .await
            .first()
            .is_some_and(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    let first = runs_of(store.as_ref(), "alpha").await.remove(0);
    assert_eq!(
        (first.kind.as_str(), first.trigger.as_str()),
        ("full", "schedule")
    );
    let summary = daemon.logged("connection(s) run here");
    assert_eq!(summary.len(), 1, "one startup summary");
    assert_eq!(summary[0]["runs_here"], "alpha");
    assert_eq!(summary[0]["not_here"], "beta (enabled for elsewhere)");
    let (status, body) = daemon.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["config_generation"], 1);
    assert_eq!(daemon.get("/healthz").await.0, 200);
    // The status page is served beside them: without a session, `/` leads to the sign-in form.
    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Sign in with an entra-sync API key"),
        "{page}"
    );

    // An operator's trigger reaches the daemon within a few seconds.
    let triggered = daemon.command(&url, &["trigger", "alpha"]).await;
    assert!(triggered.status.success(), "{triggered:?}");
    let asked = Instant::now();
    eventually("the triggered run", Duration::from_secs(10), || async {
        runs_of(store.as_ref(), "alpha")
            .await
            .iter()
            .any(|r| r.trigger == "cli" && r.status == RunStatus::Succeeded)
    })
    .await;
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    let triggered_run = runs_of(store.as_ref(), "alpha")
        .await
        .into_iter()
        .find(|r| r.trigger == "cli")
        .unwrap();
    assert_eq!(triggered_run.kind, RunKind::Delta);

    // An invalid configuration is refused; the live one keeps running.
    let valid = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        valid.replace("interval = \"10s\"", "interval = \"1s\""),
    )
    .unwrap();
    daemon.signal("HUP");
    eventually("the refusal", Duration::from_secs(10), || async {
        !daemon.logged("The new configuration is refused").is_empty()
    })
    .await;
    let refusal = &daemon.logged("The new configuration is refused")[0];
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection[alpha].sync.interval")),
        "{refusal}"
    );
    let (_, body) = daemon.get("/readyz").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["config_generation"],
        1
    );

    // A valid one adding a connection: it starts, through `entra-sync reload` this time.
    let added = Connection {
        id: "gamma",
        app: 2,
        instances: None,
    };
    let again = Connection {
        id: "alpha",
        app: 0,
        instances: None,
    };
    std::fs::write(
        &config,
        daemon_config(&running, listen, &[again, added], TEST_DAEMON, "10s"),
    )
    .unwrap();
    let reloaded = daemon.command(&url, &["reload"]).await;
    assert!(reloaded.status.success(), "{reloaded:?}");
    eventually("gamma's first run", minute, || async {
        runs_of(store.as_ref(), "gamma")
            .await
            .iter()
            .any(|r| r.status == RunStatus::Succeeded)
    })
    .await;
    let (_, body) = daemon.get("/readyz").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["config_generation"],
        2
    );
    assert!(
        runs_of(store.as_ref(), "beta").await.is_empty(),
        "beta never runs here"
    );

    // The metrics agree with the runs the database recorded.
    let (status, metrics) = daemon.get("/metrics").await;
    assert_eq!(status, 200);
    for connection in ["alpha", "gamma"] {
        let runs: Vec<RunRow> = runs_of(store.as_ref(), connection)
            .await
            .into_iter()
            .filter(|r| r.status != RunStatus::Running)
            .collect();
        let mut by_kind: BTreeMap<(RunKind, RunStatus), f64> = BTreeMap::new();
        for run in &runs {
            *by_kind.entry((run.kind, run.status)).or_default() += 1.0;
        }
        for ((kind, status), count) in &by_kind {
            let labels = [
                ("connection", connection),
                ("kind", kind.as_str()),
                ("status", status.as_str()),
            ];
            assert_eq!(
                series(&metrics, "entra_sync_runs_total", &labels),
                Some(*count),
                "{connection} {kind} {status}\n{metrics}"
            );
        }
        let created: u64 = runs.iter().filter_map(|r| r.counts.get("created")).sum();
        assert_eq!(
            series(
                &metrics,
                "entra_sync_people_total",
                &[("connection", connection), ("action", "created")]
            ),
            Some(created as f64),
            "{connection}"
        );
        let requests: i64 = runs.iter().map(|r| r.graph_requests).sum();
        assert_eq!(
            series_sum(
                &metrics,
                "entra_sync_graph_requests_total",
                &[("connection", connection)]
            ),
            requests as f64,
            "{connection}"
        );
        let last_end = runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .filter_map(|r| r.ended_at)
            .max()
            .unwrap();
        let last_success = series(
            &metrics,
            "entra_sync_last_success_timestamp_seconds",
            &[("connection", connection)],
        )
        .unwrap();
        assert!(
            (last_success - last_end.timestamp_millis() as f64 / 1000.0).abs() < 5.0,
            "{connection}: {last_success} against {last_end}"
        );
        assert_eq!(
            series(
                &metrics,
                "entra_sync_lease_held",
                &[("connection", connection)]
            ),
            Some(0.0)
        );
        assert_eq!(
            series_sum(
                &metrics,
                "entra_sync_run_duration_seconds_count",
                &[("connection", connection)]
            ),
            runs.len() as f64
        );
    }
    assert_eq!(
        series(&metrics, "entra_sync_config_generation", &[]),
        Some(2.0)
    );

    // Every line a run logs names its connection and run.
    let started = daemon.logged("The run started.");
    assert!(!started.is_empty());
    for line in &started {
        let span = &line["span"];
        let connection = span["connection"].as_str().expect("a connection");
        let run = span["run"].as_i64().expect("a run id");
        let recorded = store.run(RunId(run)).await.expect("the run");
        assert_eq!(recorded.connection_id.as_str(), connection);
    }

    daemon.signal("TERM");
    let (status, took) = daemon.exited(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "after {took:?}");
    running.shutdown().await;
}

#[tokio::test]
async fn two_replicas_share_twenty_tenants_and_one_takes_over_when_the_other_is_killed() {
    // Without PostgreSQL (a developer's machine) there are no replicas to test; CI always has it.
    let Some(db) = postgres().await else { return };
    let running = start(EmulatorConfig {
        tenants: 20,
        users: 12,
        groups: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..20).map(|n| format!("tenant-{n:02}")).collect();
    let connections = one_per_tenant(&ids);
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrate");
    let (listen_a, listen_b) = (free_address(), free_address());
    let replica = |name: &str, listen| {
        let config = dir.path().join(format!("{name}.toml"));
        let daemon = format!("{TEST_DAEMON}\nmax_parallel_connections = 4");
        let text = daemon_config(&running, listen, &connections, &daemon, "10s");
        std::fs::write(&config, text).unwrap();
        Daemon::spawn(&config, &db.url, listen)
    };
    let a = replica("a", listen_a);
    let b = replica("b", listen_b);
    let interval = Duration::from_secs(10);

    // Five cycles of every connection, between the two of them.
    eventually(
        "five cycles of every tenant",
        Duration::from_secs(120),
        || async {
            let mut all = true;
            for id in &ids {
                all &= runs_of(store.as_ref(), id)
                    .await
                    .iter()
                    .filter(|r| r.status == RunStatus::Succeeded)
                    .count()
                    >= 5;
            }
            all
        },
    )
    .await;
    for id in &ids {
        let runs = runs_of(store.as_ref(), id).await;
        for pair in runs.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let ended = before.ended_at.expect("ended before the next started");
            assert!(
                ended <= after.started_at,
                "{id}: runs {} and {} overlap",
                before.id,
                after.id
            );
            // Once per cycle: a cycle starts an interval after the last one started, never
            // sooner (a few milliseconds of the two processes' clocks aside).
            let gap = (after.started_at - before.started_at).to_std().unwrap();
            assert!(
                gap + Duration::from_millis(200) >= interval,
                "{id}: {gap:?} between runs {} and {}",
                before.id,
                after.id
            );
        }
    }
    let ran_by = |daemon: &Daemon| daemon.logged("The run started.").len();
    let (by_a, by_b) = (ran_by(&a), ran_by(&b));
    assert!(
        by_a >= 10 && by_b >= 10,
        "both replicas work: {by_a} and {by_b} runs"
    );

    // SIGKILL one: the other takes its connections within the lease's expiry plus an interval.
    // The daemons stamp their runs with the wall clock: so does the test.
    let killed_at = entra_sync::clock::Clock::now(&entra_sync::clock::SystemClock);
    drop(a);
    let lease_ttl = Duration::from_secs(3);
    let deadline = lease_ttl + interval + Duration::from_secs(5);
    eventually(
        "the survivor runs every tenant",
        deadline + Duration::from_secs(5),
        || async {
            let mut all = true;
            for id in &ids {
                all &= runs_of(store.as_ref(), id)
                    .await
                    .iter()
                    .any(|r| r.started_at > killed_at && r.status == RunStatus::Succeeded);
            }
            all
        },
    )
    .await;
    for id in &ids {
        let first_after = runs_of(store.as_ref(), id)
            .await
            .into_iter()
            .find(|r| r.started_at > killed_at)
            .unwrap();
        let took = (first_after.started_at - killed_at).to_std().unwrap();
        assert!(took <= deadline, "{id}: taken over after {took:?}");
    }
    b.signal("TERM");
    let (status, _) = b.exited(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0));
    running.shutdown().await;
    db.cleanup().await;
}

#[tokio::test]
async fn sigterm_during_a_run_cancels_it_and_the_next_daemon_resumes_without_loss() {
    for db in backends().await {
        let running = start(EmulatorConfig {
            tenants: 1,
            users: 3000,
            groups: 10,
            latency: Duration::from_millis(30),
            ..EmulatorConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = db.open().await.into();
        store.migrate().await.expect("migrate");
        let config = dir.path().join("entra-sync.toml");
        let listen = free_address();
        let only = Connection {
            id: "contoso",
            app: 0,
            instances: None,
        };
        std::fs::write(
            &config,
            daemon_config(&running, listen, &[only], TEST_DAEMON, "10s"),
        )
        .unwrap();
        let daemon = Daemon::spawn(&config, &db.url, listen);
        eventually("the run is under way", Duration::from_secs(60), || async {
            crate::crash::progress(&db.url).await > 100
        })
        .await;
        daemon.signal("TERM");
        let (status, took) = daemon.exited(Duration::from_secs(20)).await;
        assert_eq!(status.code(), Some(0), "{}", db.url);
        assert!(
            took < Duration::from_secs(20),
            "within shutdown_grace: {took:?}"
        );
        let runs = runs_of(store.as_ref(), "contoso").await;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, RunStatus::Cancelled, "{:?}", runs[0]);
        let claim = store
            .run_history(&entra_sync::ids::ConnectionId::parse("contoso").unwrap())
            .await
            .unwrap();
        assert_eq!(
            claim.last_cycle, None,
            "a cancelled run is no cycle: the next one runs at once"
        );

        // The next daemon resumes: the same people as a sync that was never interrupted.
        let daemon = Daemon::spawn(&config, &db.url, listen);
        eventually("the resumed run", Duration::from_secs(120), || async {
            runs_of(store.as_ref(), "contoso")
                .await
                .iter()
                .any(|r| r.status == RunStatus::Succeeded)
        })
        .await;
        daemon.signal("TERM");
        assert_eq!(
            daemon.exited(Duration::from_secs(20)).await.0.code(),
            Some(0)
        );
        let resumed = semantic(&db.url).await;

        let scheme = |url: &str| url.split(':').next().unwrap_or_default().to_owned();
        let reference = backends()
            .await
            .into_iter()
            .find(|r| scheme(&r.url) == scheme(&db.url))
            .expect("a reference database on the same backend");
        let sync = run_command(&config, &reference.url, &["sync", "contoso", "--full"]).await;
        assert!(
            sync.status.success(),
            "{}",
            String::from_utf8_lossy(&sync.stderr)
        );
        let expected = semantic(&reference.url).await;
        for (table, rows) in &expected {
            assert!(
                &resumed[table] == rows,
                "{table} on {}: {} rows resumed against {} uninterrupted",
                db.url,
                resumed[table].len(),
                rows.len()
            );
        }
        // The interrupted run had committed only part of the tenant (progress > 100 of its
        // thousands of mirrored people and log rows): the resumed one did the rest.
        assert!(
            expected["users"].len() > 1000,
            "{}",
            expected["users"].len()
        );
        running.shutdown().await;
        db.cleanup().await;
    }
}

/// Never answers: a scheduler polling it is stuck.
struct Stuck;

#[async_trait::async_trait]
impl entra_sync::daemon::scheduler::Cycles for Stuck {
    async fn cycle(
        &self,
        _: &entra_sync::ids::ConnectionId,
        _: &tokio_util::sync::CancellationToken,
    ) -> entra_sync::daemon::scheduler::Cycle {
        std::future::pending().await
    }

    async fn triggered(&self) -> Result<Vec<entra_sync::ids::ConnectionId>, String> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone_and_when_the_scheduler_is_stuck() {
    use entra_sync::daemon::http::{Endpoints, router};
    use entra_sync::daemon::pacing::Jitter;
    use entra_sync::daemon::scheduler::{Scheduler, SchedulerOptions};
    use entra_sync::daemon::{Live, jobs};

    // Without PostgreSQL there is no server to take away; CI always has it.
    let Some(db) = postgres().await else { return };
    let running = start(EmulatorConfig::default()).await;
    let store: Arc<dyn Store> = db.open().await.into();
    store.migrate().await.expect("migrate");
    let text = crate::config_fixture::ConfigFixture::contoso(&running, &db.url).render();
    let no_env: entra_sync::config::load::Environment =
        std::iter::empty::<(String, String)>().collect();
    let settings = crate::emulator::settings(&text, &no_env, Path::new("."));
    let clock: Arc<dyn entra_sync::clock::Clock> = Arc::new(entra_sync::clock::SystemClock);
    let graph = Arc::new(entra_sync::app::LiveGraph {
        store: store.clone(),
        clock: clock.clone(),
    });
    let service =
        entra_sync::service::Service::new(Arc::new(settings), store.clone(), clock, graph);
    let options = SchedulerOptions {
        max_parallel: 1,
        trigger_poll: Duration::from_millis(100),
        jitter: Jitter::NONE,
    };
    let mut scheduler = Scheduler::new(Arc::new(Stuck), options, Default::default());
    let (reload, _requests) = tokio::sync::mpsc::channel(1);
    let endpoints = Endpoints {
        live: Arc::new(Live::new(service.clone())),
        heartbeat: scheduler.heartbeat(),
        stuck_after: Duration::from_secs(1),
        metrics: None,
        reload,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(endpoints)).await });
    let ready = || async move {
        let answer = reqwest::get(format!("http://{address}/readyz"))
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<Value>().await.unwrap())
    };

    let (status, body) = ready().await;
    assert_eq!(
        (status, body["ready"].as_bool()),
        (200, Some(true)),
        "{body}"
    );

    // The scheduler's poll never comes back: once it has been silent for a second, not ready.
    scheduler.apply(Arc::new(Stuck), jobs(service.settings()));
    eventually(
        "the stuck scheduler is noticed",
        Duration::from_secs(10),
        || async { ready().await.0 == 503 },
    )
    .await;
    let (_, body) = ready().await;
    assert_eq!(body["database"], "ok");
    assert!(
        body["scheduler"]
            .as_str()
            .is_some_and(|s| s.contains("has not come round")),
        "{body}"
    );

    // The database goes away too: both are named.
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let admin = entra_sync::store::postgres::PostgresStore::connect(
        &std::env::var("TEST_DATABASE_URL").unwrap(),
        1,
    )
    .await
    .unwrap();
    admin
        .drop_database(&name)
        .await
        .expect("drop the database under the daemon");
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_ne!(body["database"], "ok", "{body}");
    running.shutdown().await;
}
