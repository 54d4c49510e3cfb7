//! The binary's run commands, end to end.

use std::process::Command;

use graph_emulator::EmulatorConfig;

use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::backends;

pub(crate) fn entra_sync(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_demo_reports_the_joiner_the_leaver_the_mover_and_the_disabled_agent() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (code, out, err) = entra_sync(&[
        "demo",
        "--users",
        "600",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let delta = out.split("== 3. Delta cycle").nth(1).unwrap_or_default();
    let line = |label: &str| {
        delta
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("joiner ").contains("created"), "{out}");
    assert!(line("leaver ").contains("deactivated"), "{out}");
    let mover = line("mover ");
    assert!(
        mover.contains("updated")
            && mover.contains("agent.role: ∅ → 2nd Line")
            && mover.contains("agent.role: 1st Line → ∅"),
        "{out}"
    );
    assert!(
        line("disabled agent").contains("agent.inactive: false → true"),
        "{out}"
    );
    assert!(dir.path().join("demo.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_import_runs_and_log_work_from_the_command_line() {
    let running = start(EmulatorConfig {
        users: 150,
        ..EmulatorConfig::default()
    })
    .await;
    for db in backends().await {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("entra-sync.toml");
        std::fs::write(&config, ConfigFixture::contoso(&running, &db.url).render())
            .expect("config");
        let config = config.to_str().expect("utf-8").to_owned();
        let run = |args: &[&str]| {
            let mut all = vec!["--config", config.as_str()];
            all.extend_from_slice(args);
            let all: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
            async move {
                tokio::task::spawn_blocking(move || {
                    entra_sync(&all.iter().map(String::as_str).collect::<Vec<_>>())
                })
                .await
                .expect("join")
            }
        };

        // A preview writes nothing and lists people with their mapping.
        let (code, out, err) = run(&["import", "contoso", "--output", "csv"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("logged_at,run_id,upn"), "{out}");
        assert!(out.lines().count() > 150, "{} lines", out.lines().count());
        assert!(out.contains(",created,created,10 Office staff,"), "{out}");
        let (_, runs, _) = run(&["runs"]).await;
        assert_eq!(
            runs.lines().count(),
            1,
            "only the header: the preview made no run\n{runs}"
        );

        let (code, out, err) = run(&["sync", "contoso", "--full"]).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            out.contains("run 1 succeeded") && out.contains("created"),
            "{out}"
        );
        let (code, out, _) = run(&["sync", "contoso"]).await;
        assert_eq!(code, 0);
        assert!(
            out.contains("delta round") && out.contains("no changes"),
            "{out}"
        );
        let (_, runs, _) = run(&["runs", "contoso"]).await;
        assert_eq!(runs.lines().count(), 3, "{runs}");
        assert!(runs.contains("full") && runs.contains("delta"), "{runs}");

        let (code, log, _) = run(&[
            "log", "contoso", "--action", "created", "--limit", "5", "--output", "json",
        ])
        .await;
        assert_eq!(code, 0);
        let rows: serde_json::Value = serde_json::from_str(&log).expect("json");
        assert_eq!(rows.as_array().map(Vec::len), Some(5));
        assert!(
            rows.as_array()
                .into_iter()
                .flatten()
                .all(|r| r["action"] == "created")
        );
        let (code, _, err) = run(&["log", "contoso", "--since", "soon"]).await;
        assert_ne!(code, 0);
        assert!(
            err.contains("'soon' for '--since <WHEN>'") && err.contains("RFC 3339"),
            "{err}"
        );
        let (code, _, err) = run(&["sync", "nope"]).await;
        assert_ne!(code, 0);
        assert!(
            err.contains("no connection \"nope\"") && err.contains("contoso"),
            "{err}"
        );

        let (code, out, err) = run(&["remap", "contoso"]).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.lines().count(),
            1,
            "nothing changed since the sync, so only the header: {out}"
        );
        assert!(err.contains("dry run succeeded"), "{err}");

        let (code, out, _) = run(&["delta", "reset", "contoso", "--clear"]).await;
        assert_eq!(code, 0);
        assert!(out.contains("delta links cleared"), "{out}");
        let (_, out, err) = run(&["sync", "contoso"]).await;
        assert!(
            out.contains("initial round"),
            "after --clear the next run is full: {out}\n{err}"
        );
        db.cleanup().await;
    }
}

#[test]
fn check_lists_attributes_delta_cannot_track_and_where_they_are_used() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let minimal = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid_minimal.toml"),
    )
    .expect("the minimal config");
    let text = format!(
        "[database]\nurl = \"sqlite://{}/x.db\"\n{minimal}\n[[connection.field_mapping]]\ntarget = \"user\"\nentra = \"signInActivity.lastSignInDateTime\"\nhalo = \"last_sign_in\"\n",
        dir.path().display()
    );
    let path = dir.path().join("entra-sync.toml");
    std::fs::write(&path, text).expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .args(["--config", path.to_str().expect("utf-8"), "check"])
        .env("CONTOSO_SECRET", "x")
        .output()
        .expect("the binary runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("signInActivity.lastSignInDateTime (used at field_mapping[0].entra) is not tracked by delta"), "{out}");
}
