//! The configuration tree: one strict, documented, redacted TOML file.
//!
//! - [`model`]: the typed tree as written in the file (`deny_unknown_fields` everywhere).
//! - [`load`]: layering defaults → file → `ENTRA_SYNC__…` environment → CLI overrides.
//! - [`validate`]: every semantic problem at once, with key paths; produces [`Settings`].
//! - [`secret`]: `{ env }` / `{ file }` / inline secrets, resolved once and redacted.
//!
//! Code outside this module only ever sees [`Settings`]: a config that has been validated, whose
//! secrets are resolved and whose mappings are compiled. Loaded with [`Secrets::Deferred`], a
//! connection whose secret cannot be read has [`Credentials::Unresolved`] instead.

pub mod load;
pub mod model;
pub mod secret;
mod trusted_ca;
pub mod validate;

use std::fmt;

pub use load::{ConfigOverrides, load, load_with};
pub use model::*;
pub use secret::Secrets;
pub use trusted_ca::TrustedCa;
pub use validate::{ConnectionSettings, Credentials, Settings};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or its shape does not match (unknown key, wrong type).
    #[error("{path}: {message}")]
    Shape {
        /// Where: the file and, when known, the key path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file parsed but has semantic problems; all of them are listed.
    #[error("{}", Problems(.0))]
    Invalid(Vec<String>),
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}
