//! The binary at its edges: unknown values, bounds and instances, each with its exit code and
//! message, on every backend.

use graph_emulator::{EmulatorConfig, Running};
use serde_json::Value;

use crate::cli::entra_sync;
use crate::emulator::start;
use crate::support::{TestDb, backends};
use crate::sync_runs::sync_config;

/// The binary with a config file for one emulator and one database.
struct Binary {
    _dir: tempfile::TempDir,
    config: String,
}

impl Binary {
    fn new(running: &Running, db: &TestDb) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("entra-sync.toml");
        std::fs::write(&config, sync_config(running, &db.url, "")).expect("config");
        let config = config.to_str().expect("utf-8").to_owned();
        Self { _dir: dir, config }
    }

    /// `entra-sync --config … ARGS`: (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["--config".to_owned(), self.config.clone()];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        tokio::task::spawn_blocking(move || {
            entra_sync(&all.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .expect("join")
    }

    /// Runs ARGS and insists on exit code 0.
    async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, 0, "{args:?}\n{out}\n{err}");
        out
    }
}

fn emulator(users: usize) -> EmulatorConfig {
    EmulatorConfig {
        users,
        ..EmulatorConfig::default()
    }
}

const ACTIONS: [&str; 9] = [
    "created",
    "updated",
    "unchanged",
    "deactivated",
    "reactivated",
    "out-of-scope",
    "conflict",
    "quarantined",
    "error",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_connections_and_actions_exit_non_zero_and_list_the_known_values() {
    let running = start(emulator(60)).await;
    for db in backends().await {
        let bin = Binary::new(&running, &db);
        bin.ok(&["sync", "contoso", "--full"]).await;

        for args in [&["log", "nope"][..], &["runs", "nope"]] {
            let (code, out, err) = bin.run(args).await;
            assert_eq!(code, 1, "{args:?}: {out}\n{err}");
            assert!(
                err.contains(
                    "there is no connection \"nope\" in the configuration (known: contoso)"
                ),
                "{args:?}: {err}"
            );
            assert_eq!(out, "", "{args:?}: no table for an unknown connection");
        }

        let (code, out, err) = bin.run(&["log", "contoso", "--action", "renamed"]).await;
        assert_eq!(code, 2, "a command-line error: {out}\n{err}");
        assert!(
            err.contains("invalid value 'renamed' for '--action"),
            "{err}"
        );
        let listed = err
            .split("[possible values: ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_else(|| panic!("no list of actions in: {err}"));
        assert_eq!(listed.split(", ").collect::<Vec<_>>(), ACTIONS, "{err}");

        // Every listed action is accepted, and filters: the full import created everyone.
        for action in ACTIONS {
            bin.ok(&["log", "contoso", "--action", action]).await;
        }
        let created = bin
            .ok(&["log", "contoso", "--action", "created", "--output", "json"])
            .await;
        let rows: Vec<Value> = serde_json::from_str(&created).expect("json");
        assert!(!rows.is_empty() && rows.iter().all(|r| r["action"] == "created"));
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_limit_outside_their_range_are_refused_with_the_range() {
    let running = start(emulator(60)).await;
    for db in backends().await {
        let bin = Binary::new(&running, &db);
        bin.ok(&["sync", "contoso", "--full"]).await;

        let (code, out, err) = bin.run(&["log", "--since", "300000y"]).await;
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(
            err.contains("invalid value '300000y' for '--since <WHEN>'")
                && err.contains("at most 100y"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        // The longest accepted duration reaches every row.
        let rows = |out: String| {
            serde_json::from_str::<Vec<Value>>(&out)
                .expect("json")
                .len()
        };
        let everything = rows(
            bin.ok(&["log", "--limit", "10000", "--output", "json"])
                .await,
        );
        let since = rows(
            bin.ok(&[
                "log", "--since", "100y", "--limit", "10000", "--output", "json",
            ])
            .await,
        );
        assert!(everything >= 60, "{everything} rows");
        assert_eq!(since, everything);

        for (command, limit) in [
            ("log", "0"),
            ("log", "10001"),
            ("runs", "0"),
            ("runs", "10001"),
        ] {
            let (code, out, err) = bin.run(&[command, "--limit", limit]).await;
            assert_eq!(code, 2, "{command} --limit {limit}: {out}\n{err}");
            assert!(
                err.contains(&format!("invalid value '{limit}' for '--limit <LIMIT>'"))
                    && err.contains("1..=10000"),
                "{command} --limit {limit}: {err}"
            );
            assert_eq!(out, "");
        }
        assert_eq!(
            rows(bin.ok(&["log", "--limit", "1", "--output", "json"]).await),
            1
        );
        let runs = bin.ok(&["runs", "--limit", "1"]).await;
        assert_eq!(runs.lines().count(), 2, "a header and one run: {runs}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_write_refuse_a_connection_not_enabled_for_the_instance() {
    let running = start(emulator(60)).await;
    for db in backends().await {
        let bin = Binary::new(&running, &db);
        bin.ok(&["sync", "contoso", "--full"]).await;
        let refusal = |what: &str| {
            format!(
                "error: connection \"contoso\" is not enabled for instance \"uat\" (it runs on: \
                 production); refusing to {what}\n"
            )
        };
        for (args, what) in [
            (&["sync", "contoso"][..], "sync"),
            (&["sync", "contoso", "--full"], "sync"),
            (&["import", "contoso", "--apply"], "import"),
            (&["remap", "contoso", "--apply"], "remap"),
            (&["runs", "approve", "1"], "approve run 1"),
            (
                &["delta", "reset", "contoso", "--clear"],
                "reset its delta links",
            ),
            (
                &["delta", "reset", "contoso", "--latest"],
                "reset its delta links",
            ),
        ] {
            let mut with_instance = vec!["--instance", "uat"];
            with_instance.extend_from_slice(args);
            let (code, out, err) = bin.run(&with_instance).await;
            assert_eq!(code, 5, "{args:?}: {out}\n{err}");
            assert!(err.ends_with(&refusal(what)), "{args:?}: {err}");
        }

        // Previews write nothing, so they run on any instance.
        let out = bin
            .ok(&["--instance", "uat", "sync", "contoso", "--dry-run"])
            .await;
        assert!(out.contains("dry run succeeded"), "{out}");
        let preview = bin
            .ok(&["--instance", "uat", "import", "contoso", "--output", "csv"])
            .await;
        assert!(preview.lines().count() > 60, "{preview}");
        bin.ok(&["--instance", "uat", "remap", "contoso"]).await;
        let check = bin.ok(&["--instance", "uat", "check"]).await;
        assert!(check.contains("not enabled for this instance"), "{check}");

        // Nothing was written: one run (the full sync), and its delta links are still there.
        let runs = bin.ok(&["runs"]).await;
        assert_eq!(runs.lines().count(), 2, "a header and the full run: {runs}");
        let out = bin.ok(&["sync", "contoso"]).await;
        assert!(
            out.contains("run 2 succeeded") && out.contains("delta round"),
            "{out}"
        );
        db.cleanup().await;
    }
}
