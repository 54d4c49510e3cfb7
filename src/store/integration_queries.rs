// The integration-state queries: delegated tokens, the people snapshot, `apply`, keep-active
// overrides and leases (the `integration` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{ConnectionId, EntraId, RunId};
use crate::store::integration::*;
use crate::store::lease::{Claim, Lease, LeaseHolder};
use crate::store::records::SealedToken;
use crate::store::writes::*;
use crate::store::{Integration, KeepActiveChange, KeepActiveOutcome, StoreError};

use super::apply::{link_reports, write_agent, write_user};
use super::create::{Ids, create_agents, create_users};
use super::run_log::insert_log;

type Tx<'a> = sqlx::Transaction<'a, Db>;

/// Clears the pending mark of people evaluated in this transaction.
async fn clear_pending(
    tx: &mut Tx<'_>,
    connection: &str,
    ids: &[EntraId],
) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        let mut delete =
            sqlx::QueryBuilder::<Db>::new("DELETE FROM entra_pending WHERE connection_id = ");
        delete
            .push_bind(connection.to_owned())
            .push(" AND entra_id");
        D::push_in(&mut delete, chunk.iter().map(|id| id.0.clone()));
        delete.build().persistent(false).execute(&mut **tx).await?;
    }
    Ok(())
}

#[async_trait]
impl Integration for Backend {
    async fn delegated_token(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<SealedToken>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
            "SELECT ciphertext, nonce, key_id FROM delegated_tokens WHERE connection_id = $1",
        )
        .bind(connection_id.as_str())
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
        connection_id: &ConnectionId,
        token: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO delegated_tokens (connection_id, ciphertext, nonce, key_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (connection_id) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, \
             key_id = excluded.key_id, updated_at = excluded.updated_at",
        )
        .bind(connection_id.as_str())
        .bind(&token.ciphertext)
        .bind(&token.nonce)
        .bind(&token.key_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn people(&self, connection_id: &ConnectionId) -> Result<People, StoreError> {
        super::snapshot::people(&self.pool, connection_id, None).await
    }

    async fn people_of(
        &self,
        connection_id: &ConnectionId,
        entra_ids: &[EntraId],
    ) -> Result<People, StoreError> {
        let mut people = People::default();
        for chunk in entra_ids.chunks(500) {
            let part = super::snapshot::people(&self.pool, connection_id, Some(chunk)).await?;
            people.users.extend(part.users);
            people.agents.extend(part.agents);
        }
        Ok(people)
    }

    async fn unlinked(&self) -> Result<(Vec<Unlinked>, Vec<(Unlinked, i64)>), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let found = super::snapshot::unlinked(&mut tx).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn linked_count(&self, connection_id: &ConnectionId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE connection_id = $1")
            .bind(connection_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn agent_ids(&self, connection_id: &ConnectionId) -> Result<Vec<EntraId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT entra_id FROM agents WHERE connection_id = $1 AND entra_id IS NOT NULL",
        )
        .bind(connection_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(EntraId).collect())
    }

    fn parallel_writes(&self) -> usize {
        D::parallel_writes(&self.pool)
    }

    async fn apply(
        &self,
        batch: &ApplyBatch,
        run_id: RunId,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
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
        let ids = Ids::load(&mut tx, connection).await?;
        // New records go in with multi-row inserts; existing and adopted ones change one by one.
        let new_users: Vec<(&str, &NewRecordUser, &UserWrite)> = batch
            .people
            .iter()
            .filter_map(|p| match &p.user {
                Some((RecordWrite::Create(new), write)) => Some((p.entra_id.as_str(), new, write)),
                _ => None,
            })
            .collect();
        applied.users = create_users(&mut tx, connection, &new_users, &ids, now).await?;
        let mut user_ids: BTreeMap<EntraId, i64> = applied.users.clone();
        for person in &batch.people {
            let (id, adopt) = match &person.user {
                Some((RecordWrite::Existing(id), _)) => (*id, false),
                Some((RecordWrite::Adopt(id), _)) => (*id, true),
                _ => continue,
            };
            if let Some((_, write)) = &person.user {
                let entra_id = person.entra_id.as_str();
                write_user(&mut tx, connection, entra_id, id, adopt, write, now).await?;
            }
            if adopt {
                applied.users.insert(person.entra_id.clone(), id);
            }
            user_ids.insert(person.entra_id.clone(), id);
        }
        let mut new_agents = Vec::new();
        for person in &batch.people {
            if let Some((RecordWrite::Create(new), write)) = &person.agent {
                let user_id = new
                    .user_id
                    .or_else(|| user_ids.get(&person.entra_id).copied())
                    .ok_or_else(|| {
                        StoreError::Conflict(format!(
                            "agent {} has no user record to link to",
                            person.entra_id
                        ))
                    })?;
                new_agents.push((person.entra_id.as_str(), new, write, user_id));
            }
        }
        applied.agents = create_agents(&mut tx, connection, &new_agents, &ids, now).await?;
        for person in &batch.people {
            let (id, adopt) = match &person.agent {
                Some((RecordWrite::Existing(id), _)) => (*id, false),
                Some((RecordWrite::Adopt(id), _)) => (*id, true),
                _ => continue,
            };
            if let Some((_, write)) = &person.agent {
                write_agent(
                    &mut tx,
                    connection,
                    person.entra_id.as_str(),
                    id,
                    adopt,
                    write,
                    now,
                    &mut applied,
                )
                .await?;
            }
            if adopt {
                applied.agents.insert(person.entra_id.clone(), id);
            }
        }
        link_reports(&mut tx, connection, applied.agents.keys()).await?;
        insert_log(&mut tx, &batch.log, Some(run_id)).await?;
        clear_pending(&mut tx, connection, &batch.evaluated).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn set_keep_active(
        &self,
        change: &KeepActiveChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<KeepActiveOutcome, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let outcome = super::keep_active::set(&mut tx, change, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &LeaseHolder,
        ttl: std::time::Duration,
    ) -> Result<Claim, StoreError> {
        self.claim_lease(name, holder, ttl).await
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.renew_held_lease(lease, ttl).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.release_held_lease(lease).await
    }

    fn fenced(&self, lease: &Lease) -> std::sync::Arc<dyn crate::store::Store> {
        std::sync::Arc::new(self.with_fence(lease))
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Some(sql) = D::ANALYZE_SQL {
            sqlx::query(sql).execute(&self.pool).await?;
        }
        Ok(())
    }
}
