//! Identifier newtypes. Each is parsed once at the boundary and trusted afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A connection's stable key (`[[connection]].id`): lowercase ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit. Used in logs, the API and every integration table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    /// Parses a connection id, explaining what is wrong with a bad one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let Some(first) = chars.next() else {
            return Err("a connection id must not be empty".to_owned());
        };
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) || !raw.chars().all(allowed) {
            return Err(format!(
                "connection id {raw:?} must be lowercase ASCII letters, digits, '-' or '_', \
                 starting with a letter or digit (it is a key in URLs, logs and the database)"
            ));
        }
        if raw.len() > 64 {
            return Err(format!(
                "connection id {raw:?} is longer than 64 characters"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ConnectionId {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A directory tenant or application id: a GUID, kept in its canonical lowercase form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Guid(uuid::Uuid);

impl Guid {
    /// Parses the hyphenated 8-4-4-4-12 form Entra shows in the portal.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() != 36 {
            return Err(format!(
                "{raw:?} is not a GUID (expected the 36-character form \
                 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx shown in the Entra portal)"
            ));
        }
        uuid::Uuid::parse_str(raw).map(Self).map_err(|_| {
            format!("{raw:?} is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        })
    }
}

impl TryFrom<String> for Guid {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Guid> for String {
    fn from(id: Guid) -> Self {
        id.to_string()
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// An Entra directory object id (users, groups), as Graph returns it. Built from an owned
/// `String` without a copy; a map keyed by it is looked up with a `&str` or `&String`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntraId(pub String);

impl EntraId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for EntraId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for EntraId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<EntraId> for String {
    fn from(id: EntraId) -> Self {
        id.0
    }
}

impl AsRef<str> for EntraId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for EntraId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<String> for EntraId {
    fn borrow(&self) -> &String {
        &self.0
    }
}

impl fmt::Display for EntraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sync run (`sync_runs.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_lowercase_keys() {
        assert_eq!(
            ConnectionId::parse("contoso-uk_2").map(|c| c.to_string()),
            Ok("contoso-uk_2".to_owned())
        );
        assert!(ConnectionId::parse("Contoso").is_err());
        assert!(ConnectionId::parse("").is_err());
        assert!(ConnectionId::parse("-lead").is_err());
        assert!(ConnectionId::parse("has space").is_err());
    }

    #[test]
    fn guids_must_be_the_hyphenated_form() {
        let g = Guid::parse("0D0C9F3A-1B2C-4D5E-8F90-A1B2C3D4E5F6").map(|g| g.to_string());
        assert_eq!(g, Ok("0d0c9f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6".to_owned()));
        assert!(Guid::parse("contoso.onmicrosoft.com").is_err());
        assert!(Guid::parse("0d0c9f3a1b2c4d5e8f90a1b2c3d4e5f6").is_err());
    }
}
