//! Layering: built-in defaults → the TOML file → `ENTRA_SYNC__SECTION__KEY` environment
//! variables → CLI flags, then strict deserialisation and validation.
//!
//! The layering is done on the parsed TOML table rather than with the `config` crate: the
//! environment must be able to address one `[[connection]]` by its id
//! (`ENTRA_SYNC__CONNECTION__CONTOSO__SYNC__INTERVAL=5m`), and a shape error must name its key
//! path (`connection[contoso].sync.interval`), neither of which that crate offers.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::ConfigError;
use super::model::ConfigFile;
use super::secret::Secrets;
use super::validate::{Settings, validate};

/// The prefix of environment overrides; path segments are separated by `__`.
pub const ENV_PREFIX: &str = "ENTRA_SYNC__";

/// Values given on the command line, which win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--instance`.
    pub instance: Option<String>,
}

/// A snapshot of environment variables: override values and `{ env = "…" }` secrets are read
/// from it, so tests can pass their own instead of mutating the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// The process environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Reads, layers, deserialises and validates the config file at `path`; every secret must be
/// readable ([`Secrets::Required`]).
pub fn load(
    path: &Path,
    env: &Environment,
    overrides: &ConfigOverrides,
) -> Result<Settings, ConfigError> {
    load_with(path, env, overrides, Secrets::Required)
}

/// As [`load`], with `secrets` saying whether a secret that cannot be read stops the load or
/// only its connection's Graph client.
pub fn load_with(
    path: &Path,
    env: &Environment,
    overrides: &ConfigOverrides,
    secrets: Secrets,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    load_str_with(
        &text,
        &path.display().to_string(),
        base,
        env,
        overrides,
        secrets,
    )
}

/// As [`load`], from text already read; `origin` names it in messages and `base` is the
/// directory relative secret files are resolved against.
pub fn load_str(
    text: &str,
    origin: &str,
    base: &Path,
    env: &Environment,
    overrides: &ConfigOverrides,
) -> Result<Settings, ConfigError> {
    load_str_with(text, origin, base, env, overrides, Secrets::Required)
}

/// As [`load_with`], from text already read (see [`load_str`]).
pub fn load_str_with(
    text: &str,
    origin: &str,
    base: &Path,
    env: &Environment,
    overrides: &ConfigOverrides,
    secrets: Secrets,
) -> Result<Settings, ConfigError> {
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Shape {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
    apply_environment(&mut table, env)?;
    apply_overrides(&mut table, overrides);
    let ids = connection_ids(&table);
    let mut unstorable = Vec::new();
    nul_characters(&table, "", &ids, &mut unstorable);
    let file = deserialize(table, &ids, origin)?;
    let settings = match validate(file, base, env, secrets) {
        Ok(settings) if unstorable.is_empty() => settings,
        Ok(_) => return Err(ConfigError::Invalid(unstorable)),
        Err(problems) => {
            unstorable.extend(problems);
            return Err(ConfigError::Invalid(unstorable));
        }
    };
    for warning in &settings.warnings {
        tracing::warn!(warning = %warning, "The configuration is usable but unwise.");
    }
    Ok(settings)
}

fn apply_environment(table: &mut Table, env: &Environment) -> Result<(), ConfigError> {
    for (name, raw) in &env.0 {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        set_path(table, &segments, raw).map_err(|message| ConfigError::Shape {
            path: format!("environment variable {name}"),
            message,
        })?;
    }
    Ok(())
}

/// Sets `segments` (e.g. `["connection", "contoso", "sync", "interval"]`) to `raw`. A
/// `connection` segment is followed by the id of an existing `[[connection]]`.
fn set_path(table: &mut Table, segments: &[String], raw: &str) -> Result<(), String> {
    let (leaf, parents) = match segments.split_last() {
        Some((leaf, parents)) if !leaf.is_empty() => (leaf, parents),
        _ => return Err("names no key".to_owned()),
    };
    let mut current = table;
    let mut i = 0;
    while i < parents.len() {
        let key = &parents[i];
        if key == "connection" {
            let Some(id) = parents.get(i + 1) else {
                return Err(
                    "`connection` must be followed by a connection id and a key, \
                            e.g. ENTRA_SYNC__CONNECTION__CONTOSO__SYNC__INTERVAL"
                        .to_owned(),
                );
            };
            let connections = current
                .get_mut("connection")
                .and_then(Value::as_array_mut)
                .ok_or_else(|| format!("there is no [[connection]] with id {id:?}"))?;
            current = connections
                .iter_mut()
                .filter_map(Value::as_table_mut)
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id.as_str()))
                .ok_or_else(|| format!("there is no [[connection]] with id {id:?}"))?;
            i += 2;
            continue;
        }
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table, so it has no key `{leaf}`"))?;
        i += 1;
    }
    let value = match current.get(leaf.as_str()) {
        // Where the file already has text, the variable is text too (`name = 123` stays "123").
        Some(Value::String(_)) => Value::String(raw.to_owned()),
        _ => parse_scalar(raw),
    };
    current.insert(leaf.clone(), value);
    Ok(())
}

/// `true`, `42`, `["a", "b"]` and `{ env = "X" }` are TOML values; anything else is a string.
fn parse_scalar(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn apply_overrides(table: &mut Table, overrides: &ConfigOverrides) {
    let mut set = |section: &str, key: &str, value: &Option<String>| {
        if let Some(value) = value {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            if let Some(section) = entry.as_table_mut() {
                section.insert(key.to_owned(), Value::String(value.clone()));
            }
        }
    };
    set("database", "url", &overrides.database_url);
    set("instance", "name", &overrides.instance);
}

/// The `id` of each `[[connection]]`, by position (`None` where it has none a path can show).
fn connection_ids(table: &Table) -> Vec<Option<String>> {
    table
        .get("connection")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    c.get("id")
                        .and_then(Value::as_str)
                        .filter(|id| !id.contains('\0'))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Pushes a problem for every text in `table` (keys included) that holds a NUL character: the
/// database cannot store one, and names, `set` values and labels end up there. Other text
/// (filter values, inline secrets) cannot sensibly hold one either, so the rule has no exceptions.
fn nul_characters(table: &Table, parent: &str, ids: &[Option<String>], found: &mut Vec<String>) {
    for (key, item) in table {
        let path = match parent {
            "" => key.escape_debug().to_string(),
            parent => format!("{parent}.{}", key.escape_debug()),
        };
        if key.contains('\0') {
            found.push(format!(
                "{}: the key {NUL_PROBLEM}",
                connection_path(&path, ids)
            ));
        }
        nul_characters_in(item, path, ids, found);
    }
}

const NUL_PROBLEM: &str = "contains a NUL character, which the database cannot store";

fn nul_characters_in(value: &Value, path: String, ids: &[Option<String>], found: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains('\0') => {
            found.push(format!("{}: {NUL_PROBLEM}", connection_path(&path, ids)));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_characters_in(item, format!("{path}[{index}]"), ids, found);
            }
        }
        Value::Table(table) => nul_characters(table, &path, ids, found),
        _ => {}
    }
}

fn deserialize(
    table: Table,
    ids: &[Option<String>],
    origin: &str,
) -> Result<ConfigFile, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let path = connection_path(&e.path().to_string(), ids);
        ConfigError::Shape {
            path: if path == "." {
                origin.to_owned()
            } else {
                format!("{origin}: {path}")
            },
            // The deserialiser appends its own, index-free location line; the path above is better.
            message: e
                .into_inner()
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    })
}

/// `connection[2].sync` → `connection[contoso].sync`, so messages use the id the admin wrote.
fn connection_path(path: &str, ids: &[Option<String>]) -> String {
    let Some(rest) = path.strip_prefix("connection[") else {
        return path.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return path.to_owned();
    };
    match index
        .parse::<usize>()
        .ok()
        .and_then(|i| ids.get(i))
        .and_then(Option::as_ref)
    {
        Some(id) => format!("connection[{id}]{tail}"),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn environment_addresses_a_connection_by_id() {
        let mut t = table(
            "[[connection]]\nid = \"a\"\n[[connection]]\nid = \"b\"\n[connection.sync]\ndelta = true\n",
        );
        let env: Environment = [
            ("ENTRA_SYNC__CONNECTION__B__SYNC__DELTA", "false"),
            ("ENTRA_SYNC__DATABASE__URL", "postgres://x/y"),
        ]
        .into_iter()
        .collect();
        apply_environment(&mut t, &env).unwrap();
        assert_eq!(t["connection"][1]["sync"]["delta"], Value::Boolean(false));
        assert_eq!(t["database"]["url"], Value::String("postgres://x/y".into()));
        assert!(t["connection"][0].get("sync").is_none());
    }

    #[test]
    fn environment_naming_an_unknown_connection_is_an_error() {
        let mut t = table("[[connection]]\nid = \"a\"\n");
        let env: Environment = [("ENTRA_SYNC__CONNECTION__ZZ__NAME", "x")]
            .into_iter()
            .collect();
        let err = apply_environment(&mut t, &env).unwrap_err().to_string();
        assert!(err.contains("ENTRA_SYNC__CONNECTION__ZZ__NAME"), "{err}");
        assert!(err.contains("no [[connection]] with id \"zz\""), "{err}");
    }

    #[test]
    fn text_stays_text_where_the_file_has_text() {
        let mut t = table("[instance]\nname = \"a\"\n");
        let env: Environment = [("ENTRA_SYNC__INSTANCE__NAME", "123")]
            .into_iter()
            .collect();
        apply_environment(&mut t, &env).unwrap();
        assert_eq!(t["instance"]["name"], Value::String("123".into()));
    }

    #[test]
    fn every_text_holding_a_nul_character_is_named_by_its_path() {
        let t = table(
            "[halo]\nteams = [\"ok\", \"a\\u0000b\"]\n[[connection]]\nid = \"a\"\n\
             [[connection.site_mapping]]\nset = { \"custom.X\\u0000\" = \"v\\u0000\" }\n",
        );
        let mut found = Vec::new();
        nul_characters(&t, "", &connection_ids(&t), &mut found);
        assert_eq!(
            found,
            [
                "connection[a].site_mapping[0].set.custom.X\\0: the key contains a NUL character, which the database cannot store",
                "connection[a].site_mapping[0].set.custom.X\\0: contains a NUL character, which the database cannot store",
                "halo.teams[1]: contains a NUL character, which the database cannot store",
            ]
        );
    }

    #[test]
    fn indexes_become_ids_in_paths() {
        let ids = vec![Some("a".to_owned()), None];
        assert_eq!(
            connection_path("connection[0].sync.interval", &ids),
            "connection[a].sync.interval"
        );
        assert_eq!(
            connection_path("connection[1].auth", &ids),
            "connection[1].auth"
        );
        assert_eq!(connection_path("database.url", &ids), "database.url");
    }
}
