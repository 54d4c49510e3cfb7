//! The words the sync and the store share: what a run is and how it ended, and what the inbound
//! log says happened to a person. Each is an enum with the text its database column holds
//! (`as_str`, which is also how it prints and serialises) and a parser for reading rows back
//! (`FromStr`), so no caller compares strings. This module names no other module of the crate:
//! the store, the sync, the service layer and the output all use it, and it uses none of them.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A column value that no variant of the enum names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}")]
pub struct UnknownValue {
    /// What the value was read as (`run kind`, `log action`, …).
    pub what: &'static str,
    /// The text that named nothing.
    pub value: String,
}

/// Declares an enum whose variants each name one column value, with `ALL`, `as_str`, `FromStr`,
/// `Display` and `Serialize` (as the column value) derived from the one list.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The column value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            /// Parses the column value.
            fn from_str(raw: &str) -> Result<Self, UnknownValue> {
                match raw {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownValue { what: $what, value: raw.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What happened to a person, as the inbound log's `action` column names it (the column's
    /// CHECK allows exactly these).
    pub enum Action ("log action") {
        /// A record was created.
        Created => "created",
        /// Fields or memberships changed.
        Updated => "updated",
        /// Nothing changed.
        Unchanged => "unchanged",
        /// The record became inactive.
        Deactivated => "deactivated",
        /// The record became active again.
        Reactivated => "reactivated",
        /// Out of scope, nothing to do.
        OutOfScope => "out-of-scope",
        /// Matching found more than one candidate.
        Conflict => "conflict",
        /// A deactivation held back by `max_deactivations`.
        Quarantined => "quarantined",
        /// The person (or the run, on a warning row) could not be processed.
        Error => "error",
    }
}

vocabulary! {
    /// The two kinds of service-desk record: an end user or an agent. The inbound log's `target`
    /// column (the record a row is about), a role's `kind` (whom it is granted to), and the
    /// `record` of each change a row lists.
    pub enum RecordKind ("record kind") {
        /// An end-user record.
        User => "user",
        /// An agent record.
        Agent => "agent",
    }
}

vocabulary! {
    /// What the inbound log's `notification` column says a row answers: the notification the
    /// person was evaluated for (the mirror's pending marks, `mirror::Notification`), or a
    /// warning about the run itself.
    pub enum NotificationKind ("notification kind") {
        /// First seen (or back after a removal).
        Created => "created",
        /// A property changed.
        Updated => "updated",
        /// Soft-deleted.
        RemovedChanged => "removed-changed",
        /// Deleted, or missing from a complete full round.
        RemovedDeleted => "removed-deleted",
        /// Re-evaluated by a full round without a change.
        FullPass => "full-pass",
        /// Not about a person's change: a warning of the run (a configured group that did not
        /// resolve, an object whose attributes were cleaned).
        Warning => "warning",
        /// A licence assigned or removed through the admin API (licence write-back).
        Licence => "licence",
    }
}

vocabulary! {
    /// A run's kind (`sync_runs.kind`).
    pub enum RunKind ("run kind") {
        /// A fresh initial round of every chain.
        Full => "full",
        /// Changes since the stored delta links.
        Delta => "delta",
        /// Computes everything, writes nothing but the run row.
        Preview => "preview",
        /// The "Import Users/Agents" screen.
        Import => "import",
        /// Re-plans everyone from the mirror, no Graph calls.
        Remap => "remap",
    }
}

vocabulary! {
    /// A run's status (`sync_runs.status`).
    pub enum RunStatus ("run status") {
        /// Under way (or crashed while under way).
        Running => "running",
        /// Done.
        Succeeded => "succeeded",
        /// Stopped by an error; nobody was deactivated.
        Failed => "failed",
        /// Done except deactivations, which exceeded the guard and await approval.
        Quarantined => "quarantined",
        /// Stopped by shutdown; nobody was deactivated.
        Cancelled => "cancelled",
    }
}

vocabulary! {
    /// What an agent may do with one connection through the admin API
    /// (`connection_access.level`).
    pub enum AccessLevel ("access level") {
        /// Status, runs, the inbound log, the import preview and the online check.
        Read => "read",
        /// Also sync, delta reset, approval, authorisation and keep-active.
        ReadModify => "read_modify",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value reads back as itself from its column text, and serialises as that text.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + Serialize + FromStr<Err = UnknownValue>,
    {
        for &value in all {
            let text = value.to_string();
            assert_eq!(text.parse::<T>(), Ok(value));
            assert_eq!(serde_json::to_value(value).ok(), Some(text.into()));
        }
    }

    #[test]
    fn every_value_reads_back_from_its_column_text() {
        round_trips(Action::ALL);
        round_trips(RecordKind::ALL);
        round_trips(NotificationKind::ALL);
        round_trips(RunKind::ALL);
        round_trips(RunStatus::ALL);
        round_trips(AccessLevel::ALL);
    }

    #[test]
    fn the_inbound_log_keeps_its_hyphenated_words() {
        assert_eq!(Action::OutOfScope.as_str(), "out-of-scope");
        assert_eq!(NotificationKind::FullPass.as_str(), "full-pass");
        assert_eq!(
            serde_json::to_string(&Action::OutOfScope).ok().as_deref(),
            Some("\"out-of-scope\"")
        );
    }

    #[test]
    fn an_unknown_value_is_named_with_what_it_was_read_as() {
        let error = "paused".parse::<RunStatus>().unwrap_err();
        assert_eq!(
            error,
            UnknownValue {
                what: "run status",
                value: "paused".to_owned()
            }
        );
        assert_eq!(error.to_string(), "\"paused\" is not a run status");
        assert!("Created".parse::<Action>().is_err());
    }
}
