//! Rows for bulk inserts, held column by column.
//!
//! Each backend turns them into the statement its engine runs fastest: PostgreSQL binds one array
//! per column and reads the rows back with `unnest` (a statement of four parameters, planned in
//! microseconds whatever the row count); SQLite binds one parameter per value in a `VALUES` list,
//! a few hundred at a time.

use chrono::{DateTime, Utc};

/// One column of a bulk insert: a value per row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<DateTime<Utc>>),
    /// Serialised JSON, stored as `jsonb` on PostgreSQL and as text on SQLite.
    Json(Vec<String>),
}

impl Column {
    /// A text column.
    pub(crate) fn text<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::Text(values.into_iter().map(|v| Some(v.into())).collect())
    }

    /// A text column with NULLs.
    pub(crate) fn text_or_null<S: Into<String>>(
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        Self::Text(values.into_iter().map(|v| v.map(Into::into)).collect())
    }

    /// A text column holding one value `rows` times.
    pub(crate) fn same_text(value: &str, rows: usize) -> Self {
        Self::Text(vec![Some(value.to_owned()); rows])
    }

    /// An integer column.
    pub(crate) fn int(values: impl IntoIterator<Item = i64>) -> Self {
        Self::Int(values.into_iter().map(Some).collect())
    }

    /// An integer column with NULLs.
    pub(crate) fn int_or_null(values: impl IntoIterator<Item = Option<i64>>) -> Self {
        Self::Int(values.into_iter().collect())
    }

    /// A boolean column.
    pub(crate) fn bool(values: impl IntoIterator<Item = bool>) -> Self {
        Self::Bool(values.into_iter().map(Some).collect())
    }

    /// A boolean column with NULLs.
    pub(crate) fn bool_or_null(values: impl IntoIterator<Item = Option<bool>>) -> Self {
        Self::Bool(values.into_iter().collect())
    }

    /// A timestamp column holding one value `rows` times.
    pub(crate) fn same_time(value: DateTime<Utc>, rows: usize) -> Self {
        Self::Time(vec![value; rows])
    }

    /// A JSON column, serialised here.
    pub(crate) fn json<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Self {
        Self::Json(
            values
                .into_iter()
                .map(|v| serde_json::to_string(&v).expect("JSON values always serialise"))
                .collect(),
        )
    }

    /// How many rows the column holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::Time(v) => v.len(),
            Self::Json(v) => v.len(),
        }
    }
}

/// The row count of `columns`; they must all hold the same number of rows.
pub(crate) fn row_count(columns: &[Column]) -> usize {
    let rows = columns.first().map_or(0, Column::len);
    assert!(
        columns.iter().all(|c| c.len() == rows),
        "the columns of a bulk insert hold different row counts"
    );
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_their_values_and_count_rows() {
        let columns = [
            Column::text(["a", "b"]),
            Column::int_or_null([Some(1), None]),
            Column::json([serde_json::json!({"k": 1}), serde_json::json!(null)]),
        ];
        assert_eq!(row_count(&columns), 2);
        assert_eq!(columns[1], Column::Int(vec![Some(1), None]));
        assert_eq!(
            columns[2],
            Column::Json(vec![r#"{"k":1}"#.to_owned(), "null".to_owned()])
        );
    }

    #[test]
    #[should_panic(expected = "different row counts")]
    fn ragged_columns_are_a_bug() {
        row_count(&[Column::text(["a"]), Column::bool([true, false])]);
    }
}
