// Writing one person's records inside an `apply` transaction, included by `sqlite.rs` and
// `postgres.rs` (see `mod.rs`) as the `apply` module next to `integration`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::store::StoreError;
use crate::store::integration::*;

type Tx<'a> = sqlx::Transaction<'a, Db>;

async fn update_columns(
    tx: &mut Tx<'_>,
    table: &'static str,
    id: i64,
    columns: &[(&'static str, Option<String>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if columns.is_empty() {
        return Ok(());
    }
    // Column names come from the fixed lists in `sync::write`, never from input.
    let sets: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 3))
        .collect();
    let sql = format!(
        "UPDATE {table} SET updated_at = $2, {} WHERE id = $1",
        sets.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(now);
    for (_, value) in columns {
        query = query.bind(value.clone());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn set_inactive(
    tx: &mut Tx<'_>,
    table: &'static str,
    id: i64,
    inactive: bool,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {table} SET inactive = $2, inactive_reason = CASE WHEN $2 THEN 'entra' ELSE NULL END WHERE id = $1"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(inactive)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn role_changes(
    tx: &mut Tx<'_>,
    kind: &'static str,
    holder: i64,
    added: &[String],
    removed: &[String],
) -> Result<(), StoreError> {
    let (table, column) = if kind == "user" {
        ("user_roles", "user_id")
    } else {
        ("agent_roles", "agent_id")
    };
    for role in added {
        let sql = format!(
            "INSERT INTO {table} ({column}, role_id, source) SELECT $1, id, 'entra' FROM roles \
             WHERE kind = $2 AND name = $3 ON CONFLICT DO NOTHING"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(holder)
            .bind(kind)
            .bind(role)
            .execute(&mut **tx)
            .await?;
    }
    for role in removed {
        let sql = format!(
            "DELETE FROM {table} WHERE {column} = $1 AND role_id = (SELECT id FROM roles WHERE kind = $2 AND name = $3)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(holder)
            .bind(kind)
            .bind(role)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn cab_changes(
    tx: &mut Tx<'_>,
    column: &'static str,
    holder: i64,
    set: &[(String, Option<String>)],
    removed: &[String],
) -> Result<(), StoreError> {
    for (cab, role) in set {
        let sql = format!(
            "INSERT INTO cab_members (cab_id, {column}, cab_role_id, source) \
             SELECT c.id, $1, (SELECT r.id FROM cab_roles r WHERE r.cab_id = c.id AND r.name = $3), 'entra' \
             FROM cabs c WHERE c.name = $2 \
             ON CONFLICT (cab_id, {column}) DO UPDATE SET cab_role_id = excluded.cab_role_id"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(holder)
            .bind(cab)
            .bind(role)
            .execute(&mut **tx)
            .await?;
    }
    for cab in removed {
        let sql = format!(
            "DELETE FROM cab_members WHERE {column} = $1 AND cab_id = (SELECT id FROM cabs WHERE name = $2)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(holder)
            .bind(cab)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(super) async fn write_user(
    tx: &mut Tx<'_>,
    connection: &str,
    entra_id: &str,
    record: &RecordWrite<NewRecordUser>,
    write: &UserWrite,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = match record {
        RecordWrite::Create(new) => {
            sqlx::query_scalar(
                "INSERT INTO users (name, inactive, inactive_reason, connection_id, entra_id, created_at, updated_at) \
                 VALUES ($1, $2, CASE WHEN $2 THEN 'entra' ELSE NULL END, $3, $4, $5, $5) RETURNING id",
            )
            .bind(&new.name)
            .bind(new.inactive)
            .bind(connection)
            .bind(entra_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?
        }
        RecordWrite::Adopt(id) => {
            let adopted = sqlx::query("UPDATE users SET connection_id = $2, entra_id = $3 WHERE id = $1 AND entra_id IS NULL")
                .bind(id)
                .bind(connection)
                .bind(entra_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if adopted != 1 {
                return Err(StoreError::Conflict(format!("user {id} was linked meanwhile")));
            }
            *id
        }
        RecordWrite::Existing(id) => *id,
    };
    update_columns(tx, "users", id, &write.fields, now).await?;
    if let Some(site) = &write.site {
        let (client, site) = site.clone().unzip();
        sqlx::query(
            "UPDATE users SET site_id = (SELECT s.id FROM sites s JOIN clients c ON c.id = s.client_id \
             WHERE c.name = $2 AND s.name = $3) WHERE id = $1",
        )
        .bind(id)
        .bind(client)
        .bind(site)
        .execute(&mut **tx)
        .await?;
    }
    if !write.custom_fields.is_empty() {
        let Json(mut custom): Json<BTreeMap<String, String>> =
            sqlx::query_scalar("SELECT custom_fields FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        for (name, value) in &write.custom_fields {
            match value {
                Some(value) => custom.insert(name.clone(), value.clone()),
                None => custom.remove(name),
            };
        }
        sqlx::query("UPDATE users SET custom_fields = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(&custom))
            .execute(&mut **tx)
            .await?;
    }
    if let Some(inactive) = write.inactive {
        set_inactive(tx, "users", id, inactive).await?;
    }
    role_changes(tx, "user", id, &write.roles_added, &write.roles_removed).await?;
    cab_changes(tx, "user_id", id, &write.cabs_set, &write.cabs_removed).await?;
    if let Some(skus) = &write.licences {
        sqlx::query("DELETE FROM user_licences WHERE user_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        for sku in skus {
            sqlx::query(
                "INSERT INTO user_licences (user_id, licence_id) SELECT $1, id FROM licences \
                 WHERE connection_id = $2 AND sku_id = $3 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(connection)
            .bind(sku)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(id)
}

#[allow(clippy::too_many_arguments)] // one transaction's worth of context, all needed
pub(super) async fn write_agent(
    tx: &mut Tx<'_>,
    connection: &str,
    entra_id: &str,
    user_id: Option<i64>,
    record: &RecordWrite<NewRecordAgent>,
    write: &AgentWrite,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> Result<i64, StoreError> {
    let id = match record {
        RecordWrite::Create(new) => {
            let user_id = new.user_id.or(user_id).ok_or_else(|| {
                StoreError::Conflict(format!("agent {entra_id} has no user record to link to"))
            })?;
            sqlx::query_scalar(
                "INSERT INTO agents (user_id, name, licence_type, inactive, inactive_reason, connection_id, entra_id, \
                 created_at, updated_at) VALUES ($1, $2, 'concurrent', $3, CASE WHEN $3 THEN 'entra' ELSE NULL END, \
                 $4, $5, $6, $6) RETURNING id",
            )
            .bind(user_id)
            .bind(&new.name)
            .bind(new.inactive)
            .bind(connection)
            .bind(entra_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?
        }
        RecordWrite::Adopt(id) => {
            let adopted = sqlx::query("UPDATE agents SET connection_id = $2, entra_id = $3 WHERE id = $1 AND entra_id IS NULL")
                .bind(id)
                .bind(connection)
                .bind(entra_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if adopted != 1 {
                return Err(StoreError::Conflict(format!(
                    "agent {id} was linked meanwhile"
                )));
            }
            *id
        }
        RecordWrite::Existing(id) => *id,
    };
    update_columns(tx, "agents", id, &write.fields, now).await?;
    if let Some(manager) = &write.linemanager {
        sqlx::query(
            "UPDATE agents SET linemanager_id = (SELECT m.id FROM agents m WHERE m.connection_id = $2 AND m.entra_id = $3) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(connection)
        .bind(manager)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(team) = &write.default_team {
        sqlx::query("UPDATE agents SET default_team_id = (SELECT t.id FROM teams t WHERE t.name = $2) WHERE id = $1")
            .bind(id)
            .bind(team)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(licence) = write.licence_type {
        sqlx::query("UPDATE agents SET licence_type = $2 WHERE id = $1")
            .bind(id)
            .bind(licence.as_str())
            .execute(&mut **tx)
            .await?;
    }
    if let Some(inactive) = write.inactive {
        set_inactive(tx, "agents", id, inactive).await?;
    }
    if write.unassign_tickets {
        let tickets: Vec<i64> =
            sqlx::query_scalar("UPDATE tickets SET agent_id = NULL WHERE agent_id = $1 AND status = 'open' RETURNING id")
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
        applied
            .unassigned_tickets
            .extend(tickets.into_iter().map(|t| (t, entra_id.to_owned())));
    }
    role_changes(tx, "agent", id, &write.roles_added, &write.roles_removed).await?;
    for (team, flags) in &write.teams_set {
        sqlx::query(
            "INSERT INTO agent_teams (agent_id, team_id, can_be_assigned, sees_unassigned, sees_other_agents, source) \
             SELECT $1, id, $3, $4, $5, 'entra' FROM teams WHERE name = $2 ON CONFLICT (agent_id, team_id) DO UPDATE \
             SET can_be_assigned = excluded.can_be_assigned, sees_unassigned = excluded.sees_unassigned, \
             sees_other_agents = excluded.sees_other_agents",
        )
        .bind(id)
        .bind(team)
        .bind(flags.can_be_assigned)
        .bind(flags.sees_unassigned)
        .bind(flags.sees_other_agents)
        .execute(&mut **tx)
        .await?;
    }
    for team in &write.teams_removed {
        sqlx::query("DELETE FROM agent_teams WHERE agent_id = $1 AND team_id = (SELECT id FROM teams WHERE name = $2)")
            .bind(id)
            .bind(team)
            .execute(&mut **tx)
            .await?;
    }
    cab_changes(tx, "agent_id", id, &write.cabs_set, &write.cabs_removed).await?;
    Ok(id)
}
