//! Secrets in the config: `{ env = "NAME" }`, `{ file = "path" }`, or (demos only) inline.
//!
//! A [`SecretSource`] says where a secret lives and is what the file deserialises into; it is
//! resolved once at load time into a [`Secret`], whose value is a [`SecretString`]: redacted in
//! `Debug`, never `Serialize`d, never `Display`ed. [`Secrets`] says whether one that cannot be
//! read stops the load or only its connection's Graph client.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::load::Environment;

/// When the secrets of a configuration must be readable. The composition root picks one per
/// command: the commands that call Graph need them at start, the others not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// A secret that cannot be read (`{ env }` unset, `{ file }` missing) is a configuration
    /// problem with its key path, like any other: the command does not start.
    Required,
    /// A secret that cannot be read is no configuration problem: its connection loads with
    /// [`super::Credentials::Unresolved`], and only building that connection's Graph client fails,
    /// naming the key path. For commands that never call Graph (`runs`, `log`,
    /// `delta reset --clear`).
    Deferred,
}

/// Where a secret comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable (recommended in containers).
    Env(String),
    /// A file whose whole content (trailing newline trimmed) is the secret; relative paths are
    /// resolved against the config file's directory. It must lie in one of [`SecretFiles`]'
    /// directories.
    File(PathBuf),
    /// Written in the config file itself. Accepted for demos, with a warning at load.
    Inline(SecretString),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "{{ env = {name:?} }}"),
            SecretSource::File(path) => write!(f, "{{ file = {:?} }}", path.display()),
            SecretSource::Inline(_) => f.write_str("<inline secret redacted>"),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretSourceVisitor)
    }
}

struct SecretSourceVisitor;

const SECRET_SHAPE: &str =
    r#"a secret: { env = "NAME" }, { file = "path" }, or (demos only) an inline string"#;

impl<'de> Visitor<'de> for SecretSourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_SHAPE)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SecretSource, E> {
        Ok(SecretSource::Inline(SecretString::from(value)))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<SecretSource, E> {
        Ok(SecretSource::Inline(SecretString::from(value)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let mut found: Option<SecretSource> = None;
        while let Some(key) = map.next_key::<String>()? {
            let source = match key.as_str() {
                "env" => SecretSource::Env(map.next_value()?),
                "file" => SecretSource::File(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in a secret; expected {SECRET_SHAPE}"
                    )));
                }
            };
            if found.replace(source).is_some() {
                return Err(de::Error::custom(format!(
                    "a secret takes exactly one of `env` or `file`; expected {SECRET_SHAPE}"
                )));
            }
        }
        found.ok_or_else(|| de::Error::custom(format!("empty table; expected {SECRET_SHAPE}")))
    }
}

/// Where secret files may be read from, so that a `file =` path (or a symbolic link) cannot
/// reach outside them: the config file's directory, `/run/secrets` and `/var/run/secrets` (Docker,
/// Compose and Kubernetes secrets and projected tokens), `/etc/entra-sync`, systemd's `$CREDENTIALS_DIRECTORY` when set, and every directory in
/// `secrets.allowed_dirs`. A path is checked after `..` and symbolic links are resolved.
#[derive(Debug, Clone)]
pub struct SecretFiles {
    base: PathBuf,
    /// The allowed directories that exist, canonical.
    allowed: Vec<PathBuf>,
    /// The allowed directories as configured, for messages.
    named: Vec<PathBuf>,
}

impl SecretFiles {
    /// The directories every configuration may read secrets from, besides its own directory.
    pub const STANDARD_DIRS: [&str; 3] = ["/run/secrets", "/var/run/secrets", "/etc/entra-sync"];

    /// The standard locations for a config file in `base`, plus `extra` (relative paths are
    /// resolved against `base`).
    pub fn new(base: &Path, extra: &[PathBuf], env: &Environment) -> SecretFiles {
        let mut named = vec![base.to_owned()];
        named.extend(Self::STANDARD_DIRS.iter().map(PathBuf::from));
        named.extend(env.get("CREDENTIALS_DIRECTORY").map(PathBuf::from));
        named.extend(extra.iter().map(|dir| base.join(dir)));
        let allowed = named
            .iter()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .collect();
        SecretFiles {
            base: base.to_owned(),
            allowed,
            named,
        }
    }

    /// The config file's directory, which relative paths resolve against.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `path` resolved against the config file's directory, once it is known to lie in an
    /// allowed directory. The error names the path and the directories, never the content.
    pub fn check(&self, path: &Path) -> Result<PathBuf, String> {
        let joined = self.base.join(path);
        let canonical = std::fs::canonicalize(&joined)
            .map_err(|e| format!("cannot read secret file {}: {e}", joined.display()))?;
        if self.allowed.iter().any(|dir| canonical.starts_with(dir)) {
            return Ok(joined);
        }
        let dirs = self
            .named
            .iter()
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let through = if canonical == joined {
            String::new()
        } else {
            format!(" (it resolves to {})", canonical.display())
        };
        Err(format!(
            "secret file {}{through} is outside the directories secrets are read from ({dirs}); \
             move it into one of them or add its directory to secrets.allowed_dirs",
            joined.display()
        ))
    }
}

/// A resolved secret: its value plus where it came from (for messages).
#[derive(Clone)]
pub struct Secret {
    source: SecretSource,
    value: SecretString,
}

impl Secret {
    /// Reads the secret from its source; a file must lie where `files` allows. Errors name the
    /// variable or file but never contain the value.
    pub fn resolve(
        source: &SecretSource,
        files: &SecretFiles,
        env: &Environment,
    ) -> Result<Secret, String> {
        let value = match source {
            SecretSource::Env(name) => match env.get(name) {
                Some("") => return Err(format!("environment variable {name} is empty")),
                Some(value) => SecretString::from(value),
                None => return Err(format!("environment variable {name} is not set")),
            },
            SecretSource::File(path) => {
                let path = files.check(path)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
                let text = text.trim_end_matches(['\r', '\n']);
                if text.is_empty() {
                    return Err(format!("secret file {} is empty", path.display()));
                }
                SecretString::from(text)
            }
            SecretSource::Inline(value) => {
                if value.expose_secret().is_empty() {
                    return Err("the inline secret is empty".to_owned());
                }
                value.clone()
            }
        };
        Ok(Secret {
            source: source.clone(),
            value,
        })
    }

    /// The secret's value, for the one place that sends it (the token request).
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// Whether it was written inline in the config file.
    pub fn is_inline(&self) -> bool {
        matches!(self.source, SecretSource::Inline(_))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?}, value redacted)", self.source)
    }
}

/// The key that seals delegated refresh tokens (`daemon.token_encryption_key`): 32 bytes, written
/// base64-encoded. Parsed once at load; `Debug` never shows it.
pub struct TokenKey(SecretBox<[u8; TokenKey::LEN]>);

impl TokenKey {
    /// The key's length in bytes (AES-256).
    pub const LEN: usize = 32;

    /// Decodes a base64-encoded key. Errors say what is wrong without the key.
    pub fn parse(base64: &str) -> Result<TokenKey, String> {
        let mut bytes = STANDARD
            .decode(base64.trim())
            .map_err(|_| "the token encryption key is not base64".to_owned())?;
        let key = (bytes.len() == TokenKey::LEN).then(|| {
            SecretBox::init_with_mut(|key: &mut [u8; TokenKey::LEN]| key.copy_from_slice(&bytes))
        });
        let len = bytes.len();
        bytes.zeroize();
        key.map(TokenKey).ok_or_else(|| {
            format!(
                "the token encryption key must be {} bytes, not {len}",
                TokenKey::LEN
            )
        })
    }

    /// The key's bytes, for the one place that seals and opens with it.
    pub fn expose(&self) -> &[u8; TokenKey::LEN] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        secret: SecretSource,
    }

    fn parse(text: &str) -> Result<SecretSource, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.secret)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn inline_secrets_are_redacted_in_debug_and_display() {
        let source = parse(r#"secret = "s3cr3t-value""#).unwrap();
        let shown = format!("{source:?} {source}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        let files = SecretFiles::new(Path::new("."), &[], &Environment::default());
        let secret = Secret::resolve(&source, &files, &Environment::default()).unwrap();
        assert!(!format!("{secret:?}").contains("s3cr3t-value"));
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert!(secret.is_inline());
    }

    #[test]
    fn env_and_file_sources_parse_and_resolve() {
        assert!(matches!(parse(r#"secret = { env = "X" }"#), Ok(SecretSource::Env(n)) if n == "X"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.txt"), "from-file\n").unwrap();
        let source = parse(r#"secret = { file = "s.txt" }"#).unwrap();
        let files = SecretFiles::new(dir.path(), &[], &Environment::default());
        let secret = Secret::resolve(&source, &files, &Environment::default()).unwrap();
        assert_eq!(secret.expose(), "from-file");
    }

    #[test]
    fn a_secret_file_outside_the_allowed_directories_is_refused_however_it_is_reached() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "outside-content").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), config.join("link.txt")).unwrap();
        let none = Environment::default();
        let read = |files: &SecretFiles, path: &str| {
            Secret::resolve(&SecretSource::File(path.into()), files, &none)
                .map(|secret| secret.expose().to_owned())
        };

        let standard = SecretFiles::new(&config, &[], &none);
        let resolved = format!(" (it resolves to {})", outside.join("secret.txt").display());
        let cases = [
            ("../outside/secret.txt", resolved.clone()),
            ("link.txt", resolved),
            ("/etc/passwd", String::new()),
        ];
        for (path, through) in cases {
            let err = read(&standard, path).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "secret file {}{through} is outside the directories secrets are read from \
                     ({}, /run/secrets, /var/run/secrets, /etc/entra-sync); move it into one of them or add its \
                     directory to secrets.allowed_dirs",
                    config.join(path).display(),
                    config.display()
                ),
                "{path}"
            );
            assert!(!err.contains("outside-content") && !err.contains("root:"));
        }

        // Allowed by `secrets.allowed_dirs` (relative to the config) or by systemd's directory.
        let extra = SecretFiles::new(&config, &["../outside".into()], &none);
        assert_eq!(
            read(&extra, "../outside/secret.txt").unwrap(),
            "outside-content"
        );
        assert_eq!(read(&extra, "link.txt").unwrap(), "outside-content");
        let systemd: Environment = [("CREDENTIALS_DIRECTORY", outside.to_str().unwrap())]
            .into_iter()
            .collect();
        let credentials = SecretFiles::new(&config, &[], &systemd);
        assert_eq!(read(&credentials, "link.txt").unwrap(), "outside-content");
        assert!(read(&credentials, "/etc/passwd").is_err());
    }

    #[test]
    fn a_secret_table_with_both_or_neither_key_is_rejected() {
        let both = parse(r#"secret = { env = "X", file = "y" }"#).unwrap_err();
        assert!(both.contains("exactly one of `env` or `file`"), "{both}");
        let other = parse(r#"secret = { vault = "x" }"#).unwrap_err();
        assert!(other.contains("unknown key `vault`"), "{other}");
    }

    #[test]
    fn a_missing_file_is_named_without_leaking_anything() {
        let files = SecretFiles::new(Path::new("/tmp/x"), &[], &Environment::default());
        let err = Secret::resolve(
            &SecretSource::File("nope.key".into()),
            &files,
            &Environment::default(),
        )
        .unwrap_err();
        assert!(err.contains("/tmp/x/nope.key"), "{err}");
    }

    #[test]
    fn token_keys_must_be_32_base64_bytes() {
        assert_eq!(
            TokenKey::parse("not base64!").unwrap_err(),
            "the token encryption key is not base64"
        );
        assert_eq!(
            TokenKey::parse(&STANDARD.encode([1u8; 16])).unwrap_err(),
            "the token encryption key must be 32 bytes, not 16"
        );
        let key = TokenKey::parse(&format!("{}\n", STANDARD.encode([7u8; 32]))).unwrap();
        assert_eq!(key.expose(), &[7u8; 32]);
        assert_eq!(format!("{key:?}"), "TokenKey(redacted)");
    }
}
