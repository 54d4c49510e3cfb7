// Tickets and their followers (the `followers` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::store::StoreError;
use crate::store::followers::{Followers, ImportedPerson, MirrorGroupMail};
use chrono::{DateTime, Utc};

use crate::store::records::{CopyKind, Follower, Ticket, TicketFollower, TicketStatus};

#[async_trait]
impl Followers for Backend {
    async fn imported_people(
        &self,
        connection_id: &str,
        ids: &[String],
    ) -> Result<Vec<ImportedPerson>, StoreError> {
        let mut people: BTreeMap<String, ImportedPerson> = BTreeMap::new();
        for chunk in ids.chunks(500) {
            for (select, is_agent) in [
                (
                    "SELECT entra_id, id FROM users WHERE connection_id = ",
                    false,
                ),
                (
                    "SELECT entra_id, id FROM agents WHERE connection_id = ",
                    true,
                ),
            ] {
                let mut query = sqlx::QueryBuilder::<Db>::new(select);
                query
                    .push_bind(connection_id.to_owned())
                    .push(" AND entra_id");
                D::push_in(&mut query, chunk.iter().cloned());
                let rows: Vec<(String, i64)> = query
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&self.pool)
                    .await?;
                for (entra_id, id) in rows {
                    let person = people
                        .entry(entra_id.clone())
                        .or_insert_with(|| ImportedPerson {
                            entra_id,
                            user_id: None,
                            agent_id: None,
                        });
                    if is_agent {
                        person.agent_id = Some(id);
                    } else {
                        person.user_id = Some(id);
                    }
                }
            }
        }
        Ok(people.into_values().collect())
    }

    async fn add_followers(
        &self,
        ticket_id: i64,
        followers: &[TicketFollower],
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let ticket: Option<(i64,)> = sqlx::query_as("SELECT id FROM tickets WHERE id = $1")
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await?;
        if ticket.is_none() {
            return Err(StoreError::NotFound(format!("ticket {ticket_id}")));
        }
        for follower in followers {
            let (user_id, agent_id, email) = follower.follower.columns();
            let copy = follower.copy.as_str();
            sqlx::query(
                "INSERT INTO ticket_followers (ticket_id, user_id, agent_id, email, copy, from_group) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(ticket_id)
            .bind(user_id)
            .bind(agent_id)
            .bind(email)
            .bind(copy)
            .bind(&follower.from_group)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mirror_mail_groups(
        &self,
        connection_id: &str,
    ) -> Result<Vec<MirrorGroupMail>, StoreError> {
        let rows: Vec<(String, Option<String>, Option<String>, Option<bool>)> = sqlx::query_as(
            "SELECT entra_id, display_name, mail, mail_enabled FROM entra_groups \
             WHERE connection_id = $1 AND removed IS NULL ORDER BY entra_id",
        )
        .bind(connection_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(entra_id, display_name, mail, mail_enabled)| MirrorGroupMail {
                    entra_id,
                    display_name,
                    mail,
                    mail_enabled,
                },
            )
            .collect())
    }

    async fn insert_ticket(&self, ticket: &Ticket, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let team: Option<i64> = match &ticket.team {
            Some(team) => Some(
                sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
                    .bind(team)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("team {team:?}")))?,
            ),
            None => None,
        };
        let id = sqlx::query_scalar(
            "INSERT INTO tickets (summary, status, agent_id, team_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
        )
        .bind(&ticket.summary)
        .bind(ticket.status.as_str())
        .bind(ticket.agent_id)
        .bind(team)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        let (id, summary, status, agent_id, team): (
            i64,
            String,
            String,
            Option<i64>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT k.id, k.summary, k.status, k.agent_id, t.name FROM tickets k \
                 LEFT JOIN teams t ON t.id = k.team_id WHERE k.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("ticket {id}")))?;
        let status = if status == "open" {
            TicketStatus::Open
        } else {
            TicketStatus::Closed
        };
        Ok(Ticket {
            id,
            summary,
            status,
            agent_id,
            team,
        })
    }

    async fn add_follower(
        &self,
        ticket_id: i64,
        follower: &TicketFollower,
    ) -> Result<(), StoreError> {
        let (user_id, agent_id, email) = follower.follower.columns();
        let copy = follower.copy.as_str();
        sqlx::query(
            "INSERT INTO ticket_followers (ticket_id, user_id, agent_id, email, copy, from_group) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ticket_id)
        .bind(user_id)
        .bind(agent_id)
        .bind(email)
        .bind(copy)
        .bind(&follower.from_group)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn followers(&self, ticket_id: i64) -> Result<Vec<TicketFollower>, StoreError> {
        let rows: Vec<(Option<i64>, Option<i64>, Option<String>, String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, agent_id, email, copy, from_group FROM ticket_followers WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(user, agent, email, copy, from_group)| {
                let follower = user
                    .map(Follower::User)
                    .or(agent.map(Follower::Agent))
                    .or(email.map(Follower::Email))?;
                let copy = if copy == "bcc" {
                    CopyKind::Bcc
                } else {
                    CopyKind::Cc
                };
                Some(TicketFollower {
                    follower,
                    copy,
                    from_group,
                })
            })
            .collect())
    }
}
