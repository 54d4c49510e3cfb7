//! Store errors, shaped by what the caller decides.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write collides with existing data (a uniqueness or reference constraint).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or opened; retrying later may help.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The write was refused: the store is fenced by a lease (named here) that its holder no
    /// longer holds, because it expired and another holder took it over.
    #[error("the lease {0:?} was taken over by another holder; this holder writes nothing more")]
    LeaseLost(String),
    /// Anything else (a bug, a migration failure, corrupt data).
    #[error("database error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A database URL of a scheme no backend opens. The message names only the scheme: the rest
    /// of the URL may hold a password.
    pub(crate) fn unsupported_url(url: &str) -> StoreError {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|s| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        let what = match scheme {
            Some(scheme) => format!("unsupported database URL scheme {scheme:?}"),
            None => "the database URL names no scheme".to_owned(),
        };
        StoreError::Unavailable(format!(
            "{what}: use sqlite://PATH or postgres://USER@HOST/DB"
        ))
    }

    /// A column holding text that names no value of what it is read as (`what`): the row was
    /// written by something other than this version of the daemon. Named by table, column and
    /// value, so whoever reads the error can find the row.
    pub(crate) fn unreadable(
        table: &'static str,
        column: &'static str,
        value: &str,
        what: &str,
    ) -> StoreError {
        StoreError::Other(format!("{table}.{column}: {value:?} is not a {what}").into())
    }
}

/// Parses the text a row's `table.column` holds; text that names nothing is an error naming the
/// table, the column and the value, as [`StoreError::unreadable`] does.
pub(crate) fn column<T>(
    table: &'static str,
    column: &'static str,
    raw: &str,
) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| StoreError::Other(format!("{table}.{column}: {e}").into()))
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound("no such row".to_owned()),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => {
                    StoreError::Conflict(db.message().to_owned())
                }
                _ if crate::store::sqlite::is_file_fault(db.as_ref()) => {
                    crate::store::sqlite::note_file_fault();
                    StoreError::Unavailable(format!(
                        "the SQLite database file cannot be written ({}): is it read-only, or \
                         the disk full?",
                        db.message()
                    ))
                }
                _ => StoreError::Other(Box::new(error)),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            // Bytes the protocol does not expect: in practice a connection cut off mid-way (a
            // network outage, a proxy or the server going away), or no database server there.
            sqlx::Error::Protocol(_) => StoreError::Unavailable(format!(
                "the connection to the database broke off or reached something that is not the \
                 database ({error})"
            )),
            _ => StoreError::Other(Box::new(error)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_url_is_named_by_its_scheme_only() {
        let error = StoreError::unsupported_url("mysql://admin:hunter2@db.example/app").to_string();
        assert_eq!(
            error,
            "database unavailable: unsupported database URL scheme \"mysql\": use sqlite://PATH \
             or postgres://USER@HOST/DB"
        );
        let error = StoreError::unsupported_url("hunter2@db.example/app").to_string();
        assert_eq!(
            error,
            "database unavailable: the database URL names no scheme: use sqlite://PATH or \
             postgres://USER@HOST/DB"
        );
    }
}
