//! The pure part of matching existing records (the Entra object id first, then each `matching_fields` entry in order, case-insensitively, against records without an Entra id): the keys a planned record is looked
//! up by after its Entra object id.

use serde::Serialize;

use crate::mapping::{Mapping, MatchingField};
use crate::plan::Fields;

/// One fallback key: a matching field and the planned value, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MatchKey {
    /// Which field (`email`, `upn`, …).
    pub field: MatchingField,
    /// The value, normalised with [`normalise_key`].
    pub value: String,
}

/// How matching compares values: trimmed and lower-cased, so `Ada@Contoso.com ` matches
/// `ada@contoso.com`. The daemon normalises stored values the same way.
pub fn normalise_key(value: &str) -> String {
    value.trim().to_lowercase()
}

impl Mapping {
    /// The fallback keys of a planned record, in `matching_fields` order, skipping fields the
    /// plan leaves empty or does not have (agents have no `login`). The daemon tries them in order
    /// against records without an Entra id: one candidate is adopted, several are a conflict.
    pub fn matching_keys(&self, fields: &Fields) -> Vec<MatchKey> {
        self.matching_fields
            .iter()
            .filter_map(|field| {
                let value = fields.get(&field.halo_field())?.as_deref()?;
                let value = normalise_key(value);
                (!value.is_empty()).then(|| MatchKey {
                    field: field.clone(),
                    value,
                })
            })
            .collect()
    }
}
