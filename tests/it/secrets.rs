//! A configured secret never shows in Debug/Display output or in a log line emitted while
//! loading the config.

use std::path::Path;

use entra_sync::config::ConfigOverrides;
use entra_sync::config::load::{Environment, load_str};

use crate::support::Captured;

const INLINE: &str = "INLINE-s3cr3t-7f9a";
const FROM_ENV: &str = "ENV-s3cr3t-22c1";

fn config(extra: &str) -> String {
    let minimal = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid_minimal.toml"),
    )
    .expect("the minimal config");
    let with_inline = minimal.replace(
        r#"secret = { env = "CONTOSO_SECRET" }"#,
        &format!("secret = {INLINE:?}"),
    );
    format!(
        "{with_inline}\n[[connection]]\nid = \"second\"\ntenant_id = \"6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0c\"\n\
         client_id = \"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e\"\n\
         auth = {{ method = \"certificate\", certificate = {{ env = \"CERT\" }}, private_key = {{ env = \"KEY\" }} }}\n{extra}"
    )
}

#[test]
fn secrets_never_appear_in_debug_display_or_load_logs() {
    let env: Environment = [("CERT", FROM_ENV), ("KEY", FROM_ENV)]
        .into_iter()
        .collect();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();

    let (ok, bad) = tracing::subscriber::with_default(subscriber, || {
        let ok = load_str(
            &config(""),
            "test.toml",
            Path::new("."),
            &env,
            &ConfigOverrides::default(),
        );
        // The same secrets in a file that also has a problem: the error text must not leak them.
        let bad = load_str(
            &config("[database]\nurl = \"mysql://x\"\n"),
            "test.toml",
            Path::new("."),
            &env,
            &ConfigOverrides::default(),
        );
        (ok, bad)
    });
    let settings = ok.unwrap_or_else(|e| panic!("{e}"));
    let logs = captured.text();
    assert!(
        logs.contains("inline"),
        "the inline secret is warned about: {logs}"
    );

    let error = bad.expect_err("mysql is not a supported database");
    let outputs = [
        format!("{settings:?}"),
        format!("{:#?}", settings.connections),
        error.to_string(),
        format!("{error:?}"),
        logs,
    ];
    for (i, output) in outputs.iter().enumerate() {
        assert!(
            !output.contains(INLINE),
            "output {i} leaks the inline secret:\n{output}"
        );
        assert!(
            !output.contains(FROM_ENV),
            "output {i} leaks the env secret:\n{output}"
        );
    }
}

#[test]
fn a_database_password_is_hidden_in_debug_output() {
    let env: Environment = [("CERT", FROM_ENV), ("KEY", FROM_ENV)]
        .into_iter()
        .collect();
    let text = config("[database]\nurl = \"postgres://sync:pg-pa55word@db.internal/entra\"\n");
    let settings = load_str(
        &text,
        "test.toml",
        Path::new("."),
        &env,
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{settings:?}");
    assert!(!shown.contains("pg-pa55word"), "{shown}");
    assert!(shown.contains("db.internal"), "{shown}");
}
