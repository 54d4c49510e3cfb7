//! Commands that never call Graph work without the connections' secrets; the others still refuse
//! to start, naming the missing variable and its key path.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use entra_sync::clock::SystemClock;
use entra_sync::config::load::{Environment, load_str_with};
use entra_sync::config::{ConfigError, ConfigOverrides, Credentials, Secrets};
use entra_sync::graph::{self, RetryPolicy};

use crate::emulator::memory_store;
use crate::support::backends;

const MISSING: &str =
    "connection[contoso].auth.secret: environment variable CONTOSO_SECRET is not set";

fn minimal() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid_minimal.toml"),
    )
    .expect("the minimal config")
}

/// Runs the binary with `CONTOSO_SECRET` unset.
fn without_secret(config: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_entra-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("CONTOSO_SECRET")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_log_and_delta_clear_work_without_the_secret_and_sync_does_not_start() {
    for db in backends().await {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("entra-sync.toml");
        let text = format!("[database]\nurl = \"{}\"\n{}", db.url, minimal());
        std::fs::write(&config, text).expect("config");
        let config = config.as_path();

        let (code, out, err) = without_secret(config, &["runs"]);
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(
            out.lines().count(),
            1,
            "only the header: no runs yet\n{out}"
        );

        let (code, out, err) = without_secret(config, &["log", "contoso", "--output", "json"]);
        assert_eq!(code, 0, "{out}\n{err}");
        let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(rows, serde_json::json!([]));

        let (code, out, err) = without_secret(config, &["delta", "reset", "contoso", "--clear"]);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("contoso: 0 delta links cleared"), "{out}");

        // keep-active reaches the store: it names the person it cannot find, not the secret.
        let (code, out, err) = without_secret(
            config,
            &["keep-active", "contoso", "nobody@contoso.example"],
        );
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(
            err.contains("nobody@contoso.example") && !err.contains(MISSING),
            "{err}"
        );

        for args in [
            &["sync", "contoso"][..],
            &["import", "contoso"],
            &["remap", "contoso"],
            &["check"],
            &["delta", "reset", "contoso", "--latest"],
        ] {
            let (code, out, err) = without_secret(config, args);
            assert_eq!(code, 2, "{args:?} is a config error\n{out}\n{err}");
            assert!(err.contains(MISSING), "{args:?}: {err}");
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_deferred_secret_fails_only_the_graph_client_of_its_connection() {
    let load = |secrets| {
        load_str_with(
            &minimal(),
            "test.toml",
            Path::new("."),
            &Environment::default(),
            &ConfigOverrides::default(),
            secrets,
        )
    };
    let refused = load(Secrets::Required).expect_err("the secret is required");
    assert!(refused.to_string().contains(MISSING), "{refused}");

    let settings = load(Secrets::Deferred).unwrap_or_else(|e| panic!("{e}"));
    let connection = &settings.connections[0];
    assert!(
        matches!(&connection.credentials, Credentials::Unresolved(problem) if problem == MISSING),
        "{:?}",
        connection.credentials
    );
    let error = entra_sync::app::graph_client(
        &settings,
        connection,
        memory_store().await,
        Arc::new(SystemClock),
        graph::http_client(None, None).expect("an HTTP client"),
        RetryPolicy::default(),
    )
    .expect_err("no client without the secret");
    assert_eq!(
        error.to_string(),
        format!("the credential is unusable: {MISSING}")
    );
}

#[test]
fn deferred_credentials_name_every_secret_their_connection_cannot_read() {
    let text = format!(
        "{}\n[admin]\npublic_url = \"https://sync.example.com\"\n\
         [daemon]\ntoken_encryption_key = {{ env = \"TOKEN_KEY\" }}\n{}",
        minimal(),
        [
            ("cert", r#"{ method = "certificate", certificate = { env = "CERT" }, private_key = { file = "absent.key" } }"#),
            ("delegated", r#"{ method = "delegated" }"#),
            ("federated", r#"{ method = "federated", token_file = "absent.jwt" }"#),
        ]
        .iter()
        .map(|(id, auth)| {
            format!(
                "[[connection]]\nid = \"{id}\"\ntenant_id = \"6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b\"\n\
                 client_id = \"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"\nauth = {auth}\n"
            )
        })
        .collect::<String>()
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let load = |secrets| {
        load_str_with(
            &text,
            "test.toml",
            dir.path(),
            &Environment::default(),
            &ConfigOverrides::default(),
            secrets,
        )
    };
    let settings = load(Secrets::Deferred).unwrap_or_else(|e| panic!("{e}"));
    let unresolved: Vec<(&str, &str)> = settings
        .connections
        .iter()
        .map(|c| match &c.credentials {
            Credentials::Unresolved(problems) => (c.id.as_str(), problems.as_str()),
            other => panic!("{} has {other:?}", c.id),
        })
        .collect();
    let dir = dir.path().display();
    assert_eq!(
        unresolved,
        [
            ("contoso", MISSING),
            (
                "cert",
                &*format!(
                    "connection[cert].auth.certificate: environment variable CERT is not set; \
                     connection[cert].auth.private_key: cannot read secret file {dir}/absent.key: \
                     No such file or directory (os error 2)"
                )
            ),
            (
                "delegated",
                "daemon.token_encryption_key: environment variable TOKEN_KEY is not set \
                 (needed by connection[delegated].auth, method \"delegated\")"
            ),
            (
                "federated",
                &*format!(
                    "connection[federated].auth.token_file: cannot read secret file {dir}/absent.jwt: \
                     No such file or directory (os error 2)"
                )
            ),
        ]
    );
    assert!(settings.token_encryption_key.is_none());

    let Err(ConfigError::Invalid(problems)) = load(Secrets::Required) else {
        panic!("every secret is required");
    };
    assert_eq!(
        problems,
        [
            MISSING.to_owned(),
            "connection[cert].auth.certificate: environment variable CERT is not set".to_owned(),
            format!(
                "connection[cert].auth.private_key: cannot read secret file {dir}/absent.key: \
                 No such file or directory (os error 2)"
            ),
            format!(
                "connection[federated].auth.token_file: cannot read secret file {dir}/absent.jwt: \
                     No such file or directory (os error 2)"
            ),
            "daemon.token_encryption_key: environment variable TOKEN_KEY is not set".to_owned(),
        ]
    );
}

/// The webhook's secret is a secret like the others: from the environment or a file (inline
/// only with a warning); one that cannot be read stops the daemon from starting, and not the
/// commands that send no webhook.
#[test]
fn the_webhook_secret_comes_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("hook.secret"), "from-a-file\n").unwrap();
    let load = |source: &str, env: &[(&str, &str)], secrets| {
        let env: Environment = env
            .iter()
            .copied()
            .chain([("CONTOSO_SECRET", "s")])
            .collect();
        load_str_with(
            &format!(
                "{}\n[notifications]\nwebhook_url = \"http://127.0.0.1:9/hook\"\nwebhook_secret = {source}\n",
                minimal()
            ),
            "test.toml",
            dir.path(),
            &env,
            &ConfigOverrides::default(),
            secrets,
        )
    };
    let shown = |settings: entra_sync::config::Settings| {
        use secrecy::ExposeSecret;
        settings
            .webhook_secret
            .map(|s| s.expose_secret().to_owned())
    };
    let from_env = load(
        r#"{ env = "HOOK_SECRET" }"#,
        &[("HOOK_SECRET", "from-the-env")],
        Secrets::Required,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown(from_env).as_deref(), Some("from-the-env"));
    let from_file = load(r#"{ file = "hook.secret" }"#, &[], Secrets::Required)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown(from_file).as_deref(), Some("from-a-file"));

    let Err(ConfigError::Invalid(problems)) =
        load(r#"{ env = "HOOK_SECRET" }"#, &[], Secrets::Required)
    else {
        panic!("an unreadable webhook secret is refused");
    };
    assert_eq!(
        problems,
        ["notifications.webhook_secret: environment variable HOOK_SECRET is not set"]
    );
    let deferred = load(r#"{ env = "HOOK_SECRET" }"#, &[], Secrets::Deferred)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown(deferred), None);
}

/// A secret file outside the directories secrets are read from is refused at load with its key
/// path, whether it is reached by `..`, an absolute path or a symbolic link; naming its
/// directory in `[secrets] allowed_dirs` admits it.
#[test]
fn secret_files_outside_the_allowed_directories_are_refused_with_their_key_path() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (config, outside) = (root.path().join("config"), root.path().join("outside"));
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("contoso.secret"), "the-outside-secret\n").unwrap();
    std::fs::write(outside.join("hook.secret"), "the-outside-hook\n").unwrap();
    std::os::unix::fs::symlink(outside.join("hook.secret"), config.join("hook.secret")).unwrap();
    let load = |secret: &str, extra: &str| {
        let text = minimal().replace(r#"secret = { env = "CONTOSO_SECRET" }"#, secret);
        load_str_with(
            &format!(
                "{text}\n[notifications]\nwebhook_url = \"http://127.0.0.1:9/hook\"\n\
                 webhook_secret = {{ file = \"hook.secret\" }}\n{extra}"
            ),
            "test.toml",
            &config,
            &Environment::default(),
            &ConfigOverrides::default(),
            Secrets::Required,
        )
    };
    let allowed = format!(
        "({}, /run/secrets, /var/run/secrets, /etc/entra-sync)",
        config.display()
    );
    let outside_of = |path: &str, through: &str| {
        format!(
            "secret file {}{through} is outside the directories secrets are read from \
             {allowed}; move it into one of them or add its directory to secrets.allowed_dirs",
            config.join(path).display()
        )
    };
    let hook = outside_of(
        "hook.secret",
        &format!(
            " (it resolves to {})",
            outside.join("hook.secret").display()
        ),
    );
    let resolved = format!(
        " (it resolves to {})",
        outside.join("contoso.secret").display()
    );
    for (path, through) in [
        ("../outside/contoso.secret", &*resolved),
        ("/etc/passwd", ""),
    ] {
        let Err(ConfigError::Invalid(problems)) =
            load(&format!(r#"secret = {{ file = "{path}" }}"#), "")
        else {
            panic!("{path} is outside");
        };
        assert_eq!(
            problems,
            [
                format!(
                    "connection[contoso].auth.secret: {}",
                    outside_of(path, through)
                ),
                format!("notifications.webhook_secret: {hook}"),
            ],
            "{path}"
        );
        let shown = problems.join("\n");
        assert!(!shown.contains("the-outside") && !shown.contains("root:"));
    }

    let settings = load(
        r#"secret = { file = "../outside/contoso.secret" }"#,
        "[secrets]\nallowed_dirs = [\"../outside\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let Credentials::ClientSecret(secret) = &settings.connections[0].credentials else {
        panic!("a client secret");
    };
    assert_eq!(secret.expose(), "the-outside-secret");
    use secrecy::ExposeSecret;
    assert_eq!(
        settings.webhook_secret.as_ref().map(|s| s.expose_secret()),
        Some("the-outside-hook")
    );
}
