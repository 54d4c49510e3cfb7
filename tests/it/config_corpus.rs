//! The invalid-config corpus (`tests/configs/invalid/*.toml`): each file names, in `# expect:`
//! header lines, the key paths and words its error message must contain.

use std::path::{Path, PathBuf};

use entra_sync::config::load::{Environment, load};
use entra_sync::config::{ConfigError, ConfigOverrides};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")
}

fn env() -> Environment {
    [
        ("CONTOSO_SECRET", "contoso-secret-value"),
        ("FABRIKAM_SECRET", "fabrikam-secret-value"),
    ]
    .into_iter()
    .collect()
}

fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_invalid_config_fails_with_its_key_path() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(configs_dir().join("invalid"))
        .expect("the corpus directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a corpus file");
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        match load(file, &env(), &ConfigOverrides::default()) {
            Ok(_) => failures.push(format!("{}: loaded without error", file.display())),
            Err(error) => {
                let message = error.to_string();
                for needle in &expected {
                    if !message.contains(needle.as_str()) {
                        failures.push(format!("{}: {needle:?} not in:\n{message}", file.display()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_file_with_three_problems_reports_all_three_at_once() {
    let file = configs_dir().join("invalid/19_three_problems.toml");
    let Err(ConfigError::Invalid(problems)) = load(&file, &env(), &ConfigOverrides::default())
    else {
        panic!("expected semantic problems");
    };
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn the_minimal_config_is_valid() {
    let settings = load(
        &configs_dir().join("valid_minimal.toml"),
        &env(),
        &ConfigOverrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.connections.len(), 1);
    assert_eq!(settings.connections[0].id.as_str(), "contoso");
    assert_eq!(settings.database.url, "sqlite://entra-sync.db");
}

#[test]
fn the_example_config_documents_a_valid_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let settings =
        load(&path, &env(), &ConfigOverrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = settings.connections.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["contoso", "fabrikam"]);
    let contoso = &settings.connections[0];
    assert_eq!(contoso.name, "Contoso internal");
    assert_eq!(contoso.mapping_spec.site_mapping.len(), 5);
    assert_eq!(
        contoso.mapping_spec.drop_default_fields.user,
        ["firstname", "surname"]
    );
    assert_eq!(contoso.sync.interval, std::time::Duration::from_secs(120));
    assert_eq!(
        settings.connections[1].name, "fabrikam",
        "the name defaults to the id"
    );
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn environment_and_flags_override_the_file_in_that_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let mut vars: Vec<(&str, &str)> = vec![
        ("CONTOSO_SECRET", "x"),
        ("FABRIKAM_SECRET", "y"),
        ("ENTRA_SYNC__DATABASE__URL", "sqlite://from-env.db"),
        ("ENTRA_SYNC__INSTANCE__NAME", "from-env"),
        ("ENTRA_SYNC__CONNECTION__FABRIKAM__SYNC__INTERVAL", "5m"),
    ];
    let env: Environment = vars.drain(..).collect();
    let flags = ConfigOverrides {
        database_url: Some("sqlite://from-flag.db".into()),
        instance: None,
    };
    let settings = load(&path, &env, &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.database.url, "sqlite://from-flag.db");
    assert_eq!(settings.instance.name, "from-env");
    assert_eq!(
        settings.connections[1].sync.interval,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(
        settings.connections[0].sync.interval,
        std::time::Duration::from_secs(120)
    );
}

#[test]
fn a_bad_environment_value_names_the_variable_and_the_key() {
    let path = configs_dir().join("valid_minimal.toml");
    let env: Environment = [
        ("CONTOSO_SECRET", "x"),
        ("ENTRA_SYNC__CONNECTION__CONTOSO__SYNC__INTERVAL", "soon"),
    ]
    .into_iter()
    .collect();
    let message = load(&path, &env, &ConfigOverrides::default())
        .expect_err("invalid")
        .to_string();
    assert!(
        message.contains("connection[contoso].sync.interval"),
        "{message}"
    );
}

#[test]
fn entities_left_unset_are_users_and_agents_plus_the_licences_a_connection_imports() {
    use entra_sync::config::Entity;
    use entra_sync::config::load::load_str;
    let minimal = std::fs::read_to_string(configs_dir().join("valid_minimal.toml"))
        .expect("the minimal config");
    let entities = |text: &str| {
        let settings = load_str(
            text,
            "test.toml",
            &configs_dir(),
            &env(),
            &ConfigOverrides::default(),
        )
        .expect("a valid config");
        settings.connections[0].sync.entities().to_vec()
    };
    assert_eq!(entities(&minimal), [Entity::Users, Entity::Agents]);
    let importing =
        format!("{minimal}\n[connection.licences]\nimport = true\nclient = \"Contoso\"\n");
    assert_eq!(
        entities(&importing),
        [Entity::Users, Entity::Agents, Entity::Licences]
    );
    let listed = importing.replace(
        "[[connection.site_mapping]]",
        "[connection.sync]\nentities = [\"users\"]\n\n[[connection.site_mapping]]",
    );
    assert_eq!(entities(&listed), [Entity::Users]);
}
