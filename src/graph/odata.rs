//! OData query pieces the daemon sends: quoted string literals and the `$filter` forms Graph
//! accepts on directory objects.

/// A string literal for `$filter`: single quotes doubled (`Visitors' Desk` → `'Visitors'' Desk'`).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `displayName eq '…'`.
pub fn display_name_eq(name: &str) -> String {
    format!("displayName eq {}", quote(name))
}

/// `id eq '…' or id eq '…'` (group delta accepts at most 50 ids).
pub fn ids_eq(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("id eq {}", quote(id)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Percent-encodes a query value (`$filter`, `$select`) for a URL.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apostrophes_are_doubled() {
        assert_eq!(
            display_name_eq("Visitors' Desk"),
            "displayName eq 'Visitors'' Desk'"
        );
        assert_eq!(quote("''"), "''''''");
    }

    #[test]
    fn id_filters_are_or_joined() {
        assert_eq!(ids_eq(&["a", "b"]), "id eq 'a' or id eq 'b'");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("displayName eq 'A&B'"),
            "displayName%20eq%20%27A%26B%27"
        );
    }
}
