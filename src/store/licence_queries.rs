// Licences and users' links to them (the `licences` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::store::StoreError;
use crate::store::licences::{ImportedUser, LicenceChange, Licences};
use crate::store::records::Licence;

#[derive(sqlx::FromRow)]
struct LicenceRow {
    client: String,
    connection_id: Option<String>,
    sku_id: String,
    part_number: String,
    display_name: String,
    enabled_units: i64,
    warning_units: i64,
    suspended_units: i64,
    consumed_units: i64,
    capability_status: String,
    unsubscribed_at: Option<DateTime<Utc>>,
}

impl From<LicenceRow> for Licence {
    fn from(r: LicenceRow) -> Self {
        Licence {
            client: r.client,
            connection_id: r.connection_id,
            sku_id: r.sku_id,
            part_number: r.part_number,
            display_name: r.display_name,
            enabled_units: r.enabled_units,
            warning_units: r.warning_units,
            suspended_units: r.suspended_units,
            consumed_units: r.consumed_units,
            capability_status: r.capability_status,
            unsubscribed_at: r.unsubscribed_at,
        }
    }
}

const LICENCE_COLUMNS: &str = "c.name AS client, l.connection_id, l.sku_id, l.part_number, \
     l.display_name, l.enabled_units, l.warning_units, l.suspended_units, l.consumed_units, \
     l.capability_status, l.unsubscribed_at";

#[async_trait]
impl Licences for Backend {
    async fn upsert_licence(
        &self,
        licence: &Licence,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let client_id: i64 = sqlx::query_scalar("SELECT id FROM clients WHERE name = $1")
            .bind(&licence.client)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("client {:?}", licence.client)))?;
        let id = sqlx::query_scalar(
            "INSERT INTO licences (client_id, connection_id, sku_id, part_number, display_name, \
             enabled_units, warning_units, suspended_units, consumed_units, capability_status, \
             unsubscribed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11) \
             ON CONFLICT (client_id, sku_id) DO UPDATE SET connection_id = excluded.connection_id, \
             part_number = excluded.part_number, display_name = excluded.display_name, \
             enabled_units = excluded.enabled_units, warning_units = excluded.warning_units, \
             suspended_units = excluded.suspended_units, consumed_units = excluded.consumed_units, \
             capability_status = excluded.capability_status, unsubscribed_at = NULL, \
             updated_at = excluded.updated_at RETURNING id",
        )
        .bind(client_id)
        .bind(&licence.connection_id)
        .bind(&licence.sku_id)
        .bind(&licence.part_number)
        .bind(&licence.display_name)
        .bind(licence.enabled_units)
        .bind(licence.warning_units)
        .bind(licence.suspended_units)
        .bind(licence.consumed_units)
        .bind(&licence.capability_status)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn mark_unsubscribed(
        &self,
        client: &str,
        connection_id: &str,
        subscribed: &[String],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT l.id, l.sku_id FROM licences l JOIN clients c ON c.id = l.client_id \
             WHERE c.name = $1 AND l.connection_id = $2 AND l.unsubscribed_at IS NULL",
        )
        .bind(client)
        .bind(connection_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut marked = 0;
        for (id, sku_id) in rows {
            if subscribed.contains(&sku_id) {
                continue;
            }
            marked += sqlx::query(
                "UPDATE licences SET unsubscribed_at = $2, updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(marked)
    }

    async fn licences(&self, connection_id: &str) -> Result<Vec<Licence>, StoreError> {
        let sql = format!(
            "SELECT {LICENCE_COLUMNS} FROM licences l JOIN clients c ON c.id = l.client_id \
             WHERE l.connection_id = $1 ORDER BY l.sku_id"
        );
        let rows: Vec<LicenceRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(connection_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Licence::from).collect())
    }

    async fn link_user_licence(&self, user_id: i64, licence_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_licences (user_id, licence_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(licence_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user_licences(&self, user_id: i64) -> Result<Vec<Licence>, StoreError> {
        let sql = format!(
            "SELECT {LICENCE_COLUMNS} FROM user_licences ul JOIN licences l ON l.id = ul.licence_id \
             JOIN clients c ON c.id = l.client_id WHERE ul.user_id = $1 ORDER BY l.sku_id"
        );
        let rows: Vec<LicenceRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Licence::from).collect())
    }

    async fn imported_user(
        &self,
        connection_id: &str,
        entra_id: &str,
    ) -> Result<Option<ImportedUser>, StoreError> {
        let row: Option<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT u.id, u.entra_id, COALESCE(m.upn, u.login) FROM users u \
             LEFT JOIN entra_users m ON m.connection_id = u.connection_id AND m.entra_id = u.entra_id \
             WHERE u.connection_id = $1 AND u.entra_id = $2",
        )
        .bind(connection_id)
        .bind(entra_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, entra_id, upn)| ImportedUser { id, entra_id, upn }))
    }

    async fn record_licence_change(&self, change: &LicenceChange<'_>) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let licence: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM licences WHERE connection_id = $1 AND sku_id = $2")
                .bind(change.connection_id)
                .bind(change.sku_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((licence_id,)) = licence else {
            return Err(StoreError::NotFound(format!(
                "licence {} of connection {}",
                change.sku_id, change.connection_id
            )));
        };
        let link = if change.assigned {
            "INSERT INTO user_licences (user_id, licence_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM user_licences WHERE user_id = $1 AND licence_id = $2"
        };
        sqlx::query(link)
            .bind(change.user_id)
            .bind(licence_id)
            .execute(&mut *tx)
            .await?;
        super::run_log::insert_log(&mut tx, std::slice::from_ref(change.log), None).await?;
        tx.commit().await?;
        Ok(())
    }
}
