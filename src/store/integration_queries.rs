// The integration-state queries both backends share, included by `sqlite.rs` and `postgres.rs`
// (see `mod.rs`). The including module provides `Db` and `Backend` (with its `pool`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::mirror::{GroupDelta, MirrorUser, Notification, Removal};
use crate::store::integration::*;
use crate::store::records::{LicenceType, SealedToken, Source, TeamFlags, UserFields};
use crate::store::{Integration, StoreError};

type Tx<'a> = sqlx::Transaction<'a, Db>;

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(sqlx::FromRow)]
struct DeltaRow {
    connection_id: String,
    chain: String,
    fingerprint: String,
    delta_link: Option<String>,
    next_link: Option<String>,
    round_id: Option<i64>,
    round_initial: bool,
}

#[derive(sqlx::FromRow)]
struct MirrorRow {
    entra_id: String,
    attributes: Json<Map<String, Value>>,
    removed: Option<String>,
    pending: Option<String>,
}

impl MirrorRow {
    fn into_user(self) -> (MirrorUser, Option<Notification>) {
        let pending = self.pending.as_deref().and_then(Notification::parse);
        let user = MirrorUser {
            entra_id: self.entra_id,
            attributes: self.attributes.0,
            removed: self.removed.as_deref().and_then(Removal::parse),
        };
        (user, pending)
    }
}

#[derive(sqlx::FromRow)]
struct SnapshotUserRow {
    id: i64,
    entra_id: String,
    client: Option<String>,
    site: Option<String>,
    #[sqlx(flatten)]
    fields: UserFields,
    custom_fields: Json<BTreeMap<String, String>>,
    inactive: bool,
    inactive_reason: Option<String>,
    keep_active: bool,
}

#[derive(sqlx::FromRow)]
struct SnapshotAgentRow {
    id: i64,
    user_id: i64,
    entra_id: String,
    name: String,
    emailaddress: Option<String>,
    phonenumber: Option<String>,
    jobtitle: Option<String>,
    creationtype: Option<String>,
    linemanager_entra_id: Option<String>,
    default_team: Option<String>,
    licence_type: String,
    inactive: bool,
    inactive_reason: Option<String>,
    keep_active: bool,
}

#[derive(sqlx::FromRow)]
struct RunDbRow {
    id: i64,
    connection_id: String,
    kind: String,
    trigger: String,
    status: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    counts: Json<BTreeMap<String, u64>>,
    graph_requests: i64,
    graph_throttles: i64,
    error: Option<String>,
    approved_at: Option<DateTime<Utc>>,
}

impl From<RunDbRow> for RunRow {
    fn from(r: RunDbRow) -> Self {
        RunRow {
            id: r.id,
            connection_id: r.connection_id,
            kind: r.kind,
            trigger: r.trigger,
            status: r.status,
            started_at: r.started_at,
            ended_at: r.ended_at,
            counts: r.counts.0,
            graph_requests: r.graph_requests,
            graph_throttles: r.graph_throttles,
            error: r.error,
            approved_at: r.approved_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LogDbRow {
    id: i64,
    run_id: Option<i64>,
    connection_id: String,
    source: String,
    logged_at: DateTime<Utc>,
    entra_id: Option<String>,
    upn: Option<String>,
    target: Option<String>,
    notification: String,
    matched: Json<Value>,
    action: String,
    changes: Json<Value>,
    message: Option<String>,
}

const RUN_COLUMNS: &str = "id, connection_id, kind, trigger, status, started_at, ended_at, counts, \
     graph_requests, graph_throttles, error, approved_at";

async fn save_state(tx: &mut Tx<'_>, s: &DeltaState, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delta_states (connection_id, chain, fingerprint, delta_link, next_link, round_id, \
         round_initial, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (connection_id, chain) DO UPDATE SET fingerprint = excluded.fingerprint, \
         delta_link = excluded.delta_link, next_link = excluded.next_link, round_id = excluded.round_id, \
         round_initial = excluded.round_initial, updated_at = excluded.updated_at",
    )
    .bind(&s.connection_id)
    .bind(&s.chain)
    .bind(&s.fingerprint)
    .bind(&s.delta_link)
    .bind(&s.next_link)
    .bind(s.round_id)
    .bind(s.round_initial)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a mirrored user pending (keeping a more telling notification already pending).
async fn touch(tx: &mut Tx<'_>, connection: &str, entra_id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE entra_users SET pending = COALESCE(pending, 'updated') \
         WHERE connection_id = $1 AND entra_id = $2 AND removed IS NULL",
    )
    .bind(connection)
    .bind(entra_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the user members of `group` pending (its membership or its own membership changed).
async fn touch_members(tx: &mut Tx<'_>, connection: &str, group: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE entra_users SET pending = COALESCE(pending, 'updated') WHERE connection_id = $1 \
         AND removed IS NULL AND entra_id IN (SELECT member_id FROM entra_memberships \
         WHERE connection_id = $1 AND group_id = $2)",
    )
    .bind(connection)
    .bind(group)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

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

async fn write_user(
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
async fn write_agent(
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

async fn insert_log(
    tx: &mut Tx<'_>,
    rows: &[InboundRow],
    run_id: Option<i64>,
) -> Result<(), StoreError> {
    for row in rows {
        sqlx::query(
            "INSERT INTO inbound_log (run_id, connection_id, source, logged_at, entra_id, upn, target, notification, \
             matched, action, changes, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(run_id.or(row.run_id))
        .bind(&row.connection_id)
        .bind(&row.source)
        .bind(row.logged_at)
        .bind(&row.entra_id)
        .bind(&row.upn)
        .bind(&row.target)
        .bind(&row.notification)
        .bind(Json(&row.matched))
        .bind(&row.action)
        .bind(Json(&row.changes))
        .bind(&row.message)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Integration for Backend {
    async fn delegated_token(
        &self,
        connection_id: &str,
    ) -> Result<Option<SealedToken>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
            "SELECT ciphertext, nonce, key_id FROM delegated_tokens WHERE connection_id = $1",
        )
        .bind(connection_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(ciphertext, nonce, key_id)| SealedToken {
            ciphertext,
            nonce,
            key_id,
        }))
    }

    async fn save_delegated_token(
        &self,
        connection_id: &str,
        token: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO delegated_tokens (connection_id, ciphertext, nonce, key_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (connection_id) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, \
             key_id = excluded.key_id, updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(&token.ciphertext)
        .bind(&token.nonce)
        .bind(&token.key_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delta_state(
        &self,
        connection_id: &str,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError> {
        let row: Option<DeltaRow> = sqlx::query_as(
            "SELECT connection_id, chain, fingerprint, delta_link, next_link, round_id, round_initial \
             FROM delta_states WHERE connection_id = $1 AND chain = $2",
        )
        .bind(connection_id)
        .bind(chain)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| DeltaState {
            connection_id: r.connection_id,
            chain: r.chain,
            fingerprint: r.fingerprint,
            delta_link: r.delta_link,
            next_link: r.next_link,
            round_id: r.round_id,
            round_initial: r.round_initial,
        }))
    }

    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        save_state(&mut tx, state, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_delta_states(&self, connection_id: &str) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM delta_states WHERE connection_id = $1")
                .bind(connection_id)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn mirror_users(
        &self,
        connection_id: &str,
        ids: &[String],
    ) -> Result<Vec<MirrorUser>, StoreError> {
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT entra_id, attributes, removed, pending FROM entra_users WHERE connection_id = $1 AND entra_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query_as::<_, MirrorRow>(AssertSqlSafe(sql)).bind(connection_id);
            for id in chunk {
                query = query.bind(id);
            }
            users.extend(
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|r| r.into_user().0),
            );
        }
        Ok(users)
    }

    async fn commit_users_page(
        &self,
        connection_id: &str,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (user, notification) in people {
            sqlx::query(
                "INSERT INTO entra_users (connection_id, entra_id, upn, attributes, manager_id, removed, seen_round, \
                 pending, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (connection_id, entra_id) DO UPDATE SET upn = excluded.upn, \
                 attributes = excluded.attributes, manager_id = excluded.manager_id, removed = excluded.removed, \
                 seen_round = excluded.seen_round, updated_at = excluded.updated_at, \
                 pending = CASE WHEN excluded.pending IS NULL THEN entra_users.pending \
                 WHEN entra_users.pending = 'created' AND excluded.pending IN ('updated', 'full-pass') THEN 'created' \
                 ELSE excluded.pending END",
            )
            .bind(connection_id)
            .bind(&user.entra_id)
            .bind(user.upn())
            .bind(Json(&user.attributes))
            .bind(user.manager_id())
            .bind(user.removed.map(Removal::as_str))
            .bind(round)
            .bind(notification.map(Notification::as_str))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        save_state(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_missing(
        &self,
        connection_id: &str,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE entra_users SET removed = 'missing', pending = 'removed-deleted', updated_at = $3 \
             WHERE connection_id = $1 AND removed IS NULL AND (seen_round IS NULL OR seen_round <> $2)",
        )
        .bind(connection_id)
        .bind(round)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn commit_groups_page(
        &self,
        connection_id: &str,
        reset_groups: &[String],
        groups: &[GroupDelta],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for group in reset_groups {
            touch_members(&mut tx, connection_id, group).await?;
            sqlx::query("DELETE FROM entra_memberships WHERE connection_id = $1 AND group_id = $2")
                .bind(connection_id)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        for group in groups {
            sqlx::query(
                "INSERT INTO entra_groups (connection_id, entra_id, display_name, removed, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connection_id, entra_id) DO UPDATE SET \
                 display_name = COALESCE(excluded.display_name, entra_groups.display_name), \
                 removed = excluded.removed, updated_at = excluded.updated_at",
            )
            .bind(connection_id)
            .bind(&group.id)
            .bind(&group.display_name)
            .bind(group.removed.then_some("deleted"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if group.removed {
                touch_members(&mut tx, connection_id, &group.id).await?;
                sqlx::query(
                    "DELETE FROM entra_memberships WHERE connection_id = $1 AND group_id = $2",
                )
                .bind(connection_id)
                .bind(&group.id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            for (member, kind) in &group.added {
                let inserted = sqlx::query(
                    "INSERT INTO entra_memberships (connection_id, group_id, member_id, member_type) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(connection_id)
                .bind(&group.id)
                .bind(member)
                .bind(*kind)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted > 0 {
                    touch(&mut tx, connection_id, member).await?;
                    if *kind == "group" {
                        touch_members(&mut tx, connection_id, member).await?;
                    }
                }
            }
            for member in &group.removed_members {
                let deleted = sqlx::query(
                    "DELETE FROM entra_memberships WHERE connection_id = $1 AND group_id = $2 AND member_id = $3",
                )
                .bind(connection_id)
                .bind(&group.id)
                .bind(member)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if deleted > 0 {
                    touch(&mut tx, connection_id, member).await?;
                    touch_members(&mut tx, connection_id, member).await?;
                }
            }
        }
        save_state(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn memberships(
        &self,
        connection_id: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT group_id, member_id, member_type FROM entra_memberships WHERE connection_id = $1")
            .bind(connection_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn mirror_groups(
        &self,
        connection_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT entra_id, display_name FROM entra_groups WHERE connection_id = $1 AND removed IS NULL",
        )
        .bind(connection_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| (id, name.unwrap_or_default()))
            .collect())
    }

    async fn mirror_page(
        &self,
        connection_id: &str,
        after: &str,
        limit: u32,
        pending_only: bool,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        let sql = if pending_only {
            "SELECT entra_id, attributes, removed, pending FROM entra_users WHERE connection_id = $1 AND entra_id > $2 \
             AND pending IS NOT NULL ORDER BY entra_id LIMIT $3"
        } else {
            "SELECT entra_id, attributes, removed, pending FROM entra_users WHERE connection_id = $1 AND entra_id > $2 \
             ORDER BY entra_id LIMIT $3"
        };
        let rows: Vec<MirrorRow> = sqlx::query_as(sql)
            .bind(connection_id)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(MirrorRow::into_user).collect())
    }

    async fn mark_all_pending(&self, connection_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE entra_users SET pending = COALESCE(pending, 'full-pass') WHERE connection_id = $1 AND removed IS NULL",
        )
        .bind(connection_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn people(&self, connection_id: &str) -> Result<People, StoreError> {
        let mut tx = self.pool.begin().await?;
        let users: Vec<SnapshotUserRow> = sqlx::query_as(
            "SELECT u.id, u.entra_id, c.name AS client, s.name AS site, u.name, u.firstname, u.surname, u.emailaddress, \
             u.login, u.phonenumber, u.mobilenumber, u.jobtitle, u.department, u.employee_number, u.manager, \
             u.creationtype, u.last_sign_in, u.custom_fields, u.inactive, u.inactive_reason, u.keep_active \
             FROM users u LEFT JOIN sites s ON s.id = u.site_id LEFT JOIN clients c ON c.id = s.client_id \
             WHERE u.connection_id = $1 AND u.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut people = People::default();
        for u in users {
            people.users.insert(
                u.entra_id,
                UserSnapshot {
                    id: u.id,
                    site: u.client.zip(u.site),
                    fields: u.fields,
                    custom_fields: u.custom_fields.0,
                    inactive: u.inactive,
                    inactive_reason: u.inactive_reason,
                    keep_active: u.keep_active,
                    roles: BTreeMap::new(),
                    cabs: BTreeMap::new(),
                },
            );
        }
        let roles: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT u.entra_id, r.name, g.source FROM user_roles g JOIN users u ON u.id = g.user_id \
             JOIN roles r ON r.id = g.role_id WHERE u.connection_id = $1 AND u.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for (entra_id, role, source) in roles {
            if let Some(u) = people.users.get_mut(&entra_id) {
                u.roles.insert(role, Source::parse(&source));
            }
        }
        let cabs: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT u.entra_id, c.name, r.name, m.source FROM cab_members m JOIN users u ON u.id = m.user_id \
             JOIN cabs c ON c.id = m.cab_id LEFT JOIN cab_roles r ON r.id = m.cab_role_id \
             WHERE u.connection_id = $1 AND u.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for (entra_id, cab, role, source) in cabs {
            if let Some(u) = people.users.get_mut(&entra_id) {
                u.cabs.insert(cab, (role, Source::parse(&source)));
            }
        }
        let agents: Vec<SnapshotAgentRow> = sqlx::query_as(
            "SELECT a.id, a.user_id, a.entra_id, a.name, a.emailaddress, a.phonenumber, a.jobtitle, a.creationtype, \
             m.entra_id AS linemanager_entra_id, t.name AS default_team, a.licence_type, a.inactive, \
             a.inactive_reason, a.keep_active FROM agents a LEFT JOIN agents m ON m.id = a.linemanager_id \
             LEFT JOIN teams t ON t.id = a.default_team_id WHERE a.connection_id = $1 AND a.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for a in agents {
            people.agents.insert(
                a.entra_id,
                AgentSnapshot {
                    id: a.id,
                    user_id: a.user_id,
                    name: a.name,
                    emailaddress: a.emailaddress,
                    phonenumber: a.phonenumber,
                    jobtitle: a.jobtitle,
                    creationtype: a.creationtype,
                    linemanager_entra_id: a.linemanager_entra_id,
                    default_team: a.default_team,
                    licence_type: LicenceType::parse(&a.licence_type),
                    inactive: a.inactive,
                    inactive_reason: a.inactive_reason,
                    keep_active: a.keep_active,
                    roles: BTreeMap::new(),
                    teams: BTreeMap::new(),
                    cabs: BTreeMap::new(),
                },
            );
        }
        let roles: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.entra_id, r.name, g.source FROM agent_roles g JOIN agents a ON a.id = g.agent_id \
             JOIN roles r ON r.id = g.role_id WHERE a.connection_id = $1 AND a.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for (entra_id, role, source) in roles {
            if let Some(a) = people.agents.get_mut(&entra_id) {
                a.roles.insert(role, Source::parse(&source));
            }
        }
        let teams: Vec<(String, String, bool, bool, bool, String)> = sqlx::query_as(
            "SELECT a.entra_id, t.name, m.can_be_assigned, m.sees_unassigned, m.sees_other_agents, m.source \
             FROM agent_teams m JOIN agents a ON a.id = m.agent_id JOIN teams t ON t.id = m.team_id \
             WHERE a.connection_id = $1 AND a.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for (entra_id, team, can_be_assigned, sees_unassigned, sees_other_agents, source) in teams {
            if let Some(a) = people.agents.get_mut(&entra_id) {
                let flags = TeamFlags {
                    can_be_assigned,
                    sees_unassigned,
                    sees_other_agents,
                };
                a.teams.insert(team, (flags, Source::parse(&source)));
            }
        }
        let cabs: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT a.entra_id, c.name, r.name, m.source FROM cab_members m JOIN agents a ON a.id = m.agent_id \
             JOIN cabs c ON c.id = m.cab_id LEFT JOIN cab_roles r ON r.id = m.cab_role_id \
             WHERE a.connection_id = $1 AND a.entra_id IS NOT NULL",
        )
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        for (entra_id, cab, role, source) in cabs {
            if let Some(a) = people.agents.get_mut(&entra_id) {
                a.cabs.insert(cab, (role, Source::parse(&source)));
            }
        }
        let unlinked: Vec<(i64, String, Option<String>, Option<String>, Option<String>, Json<BTreeMap<String, String>>)> =
            sqlx::query_as(
                "SELECT id, name, emailaddress, login, employee_number, custom_fields FROM users WHERE entra_id IS NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
        people.unlinked_users = unlinked
            .into_iter()
            .map(
                |(id, name, emailaddress, login, employee_number, custom)| Unlinked {
                    id,
                    name,
                    emailaddress,
                    login,
                    employee_number,
                    custom_fields: custom.0,
                },
            )
            .collect();
        let unlinked: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, name, emailaddress, user_id FROM agents WHERE entra_id IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        people.unlinked_agents = unlinked
            .into_iter()
            .map(|(id, name, emailaddress, user_id)| {
                let record = Unlinked {
                    id,
                    name,
                    emailaddress,
                    login: None,
                    employee_number: None,
                    custom_fields: BTreeMap::new(),
                };
                (record, user_id)
            })
            .collect();
        tx.commit().await?;
        Ok(people)
    }

    async fn apply(
        &self,
        batch: &ApplyBatch,
        run_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut applied = Applied::default();
        for (client, site) in &batch.new_sites {
            sqlx::query(
                "INSERT INTO sites (client_id, name, origin) SELECT id, $2, 'mapping' FROM clients WHERE name = $1 \
                 ON CONFLICT (client_id, name) DO NOTHING",
            )
            .bind(client)
            .bind(site)
            .execute(&mut *tx)
            .await?;
        }
        let connection = batch.connection_id.as_str();
        for person in &batch.people {
            let mut user_id = None;
            if let Some((record, write)) = &person.user {
                let id =
                    write_user(&mut tx, connection, &person.entra_id, record, write, now).await?;
                if !matches!(record, RecordWrite::Existing(_)) {
                    applied.users.insert(person.entra_id.clone(), id);
                }
                user_id = Some(id);
            }
            if let Some((record, write)) = &person.agent {
                let id = write_agent(
                    &mut tx,
                    connection,
                    &person.entra_id,
                    user_id,
                    record,
                    write,
                    now,
                    &mut applied,
                )
                .await?;
                if !matches!(record, RecordWrite::Existing(_)) {
                    applied.agents.insert(person.entra_id.clone(), id);
                }
            }
        }
        insert_log(&mut tx, &batch.log, Some(run_id)).await?;
        for entra_id in &batch.evaluated {
            sqlx::query(
                "UPDATE entra_users SET pending = NULL WHERE connection_id = $1 AND entra_id = $2",
            )
            .bind(connection)
            .bind(entra_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn start_run(
        &self,
        connection_id: &str,
        kind: RunKind,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sync_runs (connection_id, kind, trigger, status, started_at, counts) \
             VALUES ($1, $2, $3, 'running', $4, $5) RETURNING id",
        )
        .bind(connection_id)
        .bind(kind.as_str())
        .bind(trigger)
        .bind(now)
        .bind(Json(BTreeMap::<String, u64>::new()))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_runs SET status = $2, ended_at = $3, counts = $4, graph_requests = $5, graph_throttles = $6, \
             error = $7 WHERE id = $1",
        )
        .bind(run_id)
        .bind(end.status.as_str())
        .bind(now)
        .bind(Json(&end.counts))
        .bind(i64::try_from(end.graph_requests).unwrap_or(i64::MAX))
        .bind(i64::try_from(end.graph_throttles).unwrap_or(i64::MAX))
        .bind(&end.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn runs(
        &self,
        connection_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE ($1 IS NULL OR connection_id = $1) ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<RunDbRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(connection_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(RunRow::from).collect())
    }

    async fn run(&self, run_id: i64) -> Result<RunRow, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1");
        let row: Option<RunDbRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(RunRow::from)
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))
    }

    async fn approve_run(
        &self,
        run_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE sync_runs SET approved_at = $2, approved_by = $3 WHERE id = $1 AND status = 'quarantined' \
             AND approved_at IS NULL",
        )
        .bind(run_id)
        .bind(now)
        .bind(by)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "run {run_id} is not a quarantined run awaiting approval"
            )))
        }
    }

    async fn inbound_log(&self, query: &LogQuery) -> Result<Vec<InboundRow>, StoreError> {
        let rows: Vec<LogDbRow> = sqlx::query_as(
            "SELECT id, run_id, connection_id, source, logged_at, entra_id, upn, target, notification, matched, action, \
             changes, message FROM inbound_log WHERE ($1 IS NULL OR connection_id = $1) AND ($2 IS NULL OR run_id = $2) \
             AND ($3 IS NULL OR lower(upn) = lower($3)) AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR logged_at >= $5) ORDER BY id DESC LIMIT $6",
        )
        .bind(&query.connection_id)
        .bind(query.run_id)
        .bind(&query.upn)
        .bind(&query.action)
        .bind(query.since)
        .bind(i64::from(query.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| InboundRow {
                id: r.id,
                run_id: r.run_id,
                connection_id: r.connection_id,
                source: r.source,
                logged_at: r.logged_at,
                entra_id: r.entra_id,
                upn: r.upn,
                target: r.target,
                notification: r.notification,
                matched: r.matched.0,
                action: r.action,
                changes: r.changes.0,
                message: r.message,
            })
            .collect())
    }

    async fn log(&self, rows: &[InboundRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_log(&mut tx, rows, None).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_inbound_log(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM inbound_log WHERE logged_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
