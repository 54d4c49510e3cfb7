// Creating a batch's new user and agent records with multi-row inserts, then the roles, CABs,
// teams and licences they join (the `create` module, which `apply` calls).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ids::EntraId;
use crate::store::StoreError;
use crate::store::error::column;
use crate::store::rows::Column;
use crate::store::writes::*;
use crate::vocab::RecordKind;

use super::apply::{SET_LINEMANAGER_SQL, role_table};

type Tx<'a> = sqlx::Transaction<'a, Db>;

/// Names → row ids of the reference data a batch writes against, read once per batch.
#[derive(Default)]
pub(super) struct Ids {
    sites: BTreeMap<(String, String), i64>,
    roles: BTreeMap<(RecordKind, String), i64>,
    teams: BTreeMap<String, i64>,
    cabs: BTreeMap<String, i64>,
    cab_roles: BTreeMap<(String, String), i64>,
    licences: BTreeMap<String, i64>,
}

impl Ids {
    pub(super) async fn load(tx: &mut Tx<'_>, connection: &str) -> Result<Ids, StoreError> {
        let sites: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.id, c.name, s.name FROM sites s JOIN clients c ON c.id = s.client_id",
        )
        .fetch_all(&mut **tx)
        .await?;
        let roles: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, kind, name FROM roles")
            .fetch_all(&mut **tx)
            .await?;
        let teams: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM teams")
            .fetch_all(&mut **tx)
            .await?;
        let cabs: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM cabs")
            .fetch_all(&mut **tx)
            .await?;
        let cab_roles: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT r.id, c.name, r.name FROM cab_roles r JOIN cabs c ON c.id = r.cab_id",
        )
        .fetch_all(&mut **tx)
        .await?;
        let licences: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, sku_id FROM licences WHERE connection_id = $1")
                .bind(connection)
                .fetch_all(&mut **tx)
                .await?;
        Ok(Ids {
            sites: sites.into_iter().map(|(id, c, s)| ((c, s), id)).collect(),
            roles: roles
                .into_iter()
                .map(|(id, kind, name)| Ok(((column("roles", "kind", &kind)?, name), id)))
                .collect::<Result<_, StoreError>>()?,
            teams: teams.into_iter().map(|(id, n)| (n, id)).collect(),
            cabs: cabs.into_iter().map(|(id, n)| (n, id)).collect(),
            cab_roles: cab_roles
                .into_iter()
                .map(|(id, c, r)| ((c, r), id))
                .collect(),
            licences: licences.into_iter().map(|(id, s)| (s, id)).collect(),
        })
    }
}

/// Creates the batch's new user records with multi-row inserts: the row with every field, then
/// its roles, CABs and licence links. Returns Entra id → new row id.
pub(super) async fn create_users(
    tx: &mut Tx<'_>,
    connection: &str,
    people: &[(&str, &NewRecordUser, &UserWrite)],
    ids: &Ids,
    now: DateTime<Utc>,
) -> Result<BTreeMap<EntraId, i64>, StoreError> {
    let mut creating = Creating::new(RecordKind::User, connection, ids, now);
    for chunk in people.chunks(D::rows_per_insert(UserField::ALL.len() + 8)) {
        let insert = sqlx::QueryBuilder::<Db>::new(format!(
            "INSERT INTO users ({}, site_id, custom_fields, {RECORD_COLUMNS}) ",
            UserField::ALL.map(UserField::column).join(", ")
        ));
        let mut columns: Vec<Column> = UserField::ALL
            .into_iter()
            .map(|field| {
                Column::text_or_null(chunk.iter().map(|(_, new, write)| {
                    let value = write
                        .fields
                        .iter()
                        .find(|(f, _)| *f == field)
                        .and_then(|(_, v)| v.clone());
                    if field == UserField::Name {
                        value.or_else(|| Some(new.name.clone()))
                    } else {
                        value
                    }
                }))
            })
            .collect();
        columns.extend([
            Column::int_or_null(chunk.iter().map(|(_, _, write)| {
                write
                    .site
                    .clone()
                    .flatten()
                    .and_then(|s| ids.sites.get(&s).copied())
            })),
            Column::json(chunk.iter().map(|(_, _, write)| {
                write
                    .custom_fields
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
                    .collect::<BTreeMap<&str, &str>>()
            })),
        ]);
        creating.insert(tx, insert, columns, chunk).await?;
    }
    let licences: Vec<(i64, i64)> = people
        .iter()
        .filter_map(|(entra_id, _, write)| Some((creating.id(entra_id)?, write)))
        .flat_map(|(user, write)| {
            let skus = write.licences.iter().flatten();
            skus.filter_map(move |sku| Some((user, *ids.licences.get(sku)?)))
        })
        .collect();
    let head = "INSERT INTO user_licences (user_id, licence_id) ";
    insert_pairs(tx, head, &licences, false).await?;
    creating.finish(tx).await
}

/// Creates the batch's new agent records (linked to `user_ids`), with their roles, teams, CABs
/// and line managers. Returns Entra id → new row id.
pub(super) async fn create_agents(
    tx: &mut Tx<'_>,
    connection: &str,
    people: &[(&str, &NewRecordAgent, &AgentWrite, i64)],
    ids: &Ids,
    now: DateTime<Utc>,
) -> Result<BTreeMap<EntraId, i64>, StoreError> {
    let mut creating = Creating::new(RecordKind::Agent, connection, ids, now);
    for chunk in people.chunks(D::rows_per_insert(14)) {
        let insert = sqlx::QueryBuilder::<Db>::new(format!(
            "INSERT INTO agents (user_id, name, emailaddress, phonenumber, jobtitle, creationtype, default_team_id, \
             licence_type, {RECORD_COLUMNS}) "
        ));
        let field = |write: &AgentWrite, wanted: AgentField| {
            write
                .fields
                .iter()
                .find(|(f, _)| *f == wanted)
                .and_then(|(_, v)| v.clone())
        };
        let text_field = |wanted: AgentField| {
            Column::text_or_null(
                chunk
                    .iter()
                    .map(move |(_, _, write, _)| field(write, wanted)),
            )
        };
        let columns = vec![
            Column::int(chunk.iter().map(|(_, _, _, user_id)| *user_id)),
            Column::text(chunk.iter().map(|(_, new, write, _)| {
                field(write, AgentField::Name).unwrap_or_else(|| new.name.clone())
            })),
            text_field(AgentField::Emailaddress),
            text_field(AgentField::Phonenumber),
            text_field(AgentField::Jobtitle),
            text_field(AgentField::Creationtype),
            Column::int_or_null(chunk.iter().map(|(_, _, write, _)| {
                write
                    .default_team
                    .clone()
                    .flatten()
                    .and_then(|t| ids.teams.get(&t).copied())
            })),
            Column::text(chunk.iter().map(|(_, _, write, _)| {
                write
                    .licence_type
                    .unwrap_or(crate::store::LicenceType::Concurrent)
                    .as_str()
            })),
        ];
        creating.insert(tx, insert, columns, chunk).await?;
    }
    let mut teams = Vec::new();
    for (entra_id, _, write, _) in people {
        let Some(agent) = creating.id(entra_id) else {
            continue;
        };
        for (team, flags) in &write.teams_set {
            if let Some(&team_id) = ids.teams.get(team) {
                teams.push((agent, team_id, *flags));
            }
        }
        if let Some(Some(manager)) = &write.linemanager {
            sqlx::query(SET_LINEMANAGER_SQL)
                .bind(agent)
                .bind(connection)
                .bind(manager)
                .execute(&mut **tx)
                .await?;
        }
    }
    for chunk in teams.chunks(D::rows_per_insert(6)) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO agent_teams (agent_id, team_id, can_be_assigned, sees_unassigned, sees_other_agents, source) ",
        );
        D::push_rows(
            &mut insert,
            vec![
                Column::int(chunk.iter().map(|(agent, _, _)| *agent)),
                Column::int(chunk.iter().map(|(_, team, _)| *team)),
                Column::bool(chunk.iter().map(|(_, _, f)| f.can_be_assigned)),
                Column::bool(chunk.iter().map(|(_, _, f)| f.sees_unassigned)),
                Column::bool(chunk.iter().map(|(_, _, f)| f.sees_other_agents)),
                Column::same_text("entra", chunk.len()),
            ],
        );
        insert.build().execute(&mut **tx).await?;
    }
    creating.finish(tx).await
}

/// What creating a user or an agent row needs of one new record beyond the record's own
/// columns: its Entra id, whether it starts inactive, and the roles and CABs it joins.
trait NewRecord {
    fn entra_id(&self) -> &str;
    fn inactive(&self) -> bool;
    fn roles(&self) -> &[String];
    fn cabs(&self) -> &[(String, Option<String>)];
}

/// Both kinds of new record arrive as (Entra id, new record, its write, …).
macro_rules! new_record {
    ($($record:ty),+) => {$(
        impl NewRecord for $record {
            fn entra_id(&self) -> &str {
                self.0
            }
            fn inactive(&self) -> bool {
                self.1.inactive || self.2.inactive == Some(true)
            }
            fn roles(&self) -> &[String] {
                &self.2.roles_added
            }
            fn cabs(&self) -> &[(String, Option<String>)] {
                &self.2.cabs_set
            }
        }
    )+};
}

new_record!(
    (&str, &NewRecordUser, &UserWrite),
    (&str, &NewRecordAgent, &AgentWrite, i64)
);

/// The columns every new user and agent row ends with, in the order `Creating::insert` fills
/// them.
const RECORD_COLUMNS: &str =
    "inactive, inactive_reason, connection_id, entra_id, created_at, updated_at";

/// Creating one batch's new users or new agents: the rows, in chunks, then the role and CAB
/// rows they join, one multi-row insert per table.
struct Creating<'a> {
    kind: RecordKind,
    connection: &'a str,
    ids: &'a Ids,
    now: DateTime<Utc>,
    /// Entra id → new row id.
    created: BTreeMap<EntraId, i64>,
    /// `(record, role)`.
    roles: Vec<(i64, i64)>,
    /// `(cab, record, CAB role)`.
    cabs: Vec<(i64, i64, Option<i64>)>,
}

impl<'a> Creating<'a> {
    fn new(kind: RecordKind, connection: &'a str, ids: &'a Ids, now: DateTime<Utc>) -> Self {
        Self {
            kind,
            connection,
            ids,
            now,
            created: BTreeMap::new(),
            roles: Vec::new(),
            cabs: Vec::new(),
        }
    }

    /// The new row id of `entra_id`, once its chunk is inserted.
    fn id(&self, entra_id: &str) -> Option<i64> {
        self.created.get(entra_id).copied()
    }

    /// Inserts one chunk: `insert` names the record's own columns and then `RECORD_COLUMNS`;
    /// `columns` holds the record's own values. Keeps each new row id and gathers the roles and
    /// CABs its record joins; names the service desk lacks are skipped, as evaluation reported
    /// them already.
    async fn insert<R: NewRecord>(
        &mut self,
        tx: &mut Tx<'_>,
        mut insert: sqlx::QueryBuilder<Db>,
        mut columns: Vec<Column>,
        chunk: &[R],
    ) -> Result<(), StoreError> {
        let rows = chunk.len();
        columns.extend([
            Column::bool(chunk.iter().map(R::inactive)),
            Column::text_or_null(chunk.iter().map(|r| r.inactive().then_some("entra"))),
            Column::same_text(self.connection, rows),
            Column::text(chunk.iter().map(R::entra_id)),
            Column::same_time(self.now, rows),
            Column::same_time(self.now, rows),
        ]);
        D::push_rows(&mut insert, columns);
        insert.push(" RETURNING id, entra_id");
        let ids: Vec<(i64, String)> = insert.build_query_as().fetch_all(&mut **tx).await?;
        self.created
            .extend(ids.into_iter().map(|(id, e)| (EntraId(e), id)));
        for new in chunk {
            let Some(record) = self.id(new.entra_id()) else {
                continue;
            };
            let roles = new.roles().iter();
            self.roles.extend(roles.filter_map(|r| {
                let role = self.ids.roles.get(&(self.kind, r.clone()))?;
                Some((record, *role))
            }));
            for (cab, role) in new.cabs() {
                if let Some(&cab_id) = self.ids.cabs.get(cab) {
                    let role_id = role
                        .as_ref()
                        .and_then(|r| self.ids.cab_roles.get(&(cab.clone(), r.clone())).copied());
                    self.cabs.push((cab_id, record, role_id));
                }
            }
        }
        Ok(())
    }

    /// Inserts the gathered role and CAB rows; returns Entra id → new row id.
    async fn finish(self, tx: &mut Tx<'_>) -> Result<BTreeMap<EntraId, i64>, StoreError> {
        let (table, member) = role_table(self.kind);
        let head = format!("INSERT INTO {table} ({member}, role_id, source) ");
        insert_pairs(tx, &head, &self.roles, true).await?;
        for chunk in self.cabs.chunks(D::rows_per_insert(4)) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                "INSERT INTO cab_members (cab_id, {member}, cab_role_id, source) "
            ));
            D::push_rows(
                &mut insert,
                vec![
                    Column::int(chunk.iter().map(|(cab, _, _)| *cab)),
                    Column::int(chunk.iter().map(|(_, member, _)| *member)),
                    Column::int_or_null(chunk.iter().map(|(_, _, role)| *role)),
                    Column::same_text("entra", chunk.len()),
                ],
            );
            insert.build().execute(&mut **tx).await?;
        }
        Ok(self.created)
    }
}

/// `(a, b)` pairs as multi-row inserts; with `entra`, a third `source = 'entra'` column.
async fn insert_pairs(
    tx: &mut Tx<'_>,
    head: &str,
    pairs: &[(i64, i64)],
    entra: bool,
) -> Result<(), StoreError> {
    for chunk in pairs.chunks(D::rows_per_insert(3)) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(head.to_owned());
        let mut columns = vec![
            Column::int(chunk.iter().map(|(a, _)| *a)),
            Column::int(chunk.iter().map(|(_, b)| *b)),
        ];
        if entra {
            columns.push(Column::same_text("entra", chunk.len()));
        }
        D::push_rows(&mut insert, columns);
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}
