// The Entra mirror's queries: delta state, mirrored users and groups, memberships and pending
// marks (the `entra_mirror` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use crate::ids::{ConnectionId, EntraId};
use crate::mirror::{GroupDelta, MirrorUser, Notification, Removal};
use crate::store::error::column;
use crate::store::rows::Column;
use crate::store::{DeltaState, EntraMirror, MemberMarks, MirrorScope, StoreError};

type Tx<'a> = sqlx::Transaction<'a, Db>;

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
    /// From `entra_pending`, when the query joins it.
    #[sqlx(default)]
    pending: Option<String>,
}

impl MirrorRow {
    fn into_user(self) -> Result<(MirrorUser, Option<Notification>), StoreError> {
        let pending = match self.pending.as_deref() {
            Some(raw) => Some(Notification::parse(raw).ok_or_else(|| {
                StoreError::unreadable("entra_pending", "notification", raw, "notification")
            })?),
            None => None,
        };
        let removed =
            match self.removed.as_deref() {
                Some(raw) => Some(Removal::parse(raw).ok_or_else(|| {
                    StoreError::unreadable("entra_users", "removed", raw, "removal")
                })?),
                None => None,
            };
        let user = MirrorUser {
            entra_id: self.entra_id,
            attributes: self.attributes.0,
            removed,
        };
        Ok((user, pending))
    }
}

/// The stored mark (`entra_pending.notification`) combined with the new one
/// (`excluded.notification`) by [`Notification::then`], as an SQL expression for an upsert: the
/// pairs whose result is not simply the new mark are spelled out from the Rust rule itself, so
/// the store and the sync cannot disagree.
fn combined_mark() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut sql =
            String::from("CASE entra_pending.notification || '>' || excluded.notification");
        for earlier in Notification::ALL {
            for later in Notification::ALL {
                let combined = earlier.then(later);
                if combined != later {
                    sql.push_str(&format!(
                        " WHEN '{}>{}' THEN '{}'",
                        earlier.as_str(),
                        later.as_str(),
                        combined.as_str()
                    ));
                }
            }
        }
        sql.push_str(" ELSE excluded.notification END");
        sql
    });
    &SQL
}

async fn save_state(tx: &mut Tx<'_>, s: &DeltaState, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delta_states (connection_id, chain, fingerprint, delta_link, next_link, round_id, \
         round_initial, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (connection_id, chain) DO UPDATE SET fingerprint = excluded.fingerprint, \
         delta_link = excluded.delta_link, next_link = excluded.next_link, round_id = excluded.round_id, \
         round_initial = excluded.round_initial, updated_at = excluded.updated_at",
    )
    .bind(s.connection_id.as_str())
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

/// Marks mirrored, present users pending as `updated` (a mark already there is kept: it is at
/// least as telling).
///
/// Marks are taken in Entra-id order: concurrent page transactions then never wait on each
/// other's marks in opposite orders.
async fn touch_many(
    tx: &mut Tx<'_>,
    connection: &str,
    ids: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let ids: Vec<&String> = ids.iter().collect();
    for chunk in ids.chunks(500) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO entra_pending (connection_id, entra_id, notification) SELECT connection_id, entra_id, ",
        );
        insert
            .push_bind(Notification::Updated.as_str())
            .push(" FROM entra_users WHERE removed IS NULL AND connection_id = ")
            .push_bind(connection.to_owned())
            .push(" AND entra_id");
        D::push_in(&mut insert, chunk.iter().map(|id| (*id).clone()));
        insert.push(" ORDER BY entra_id ON CONFLICT (connection_id, entra_id) DO NOTHING");
        insert.build().persistent(false).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Everyone below `groups` in the mirror: their members, the members of their member groups,
/// and so on down, each group once (a cycle of groups ends). When such a group is deleted,
/// leaves or joins a group, or is reset, what these people reach through it changes, so they
/// are the ones to mark. One query per nesting level; only group members lead to the next one.
async fn members_within(
    tx: &mut Tx<'_>,
    connection: &str,
    groups: impl IntoIterator<Item = String>,
) -> Result<BTreeSet<String>, StoreError> {
    let mut seen: BTreeSet<String> = groups.into_iter().collect();
    let mut level: Vec<String> = seen.iter().cloned().collect();
    let mut members = BTreeSet::new();
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(500) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT member_id, member_type FROM entra_memberships WHERE connection_id = ",
            );
            query.push_bind(connection.to_owned()).push(" AND group_id");
            D::push_in(&mut query, chunk.iter().cloned());
            let rows: Vec<(String, String)> = query
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut **tx)
                .await?;
            for (member, kind) in rows {
                if kind == "group" && seen.insert(member.clone()) {
                    next.push(member.clone());
                }
                members.insert(member);
            }
        }
        level = next;
    }
    Ok(members)
}

#[async_trait]
impl EntraMirror for Backend {
    async fn delta_state(
        &self,
        connection_id: &ConnectionId,
        chain: &str,
    ) -> Result<Option<DeltaState>, StoreError> {
        let row: Option<DeltaRow> = sqlx::query_as(
            "SELECT connection_id, chain, fingerprint, delta_link, next_link, round_id, round_initial \
             FROM delta_states WHERE connection_id = $1 AND chain = $2",
        )
        .bind(connection_id.as_str())
        .bind(chain)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DeltaState {
                connection_id: column("delta_states", "connection_id", &r.connection_id)?,
                chain: r.chain,
                fingerprint: r.fingerprint,
                delta_link: r.delta_link,
                next_link: r.next_link,
                round_id: r.round_id,
                round_initial: r.round_initial,
            })
        })
        .transpose()
    }

    async fn save_delta_state(
        &self,
        state: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        save_state(&mut tx, state, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_delta_states(&self, connection_id: &ConnectionId) -> Result<u64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let cleared = sqlx::query("DELETE FROM delta_states WHERE connection_id = $1")
            .bind(connection_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(cleared)
    }

    async fn mirror_users(
        &self,
        connection_id: &ConnectionId,
        ids: &[EntraId],
    ) -> Result<Vec<MirrorUser>, StoreError> {
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT entra_id, attributes, removed FROM entra_users WHERE connection_id = ",
            );
            query
                .push_bind(connection_id.to_string())
                .push(" AND entra_id");
            D::push_in(&mut query, chunk.iter().map(|id| id.0.clone()));
            let rows = query
                .build_query_as::<MirrorRow>()
                .persistent(false)
                .fetch_all(&self.pool)
                .await?;
            for row in rows {
                users.push(row.into_user()?.0);
            }
        }
        Ok(users)
    }

    async fn commit_users_page(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Rows are written in Entra-id order, as every statement that marks people pending takes
        // them: two transactions of one run (a users page and a groups page) then never wait on
        // each other's rows in opposite orders, which PostgreSQL would end as a deadlock.
        let mut people: Vec<&(MirrorUser, Option<Notification>)> = people.iter().collect();
        people.sort_by(|a, b| a.0.entra_id.cmp(&b.0.entra_id));
        let (_turn, mut tx) = self.begin_write().await?;
        for chunk in people.chunks(D::rows_per_insert(8)) {
            let mut upsert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO entra_users (connection_id, entra_id, upn, attributes, manager_id, removed, seen_round, \
                 updated_at) ",
            );
            let users = || chunk.iter().map(|(user, _)| user);
            D::push_rows(
                &mut upsert,
                vec![
                    Column::same_text(connection_id.as_str(), chunk.len()),
                    Column::text(users().map(|u| u.entra_id.as_str())),
                    Column::text_or_null(users().map(MirrorUser::upn)),
                    Column::json(users().map(|u| &u.attributes)),
                    Column::text_or_null(users().map(MirrorUser::manager_id)),
                    Column::text_or_null(users().map(|u| u.removed.map(Removal::as_str))),
                    Column::int(users().map(|_| round)),
                    Column::same_time(now, chunk.len()),
                ],
            );
            upsert.push(
                " ON CONFLICT (connection_id, entra_id) DO UPDATE SET upn = excluded.upn, \
                 attributes = excluded.attributes, manager_id = excluded.manager_id, removed = excluded.removed, \
                 seen_round = excluded.seen_round, updated_at = excluded.updated_at",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        // A new mark over one not yet evaluated combines with it by the one rule
        // (`Notification::then`): e.g. `created` stays `created` when a later page updates them.
        let marks: Vec<(&str, Notification)> = people
            .iter()
            .filter_map(|(user, n)| Some((user.entra_id.as_str(), (*n)?)))
            .collect();
        for chunk in marks.chunks(D::rows_per_insert(3)) {
            let mut mark = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO entra_pending (connection_id, entra_id, notification) ",
            );
            D::push_rows(
                &mut mark,
                vec![
                    Column::same_text(connection_id.as_str(), chunk.len()),
                    Column::text(chunk.iter().map(|(entra_id, _)| *entra_id)),
                    Column::text(chunk.iter().map(|(_, n)| n.as_str())),
                ],
            );
            mark.push(" ON CONFLICT (connection_id, entra_id) DO UPDATE SET notification = ")
                .push(combined_mark());
            mark.build().execute(&mut *tx).await?;
        }
        save_state(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_missing(
        &self,
        connection_id: &ConnectionId,
        round: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO entra_pending (connection_id, entra_id, notification) SELECT connection_id, entra_id, \
             $3 FROM entra_users WHERE connection_id = $1 AND removed IS NULL \
             AND (seen_round IS NULL OR seen_round <> $2) ORDER BY entra_id \
             ON CONFLICT (connection_id, entra_id) DO UPDATE SET notification = {}",
            combined_mark()
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(connection_id.as_str())
            .bind(round)
            .bind(Notification::RemovedDeleted.as_str())
            .execute(&mut *tx)
            .await?;
        let missing = sqlx::query(
            "UPDATE entra_users SET removed = 'missing', updated_at = $3 \
             WHERE connection_id = $1 AND removed IS NULL AND (seen_round IS NULL OR seen_round <> $2)",
        )
        .bind(connection_id.as_str())
        .bind(round)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(missing)
    }

    async fn commit_groups_page(
        &self,
        connection_id: &ConnectionId,
        reset_groups: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        // Everyone whose memberships this page changes, marked once at the end. Whoever is below
        // a group whose rows go is read before they go.
        let mut changed = members_within(
            &mut tx,
            connection_id.as_str(),
            reset_groups.iter().cloned(),
        )
        .await?;
        for group in reset_groups {
            sqlx::query("DELETE FROM entra_memberships WHERE connection_id = $1 AND group_id = $2")
                .bind(connection_id.as_str())
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        // A group can appear on several pages: its last name, address and state win, as if each
        // appearance were written in turn.
        #[derive(Default)]
        struct Seen<'a> {
            name: Option<&'a str>,
            mail: Option<&'a str>,
            mail_enabled: Option<bool>,
            removed: bool,
        }
        let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
        for group in groups {
            let last = seen.entry(&group.id).or_default();
            last.name = group.display_name.as_deref().or(last.name);
            last.mail = group.mail.as_deref().or(last.mail);
            last.mail_enabled = group.mail_enabled.or(last.mail_enabled);
            last.removed = group.removed;
        }
        let seen: Vec<_> = seen.into_iter().collect();
        for chunk in seen.chunks(D::rows_per_insert(7)) {
            let mut upsert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO entra_groups (connection_id, entra_id, display_name, mail, mail_enabled, removed, updated_at) ",
            );
            D::push_rows(
                &mut upsert,
                vec![
                    Column::same_text(connection_id.as_str(), chunk.len()),
                    Column::text(chunk.iter().map(|(id, _)| *id)),
                    Column::text_or_null(chunk.iter().map(|(_, g)| g.name)),
                    Column::text_or_null(chunk.iter().map(|(_, g)| g.mail)),
                    Column::bool_or_null(chunk.iter().map(|(_, g)| g.mail_enabled)),
                    Column::text_or_null(chunk.iter().map(|(_, g)| g.removed.then_some("deleted"))),
                    Column::same_time(now, chunk.len()),
                ],
            );
            upsert.push(
                " ON CONFLICT (connection_id, entra_id) DO UPDATE SET \
                 display_name = COALESCE(excluded.display_name, entra_groups.display_name), \
                 mail = COALESCE(excluded.mail, entra_groups.mail), \
                 mail_enabled = COALESCE(excluded.mail_enabled, entra_groups.mail_enabled), \
                 removed = excluded.removed, updated_at = excluded.updated_at",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        for group in groups {
            if group.removed {
                let below =
                    members_within(&mut tx, connection_id.as_str(), [group.id.clone()]).await?;
                changed.extend(below);
                sqlx::query(
                    "DELETE FROM entra_memberships WHERE connection_id = $1 AND group_id = $2",
                )
                .bind(connection_id.as_str())
                .bind(&group.id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            // Bulk: the members that were really new (or really gone) come back, and only those
            // people are marked for evaluation (new members wait for the chain's end with
            // `MemberMarks::Later`).
            let mut nested: Vec<String> = Vec::new();
            for chunk in group.added.chunks(D::rows_per_insert(4)) {
                let mut insert = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO entra_memberships (connection_id, group_id, member_id, member_type) ",
                );
                D::push_rows(
                    &mut insert,
                    vec![
                        Column::same_text(connection_id.as_str(), chunk.len()),
                        Column::same_text(&group.id, chunk.len()),
                        Column::text(chunk.iter().map(|(member, _)| member.as_str())),
                        Column::text(chunk.iter().map(|(_, kind)| *kind)),
                    ],
                );
                insert.push(" ON CONFLICT DO NOTHING");
                if marks == MemberMarks::Later {
                    // Nobody is marked now: the rows that were really new need not come back.
                    insert.build().execute(&mut *tx).await?;
                    continue;
                }
                insert.push(" RETURNING member_id, member_type");
                let rows: Vec<(String, String)> =
                    insert.build_query_as().fetch_all(&mut *tx).await?;
                for (member, kind) in rows {
                    if kind == "group" {
                        nested.push(member.clone());
                    }
                    changed.insert(member);
                }
            }
            let removed: Vec<&String> = group.removed_members.iter().collect();
            for chunk in removed.chunks(200) {
                let mut delete = sqlx::QueryBuilder::<Db>::new(
                    "DELETE FROM entra_memberships WHERE connection_id = ",
                );
                delete
                    .push_bind(connection_id.to_string())
                    .push(" AND group_id = ")
                    .push_bind(group.id.clone());
                delete.push(" AND member_id");
                D::push_in(&mut delete, chunk.iter().map(|m| (*m).clone()));
                delete.push(" RETURNING member_id, member_type");
                let rows: Vec<(String, String)> = delete
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                for (member, kind) in rows {
                    if kind == "group" {
                        nested.push(member.clone());
                    }
                    changed.insert(member);
                }
            }
            if !nested.is_empty() {
                changed.extend(members_within(&mut tx, connection_id.as_str(), nested).await?);
            }
        }
        touch_many(&mut tx, connection_id.as_str(), &changed).await?;
        save_state(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_group_members(
        &self,
        connection_id: &ConnectionId,
        groups: &[String],
        checkpoint: &DeltaState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let mut mark = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO entra_pending (connection_id, entra_id, notification) SELECT u.connection_id, u.entra_id, ",
        );
        mark.push_bind(Notification::Updated.as_str())
            .push(" FROM entra_users u WHERE u.removed IS NULL AND u.connection_id = ")
            .push_bind(connection_id.to_string())
            .push(" AND u.entra_id IN (SELECT m.member_id FROM entra_memberships m WHERE m.connection_id = ")
            .push_bind(connection_id.to_string())
            .push(" AND m.group_id");
        D::push_in(&mut mark, groups.iter().cloned());
        mark.push(
            " UNION SELECT c.member_id FROM entra_memberships p JOIN entra_memberships c \
             ON c.connection_id = p.connection_id AND c.group_id = p.member_id \
             WHERE p.member_type = 'group' AND p.connection_id = ",
        )
        .push_bind(connection_id.to_string())
        .push(" AND p.group_id");
        D::push_in(&mut mark, groups.iter().cloned());
        mark.push(") ORDER BY u.entra_id ON CONFLICT (connection_id, entra_id) DO NOTHING");
        mark.build().persistent(false).execute(&mut *tx).await?;
        save_state(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn memberships(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT group_id, member_id, member_type FROM entra_memberships WHERE connection_id = $1")
            .bind(connection_id.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn mirror_groups(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT entra_id, display_name FROM entra_groups WHERE connection_id = $1 AND removed IS NULL",
        )
        .bind(connection_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| (id, name.unwrap_or_default()))
            .collect())
    }

    async fn mirror_page(
        &self,
        connection_id: &ConnectionId,
        after: &str,
        limit: u32,
        scope: MirrorScope,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        // Each shape walks one primary key in order and probes the other table per row, so the
        // plan never depends on statistics (a join the planner turned around scanned the whole
        // mirror for every page on PostgreSQL).
        let sql = match scope {
            MirrorScope::Pending => {
                "SELECT u.entra_id, u.attributes, u.removed, p.notification AS pending FROM \
                 (SELECT entra_id, notification FROM entra_pending WHERE connection_id = $1 AND entra_id > $2 \
                 ORDER BY entra_id LIMIT $3) p JOIN entra_users u ON u.connection_id = $1 AND u.entra_id = p.entra_id \
                 ORDER BY p.entra_id"
            }
            MirrorScope::Evaluable => {
                "SELECT u.entra_id, u.attributes, u.removed, (SELECT p.notification FROM entra_pending p \
                 WHERE p.connection_id = u.connection_id AND p.entra_id = u.entra_id) AS pending \
                 FROM entra_users u WHERE u.connection_id = $1 AND u.entra_id > $2 AND (u.removed IS NULL \
                 OR EXISTS (SELECT 1 FROM entra_pending p WHERE p.connection_id = u.connection_id \
                 AND p.entra_id = u.entra_id)) ORDER BY u.entra_id LIMIT $3"
            }
            MirrorScope::All => {
                "SELECT u.entra_id, u.attributes, u.removed, (SELECT p.notification FROM entra_pending p \
                 WHERE p.connection_id = u.connection_id AND p.entra_id = u.entra_id) AS pending \
                 FROM entra_users u WHERE u.connection_id = $1 AND u.entra_id > $2 ORDER BY u.entra_id LIMIT $3"
            }
        };
        let rows: Vec<MirrorRow> = sqlx::query_as(sql)
            .bind(connection_id.as_str())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(MirrorRow::into_user).collect()
    }

    async fn group_links(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT group_id, member_id, member_type FROM entra_memberships WHERE connection_id = $1 \
             AND member_type = 'group'",
        )
        .bind(connection_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn memberships_for(
        &self,
        connection_id: &ConnectionId,
        member_ids: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut rows = Vec::new();
        for chunk in member_ids.chunks(500) {
            // People are user members: the member index alone answers this.
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT group_id, member_id FROM entra_memberships WHERE connection_id = ",
            );
            query
                .push_bind(connection_id.to_string())
                .push(" AND member_id");
            D::push_in(&mut query, chunk.iter().map(|id| id.0.clone()));
            rows.extend(
                query
                    .build_query_as::<(String, String)>()
                    .persistent(false)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(group, member)| (group, member, "user".to_owned())),
            );
        }
        Ok(rows)
    }
}
