//! The documented properties of Graph v1.0 `user` and `group`, kept as data
//! (`properties/user.txt`, `properties/group.txt`, written from resources/user.md and
//! resources/group.md). `$select` accepts every one of them: the modelled ones are answered
//! from the directory, the rest as `null` or `[]`, as Graph answers a property without a value.

use std::sync::LazyLock;

use serde_json::Value;

/// A documented property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documented {
    /// Its name, cased as Graph returns it.
    pub name: &'static str,
    /// A collection (`[]` without a value) rather than a single value (`null`).
    pub collection: bool,
}

impl Documented {
    /// The value Graph shows for the property when the object has none.
    pub fn empty(&self) -> Value {
        if self.collection {
            Value::Array(Vec::new())
        } else {
            Value::Null
        }
    }
}

fn parse(text: &'static str) -> Vec<Documented> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.strip_suffix("[]") {
            Some(name) => Documented {
                name,
                collection: true,
            },
            None => Documented {
                name: line,
                collection: false,
            },
        })
        .collect()
}

static USER: LazyLock<Vec<Documented>> =
    LazyLock::new(|| parse(include_str!("properties/user.txt")));
static GROUP: LazyLock<Vec<Documented>> =
    LazyLock::new(|| parse(include_str!("properties/group.txt")));

/// Every documented `user` property.
pub fn user() -> &'static [Documented] {
    &USER
}

/// Every documented `group` property.
pub fn group() -> &'static [Documented] {
    &GROUP
}

/// The documented property of that name (case-insensitive, as `$select` is).
pub fn find(catalogue: &'static [Documented], name: &str) -> Option<&'static Documented> {
    catalogue.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{GroupProp, UserProp};

    #[test]
    fn every_modelled_property_is_documented() {
        for prop in UserProp::ALL
            .into_iter()
            .filter(|p| *p != UserProp::Manager)
        {
            assert!(find(user(), prop.name()).is_some(), "{}", prop.name());
        }
        for prop in GroupProp::ALL
            .into_iter()
            .filter(|p| *p != GroupProp::Members)
        {
            assert!(find(group(), prop.name()).is_some(), "{}", prop.name());
        }
    }

    #[test]
    fn lists_read_names_once_and_mark_collections() {
        assert_eq!(
            find(user(), "PROXYADDRESSES"),
            Some(&Documented {
                name: "proxyAddresses",
                collection: true
            })
        );
        assert_eq!(
            find(user(), "externalUserState").map(|p| p.collection),
            Some(false)
        );
        assert_eq!(find(group(), "noSuchThing"), None);
        let mut names: Vec<&str> = user().iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), user().len());
    }
}
