// An operator's keep-active change.
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::ids::EntraId;
use crate::store::StoreError;
use crate::store::{InboundRow, KeepActiveChange, KeepActiveOutcome};
use crate::vocab::{Action, NotificationKind, RecordKind};

use super::run_log::insert_log;

type Tx<'a> = sqlx::Transaction<'a, Db>;

#[derive(sqlx::FromRow)]
struct Holder {
    id: i64,
    entra_id: Option<String>,
    upn: Option<String>,
    agent_id: Option<i64>,
}

/// The person's records, their flags and the log row, in the caller's transaction. A flag is
/// written only where it differs (`keep_active <> $2`), so the log names exactly what changed.
pub(super) async fn set(
    tx: &mut Tx<'_>,
    change: &KeepActiveChange<'_>,
    now: DateTime<Utc>,
) -> Result<KeepActiveOutcome, StoreError> {
    let holders: Vec<Holder> = sqlx::query_as(
        "SELECT u.id, u.entra_id, COALESCE(m.upn, u.login) AS upn, a.id AS agent_id FROM users u \
         LEFT JOIN agents a ON a.user_id = u.id \
         LEFT JOIN entra_users m ON m.connection_id = u.connection_id AND m.entra_id = u.entra_id \
         WHERE u.connection_id = $1 AND (lower(u.login) = lower($2) OR lower(m.upn) = lower($2)) \
         ORDER BY u.id",
    )
    .bind(change.connection_id.as_str())
    .bind(change.upn)
    .fetch_all(&mut **tx)
    .await?;
    let holder = match holders.as_slice() {
        [one] => one,
        [] => {
            return Err(StoreError::NotFound(format!(
                "connection \"{}\" has no user record with the login or UPN \"{}\"",
                change.connection_id, change.upn
            )));
        }
        several => {
            let ids: Vec<String> = several.iter().map(|h| h.id.to_string()).collect();
            return Err(StoreError::Conflict(format!(
                "{} user records of connection \"{}\" have the login or UPN \"{}\" (ids {}); \
                 set the flag in the service desk instead",
                several.len(),
                change.connection_id,
                change.upn,
                ids.join(", ")
            )));
        }
    };
    let mut changes: Vec<Value> = Vec::new();
    let mut flip = |record: RecordKind| {
        changes.push(json!({
            "record": record,
            "field": "keep_active",
            "before": !change.keep_active,
            "after": change.keep_active,
        }));
    };
    let user = sqlx::query(
        "UPDATE users SET keep_active = $2, updated_at = $3 WHERE id = $1 AND keep_active <> $2",
    )
    .bind(holder.id)
    .bind(change.keep_active)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if user.rows_affected() == 1 {
        flip(RecordKind::User);
    }
    if let Some(agent_id) = holder.agent_id {
        let agent = sqlx::query(
            "UPDATE agents SET keep_active = $2, updated_at = $3 WHERE id = $1 AND keep_active <> $2",
        )
        .bind(agent_id)
        .bind(change.keep_active)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if agent.rows_affected() == 1 {
            flip(RecordKind::Agent);
        }
    }
    let logged = if changes.is_empty() {
        None
    } else {
        let row = InboundRow {
            id: 0,
            run_id: None,
            connection_id: change.connection_id.clone(),
            source: change.source.to_owned(),
            logged_at: now,
            entra_id: holder.entra_id.clone().map(EntraId),
            upn: Some(holder.upn.clone().unwrap_or_else(|| change.upn.to_owned())),
            target: Some(RecordKind::User),
            notification: NotificationKind::Updated,
            matched: json!({}),
            action: Action::Updated,
            changes: Value::Array(changes),
            message: Some(change.message.to_owned()),
            agent_id: None,
        };
        insert_log(tx, std::slice::from_ref(&row), None).await?;
        Some(row)
    };
    Ok(KeepActiveOutcome {
        user_id: holder.id,
        agent_id: holder.agent_id,
        logged,
    })
}
