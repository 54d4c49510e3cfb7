//! The daemon as operators run it: the real binary (`entra-sync run`) against the emulator,
//! watched through its database, its HTTP endpoints and its JSON logs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_sync::store::{self, RunRow, Store};
use graph_emulator::{EmulatorConfig, Running, well_known};
use serde_json::Value;

use crate::emulator::start;

/// One connection of a daemon's configuration.
struct Connection<'a> {
    id: &'a str,
    /// Which of the emulator's demo apps (tenants) it syncs.
    app: usize,
    /// `enabled_for_instances`; the default when `None`.
    instances: Option<&'a [&'a str]>,
}

/// A daemon configuration: `connections`, each syncing users every 10 s, and `daemon` lines.
fn daemon_config(
    running: &Running,
    listen: SocketAddr,
    connections: &[Connection<'_>],
    daemon: &str,
) -> String {
    let mut text = format!(
        "[daemon]\nlease_ttl = \"3s\"\nshutdown_grace = \"20s\"\n{daemon}\n\n[admin]\nlisten = \"{listen}\"\n\n\
         [halo]\nclients = [\"Contoso\"]\nsites = [{{ name = \"Head Office\", client = \"Contoso\" }}]\n"
    );
    for c in connections {
        let app = running.demo_app(c.app).expect("a demo app");
        let instances = c
            .instances
            .map(|list| format!("enabled_for_instances = {list:?}\n"))
            .unwrap_or_default();
        text.push_str(&format!(
            "\n[[connection]]\nid = \"{id}\"\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\n{instances}\
             authority_url = \"{authority}\"\ngraph_url = \"{graph}\"\n\
             auth = {{ method = \"client_secret\", secret = \"{secret}\" }}\n\
             [connection.sync]\ninterval = \"10s\"\nentities = [\"users\"]\n\
             [[connection.site_mapping]]\nsequence = 1\nname = \"Everyone\"\nsite = \"Head Office\"\n\
             group = \"{everyone}\"\n",
            id = c.id,
            tenant = app.tenant_id,
            client = app.client_id,
            secret = app.client_secret,
            authority = running.authority_url,
            graph = running.graph_url,
            everyone = well_known::ALL_COMPANY,
        ));
    }
    text
}

/// A free loopback port.
fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A running `entra-sync run`, its JSON log lines collected.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    listen: SocketAddr,
    config: PathBuf,
}

impl Daemon {
    fn spawn(config: &Path, database_url: &str, listen: SocketAddr) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
            .args(["--config", config.to_str().expect("utf-8")])
            .args([
                "--database-url",
                database_url,
                "--log-format",
                "json",
                "run",
            ])
            .env("RUST_LOG", "info")
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
    fn logged(&self, text: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            .cloned()
            .collect()
    }

    async fn get(&self, path: &str) -> (u16, String) {
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
    fn command(&self, database_url: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_entra-sync"))
            .args(["--config", self.config.to_str().expect("utf-8")])
            .args(["--database-url", database_url])
            .args(args)
            .output()
            .expect("the command runs")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, failing after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
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

async fn runs_of(store: &dyn Store, connection: &str) -> Vec<RunRow> {
    let mut runs = store.runs(Some(connection), 1000).await.expect("runs");
    runs.reverse();
    runs
}

/// The value of the series `name` with exactly `labels` in Prometheus text.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
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
fn series_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
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
        daemon_config(&running, listen, &[here, elsewhere], ""),
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
            .is_some_and(|r| r.status == "succeeded")
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

    // An operator's trigger reaches the daemon within a few seconds.
    let triggered = daemon.command(&url, &["trigger", "alpha"]);
    assert!(triggered.status.success(), "{triggered:?}");
    let asked = Instant::now();
    eventually("the triggered run", Duration::from_secs(10), || async {
        runs_of(store.as_ref(), "alpha")
            .await
            .iter()
            .any(|r| r.trigger == "cli" && r.status == "succeeded")
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
    assert_eq!(triggered_run.kind, "delta");

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
        daemon_config(&running, listen, &[again, added], ""),
    )
    .unwrap();
    let reloaded = daemon.command(&url, &["reload"]);
    assert!(reloaded.status.success(), "{reloaded:?}");
    eventually("gamma's first run", minute, || async {
        runs_of(store.as_ref(), "gamma")
            .await
            .iter()
            .any(|r| r.status == "succeeded")
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
            .filter(|r| r.status != "running")
            .collect();
        let mut by_kind: BTreeMap<(String, String), f64> = BTreeMap::new();
        for run in &runs {
            *by_kind
                .entry((run.kind.clone(), run.status.clone()))
                .or_default() += 1.0;
        }
        for ((kind, status), count) in &by_kind {
            let labels = [
                ("connection", connection),
                ("kind", kind),
                ("status", status),
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
            .filter(|r| r.status == "succeeded")
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
        let recorded = store.run(run).await.expect("the run");
        assert_eq!(recorded.connection_id, connection);
    }

    daemon.signal("TERM");
    let (status, took) = daemon.exited(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "after {took:?}");
    running.shutdown().await;
}
