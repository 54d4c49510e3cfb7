//! The binary at its edges: unknown values, bounds, instances and `keep-active`, each with its
//! exit code and message, on every backend.

use entra_sync::ids::EntraId;
use graph_emulator::{EmulatorConfig, Running};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::entra_sync;
use crate::config_fixture::ConfigFixture;
use crate::emulator::start;
use crate::support::{TestDb, backends, cid};
use crate::sync_runs::set_flag;

/// The binary with a config file for one emulator and one database.
struct Binary {
    _dir: tempfile::TempDir,
    config: String,
}

impl Binary {
    fn new(running: &Running, db: &TestDb) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("entra-sync.toml");
        std::fs::write(&config, ConfigFixture::contoso(running, &db.url).render()).expect("config");
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

    /// The inbound-log rows about `upn`, newest first.
    async fn log_of(&self, upn: &str) -> Vec<Value> {
        let out = self
            .ok(&["log", "contoso", "--user", upn, "--output", "json"])
            .await;
        serde_json::from_str::<Vec<Value>>(&out).expect("json rows")
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

        for args in [
            &["log", "nope"][..],
            &["runs", "nope"],
            &["keep-active", "nope", "a@b"],
        ] {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_active_sets_and_clears_the_flag_with_an_inbound_log_row() {
    let running = start(emulator(80)).await;
    for db in backends().await {
        let bin = Binary::new(&running, &db);
        bin.ok(&["sync", "contoso", "--full"]).await;
        let store = db.open().await;
        let people = store.people(&cid("contoso")).await.expect("people");
        let (entra_id, agent) = people
            .agents
            .iter()
            .filter(|(_, a)| !a.inactive)
            .min_by_key(|(id, _)| id.as_str())
            .expect("an active agent");
        let user = &people.users[entra_id];
        let upn = user.fields.login.clone().expect("a login");
        let before = bin.log_of(&upn).await.len();

        // Case-insensitive; both the user and the agent record get the flag.
        let out = bin
            .ok(&["keep-active", "contoso", &upn.to_uppercase()])
            .await;
        assert_eq!(
            out,
            format!(
                "{}: keep-active on for user {} and agent {} (logged); the sync will neither \
                 deactivate nor reactivate them.\n",
                upn.to_uppercase(),
                user.id,
                agent.id
            )
        );
        assert!(store.user(user.id).await.expect("user").keep_active);
        assert!(store.agent(agent.id).await.expect("agent").keep_active);
        let rows = bin.log_of(&upn).await;
        assert_eq!(rows.len(), before + 1);
        let row = &rows[0];
        assert_eq!(
            (
                &row["source"],
                &row["action"],
                &row["target"],
                &row["notification"]
            ),
            (
                &json!("cli"),
                &json!("updated"),
                &json!("user"),
                &json!("updated")
            )
        );
        assert_eq!(row["entra_id"], json!(entra_id));
        assert_eq!(row["run_id"], Value::Null);
        assert_eq!(row["message"], "keep-active set by the command line");
        assert_eq!(
            row["changes"],
            json!([
                {"record": "user", "field": "keep_active", "before": false, "after": true},
                {"record": "agent", "field": "keep_active", "before": false, "after": true},
            ])
        );
        let table = bin
            .ok(&["log", "contoso", "--user", &upn, "--limit", "1"])
            .await;
        assert!(
            table.contains("user.keep_active: false → true; agent.keep_active: false → true"),
            "{table}"
        );

        // Already set: nothing changes and nothing is logged.
        let out = bin.ok(&["keep-active", "contoso", &upn]).await;
        assert_eq!(
            out,
            format!("{upn}: keep-active is already on; nothing changed.\n")
        );
        assert_eq!(bin.log_of(&upn).await.len(), before + 1);

        // Nobody with that login.
        let (code, out, err) = bin
            .run(&["keep-active", "contoso", "nobody@contoso.example"])
            .await;
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            err.ends_with(
                "error: not found: connection \"contoso\" has no user record with the login or \
                 UPN \"nobody@contoso.example\"\n"
            ),
            "{err}"
        );

        // Two records with one login: the command names them and changes neither.
        let mut twins: Vec<(&EntraId, i64)> = people
            .users
            .iter()
            .filter(|(id, _)| *id != entra_id)
            .map(|(id, u)| (id, u.id))
            .collect();
        twins.sort();
        for (twin, _) in &twins[..2] {
            set_flag(
                &db.url,
                "UPDATE users SET login = 'twin@contoso.example' WHERE entra_id = $1",
                twin.as_str(),
            )
            .await;
        }
        let (code, out, err) = bin
            .run(&["keep-active", "contoso", "Twin@Contoso.example"])
            .await;
        assert_eq!(code, 1, "{out}\n{err}");
        let mut ids = [twins[0].1, twins[1].1];
        ids.sort();
        assert!(
            err.contains(&format!(
                "2 user records of connection \"contoso\" have the login or UPN \
                 \"Twin@Contoso.example\" (ids {}, {})",
                ids[0], ids[1]
            )),
            "{err}"
        );
        for (_, id) in &twins[..2] {
            assert!(!store.user(*id).await.expect("user").keep_active);
        }

        // --off clears both flags and logs the reverse change.
        let out = bin.ok(&["keep-active", "contoso", &upn, "--off"]).await;
        assert!(out.contains("keep-active off for user"), "{out}");
        assert!(!store.user(user.id).await.expect("user").keep_active);
        assert!(!store.agent(agent.id).await.expect("agent").keep_active);
        let rows = bin.log_of(&upn).await;
        assert_eq!(rows.len(), before + 2);
        assert_eq!(
            rows[0]["message"],
            "keep-active cleared by the command line"
        );
        assert_eq!(
            rows[0]["changes"],
            json!([
                {"record": "user", "field": "keep_active", "before": true, "after": false},
                {"record": "agent", "field": "keep_active", "before": true, "after": false},
            ])
        );
        drop(store);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_leaves_a_keep_active_person_active_when_entra_disables_them() {
    for db in backends().await {
        let running = start(emulator(80)).await;
        let tenant = running.demo_app(0).expect("a demo app").tenant_id;
        let bin = Binary::new(&running, &db);
        bin.ok(&["sync", "contoso", "--full"]).await;
        let store = db.open().await;
        let people = store.people(&cid("contoso")).await.expect("people");
        let mut plain: Vec<&EntraId> = people
            .users
            .iter()
            .filter(|(id, u)| !people.agents.contains_key(*id) && !u.inactive)
            .map(|(id, _)| id)
            .collect();
        plain.sort();
        let (kept, other) = (plain[0], plain[1]);
        let agent = people
            .agents
            .iter()
            .filter(|(_, a)| !a.inactive)
            .map(|(id, _)| id)
            .min()
            .expect("an active agent");
        for who in [kept, agent] {
            let upn = people.users[who].fields.login.clone().expect("a login");
            bin.ok(&["keep-active", "contoso", &upn]).await;
        }
        for who in [kept, other, agent] {
            running
                .control
                .update_user(
                    tenant,
                    Uuid::parse_str(who.as_str()).expect("a uuid"),
                    json!({"accountEnabled": false}),
                )
                .expect("disable");
        }

        let out = bin.ok(&["sync", "contoso"]).await;
        assert!(out.contains("delta round"), "{out}");
        let after = store.people(&cid("contoso")).await.expect("people");
        assert!(
            after.users[other].inactive,
            "the run deactivates a disabled person: {out}"
        );
        assert!(!after.users[kept].inactive, "keep-active user: {out}");
        assert!(
            !after.users[agent].inactive,
            "keep-active agent's user: {out}"
        );
        assert!(!after.agents[agent].inactive, "keep-active agent: {out}");
        drop(store);
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_listed_by_prefix_and_access_is_granted_by_email() {
    let running = start(emulator(10)).await;
    for db in backends().await {
        let bin = Binary::new(&running, &db);
        bin.ok(&["check"]).await;
        let store = db.open().await;
        crate::api::agent(store.as_ref(), "ops@contoso.com").await;

        let (code, key, err) = bin
            .run(&[
                "keys",
                "create",
                "--agent",
                "OPS@contoso.com",
                "--expires",
                "90d",
            ])
            .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(key.lines().count(), 1, "the key alone: {key}");
        let key = key.trim();
        assert!(key.starts_with("esk_") && key.len() == 47, "{key}");
        assert!(err.contains("shown only now"), "{err}");
        let list = bin.ok(&["keys", "list"]).await;
        assert!(
            list.contains(&key[..12]) && list.contains("ops@contoso.com"),
            "{list}"
        );
        assert!(
            !list.contains(key),
            "the listing never shows the key: {list}"
        );
        let admin = bin.ok(&["keys", "create", "--admin"]).await;
        assert_ne!(admin.trim(), key);

        let (code, _, err) = bin.run(&["keys", "create"]).await;
        assert_eq!(code, 2, "neither an agent nor --admin: {err}");
        let (code, _, err) = bin
            .run(&["keys", "create", "--agent", "nobody@contoso.com"])
            .await;
        assert_eq!(code, 1);
        assert!(
            err.contains("an agent with email \"nobody@contoso.com\""),
            "{err}"
        );

        bin.ok(&[
            "access",
            "grant",
            "contoso",
            "--agent",
            "ops@contoso.com",
            "--level",
            "read",
        ])
        .await;
        let access = bin.ok(&["access", "list", "contoso"]).await;
        assert!(
            access
                .lines()
                .any(|l| l.starts_with("ops@contoso.com") && l.trim_end().ends_with("read")),
            "{access}"
        );
        let (code, _, err) = bin
            .run(&[
                "access",
                "grant",
                "contoso",
                "--agent",
                "ops@contoso.com",
                "--level",
                "owner",
            ])
            .await;
        assert_eq!(code, 2, "{err}");
        bin.ok(&["access", "revoke", "contoso", "--agent", "ops@contoso.com"])
            .await;
        let access = bin.ok(&["access", "list", "contoso"]).await;
        assert!(!access.contains("ops@contoso.com"), "{access}");
        bin.ok(&["agents", "can-configure", "ops@contoso.com"])
            .await;

        let id = list
            .lines()
            .find(|l| l.contains(&key[..12]))
            .and_then(|l| l.split_whitespace().next())
            .expect("the key's row")
            .to_owned();
        bin.ok(&["keys", "revoke", &id]).await;
        let list = bin.ok(&["keys", "list"]).await;
        assert!(
            list.lines()
                .any(|l| l.contains(&key[..12]) && l.trim_end().ends_with("revoked")),
            "{list}"
        );
        let (code, _, err) = bin.run(&["keys", "revoke", &id]).await;
        assert_eq!(code, 1, "revoked already: {err}");
        db.cleanup().await;
    }
}
