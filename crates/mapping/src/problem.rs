//! Config problems, reported all at once with their key path.

use std::fmt;

use serde::Serialize;

/// One thing wrong with the config.
///
/// `path` is the TOML key path relative to the `[[connection]]` table (`site_mapping[2].group`,
/// `sync.matching_fields[1]`) or, for reference data, starting with `halo.`; array indexes are
/// 0-based positions in the file. The daemon prefixes `connection[<id>].`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// Where: the key path.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_displays_as_path_colon_message() {
        let problem = Problem::new("site_mapping[2].group", "group name is empty");
        assert_eq!(
            problem.to_string(),
            "site_mapping[2].group: group name is empty"
        );
    }
}
