// Loading a connection's people: the snapshot a run plans against (the `snapshot` module).
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::types::Json;

use crate::ids::{ConnectionId, EntraId};
use crate::store::StoreError;
use crate::store::integration::*;
use crate::store::records::{LicenceType, Source, TeamFlags, UserFields};
use crate::vocab::RecordKind;

#[derive(sqlx::FromRow)]
struct UnlinkedRow {
    id: i64,
    name: String,
    emailaddress: Option<String>,
    login: Option<String>,
    employee_number: Option<String>,
    custom_fields: Json<BTreeMap<String, String>>,
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

/// A query over linked records of `connection`, limited to the Entra ids `ids` when given. `sql`
/// ends with `WHERE {alias}.connection_id = `.
fn scoped(
    sql: impl Into<String>,
    alias: &str,
    connection: &ConnectionId,
    ids: Option<&[EntraId]>,
) -> sqlx::QueryBuilder<Db> {
    let mut query = sqlx::QueryBuilder::<Db>::new(sql);
    query.push_bind(connection.to_string());
    query.push(format!(" AND {alias}.entra_id IS NOT NULL"));
    if let Some(ids) = ids {
        query.push(format!(" AND {alias}.entra_id"));
        D::push_in(&mut query, ids.iter().map(|id| id.0.clone()));
    }
    query
}

/// Role name → source, as user and agent snapshots hold them.
type Roles = BTreeMap<String, Source>;
/// CAB name → (CAB role, source), as user and agent snapshots hold them.
type Cabs = BTreeMap<String, (Option<String>, Source)>;

/// A linked user or agent snapshot, which holds roles and CAB memberships.
trait Member {
    const KIND: RecordKind;
    fn grants(&mut self) -> (&mut Roles, &mut Cabs);
}

impl Member for UserSnapshot {
    const KIND: RecordKind = RecordKind::User;
    fn grants(&mut self) -> (&mut Roles, &mut Cabs) {
        (&mut self.roles, &mut self.cabs)
    }
}

impl Member for AgentSnapshot {
    const KIND: RecordKind = RecordKind::Agent;
    fn grants(&mut self) -> (&mut Roles, &mut Cabs) {
        (&mut self.roles, &mut self.cabs)
    }
}

/// Runs a `scoped` query in the snapshot's transaction.
async fn fetch_scoped<T>(
    tx: &mut sqlx::Transaction<'_, Db>,
    sql: impl Into<String>,
    alias: &str,
    connection: &ConnectionId,
    ids: Option<&[EntraId]>,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    Ok(scoped(sql, alias, connection, ids)
        .build_query_as()
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?)
}

/// Fills the roles and CAB memberships of `records`, the connection's linked users or agents,
/// from their link tables.
async fn load_grants<S: Member>(
    tx: &mut sqlx::Transaction<'_, Db>,
    connection: &ConnectionId,
    ids: Option<&[EntraId]>,
    records: &mut HashMap<EntraId, S>,
) -> Result<(), StoreError> {
    let kind = S::KIND;
    let (table, member, alias) = match kind {
        RecordKind::User => ("users", "user_id", "u"),
        RecordKind::Agent => ("agents", "agent_id", "a"),
    };
    let role_table = format!("{}_roles", kind.as_str());
    let roles_sql = format!(
        "SELECT {alias}.entra_id, r.name, g.source FROM {role_table} g \
         JOIN {table} {alias} ON {alias}.id = g.{member} JOIN roles r ON r.id = g.role_id \
         WHERE {alias}.connection_id = "
    );
    let cabs_sql = format!(
        "SELECT {alias}.entra_id, c.name, r.name, m.source FROM cab_members m \
         JOIN {table} {alias} ON {alias}.id = m.{member} JOIN cabs c ON c.id = m.cab_id \
         LEFT JOIN cab_roles r ON r.id = m.cab_role_id WHERE {alias}.connection_id = "
    );
    let roles: Vec<(String, String, String)> =
        fetch_scoped(tx, roles_sql, alias, connection, ids).await?;
    for (entra_id, role, source) in roles {
        if let Some(record) = records.get_mut(entra_id.as_str()) {
            record.grants().0.insert(role, Source::parse(&source));
        }
    }
    let cabs: Vec<(String, String, Option<String>, String)> =
        fetch_scoped(tx, cabs_sql, alias, connection, ids).await?;
    for (entra_id, cab, role, source) in cabs {
        if let Some(record) = records.get_mut(entra_id.as_str()) {
            record
                .grants()
                .1
                .insert(cab, (role, Source::parse(&source)));
        }
    }
    Ok(())
}

/// The connection's linked people — all of them, or only `ids` — and, for all, the unlinked
/// candidates for matching.
pub(super) async fn people(
    pool: &sqlx::Pool<Db>,
    connection_id: &ConnectionId,
    ids: Option<&[EntraId]>,
) -> Result<People, StoreError> {
    if ids.is_some_and(<[EntraId]>::is_empty) {
        return Ok(People::default());
    }
    let mut tx = pool.begin().await?;
    let users: Vec<SnapshotUserRow> = fetch_scoped(
        &mut tx,
        "SELECT u.id, u.entra_id, c.name AS client, s.name AS site, u.name, u.firstname, u.surname, u.emailaddress, \
         u.login, u.phonenumber, u.mobilenumber, u.jobtitle, u.department, u.employee_number, u.manager, \
         u.creationtype, u.last_sign_in, u.custom_fields, u.inactive, u.inactive_reason, u.keep_active \
         FROM users u LEFT JOIN sites s ON s.id = u.site_id LEFT JOIN clients c ON c.id = s.client_id \
         WHERE u.connection_id = ",
        "u",
        connection_id,
        ids,
    )
    .await?;
    let mut people = People::default();
    for u in users {
        people.users.insert(
            EntraId(u.entra_id),
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
                licences: BTreeSet::new(),
            },
        );
    }
    let licences: Vec<(String, String)> = fetch_scoped(
        &mut tx,
        "SELECT u.entra_id, l.sku_id FROM user_licences ul JOIN users u ON u.id = ul.user_id \
         JOIN licences l ON l.id = ul.licence_id WHERE u.connection_id = ",
        "u",
        connection_id,
        ids,
    )
    .await?;
    for (entra_id, sku) in licences {
        if let Some(u) = people.users.get_mut(entra_id.as_str()) {
            u.licences.insert(sku);
        }
    }
    load_grants(&mut tx, connection_id, ids, &mut people.users).await?;
    let agents: Vec<SnapshotAgentRow> = fetch_scoped(
        &mut tx,
        "SELECT a.id, a.user_id, a.entra_id, a.name, a.emailaddress, a.phonenumber, a.jobtitle, a.creationtype, \
         a.linemanager_entra_id, t.name AS default_team, a.licence_type, a.inactive, \
         a.inactive_reason, a.keep_active FROM agents a \
         LEFT JOIN teams t ON t.id = a.default_team_id WHERE a.connection_id = ",
        "a",
        connection_id,
        ids,
    )
    .await?;
    for a in agents {
        people.agents.insert(
            EntraId(a.entra_id),
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
    load_grants(&mut tx, connection_id, ids, &mut people.agents).await?;
    let teams: Vec<(String, String, bool, bool, bool, String)> = fetch_scoped(
        &mut tx,
        "SELECT a.entra_id, t.name, m.can_be_assigned, m.sees_unassigned, m.sees_other_agents, m.source \
         FROM agent_teams m JOIN agents a ON a.id = m.agent_id JOIN teams t ON t.id = m.team_id \
         WHERE a.connection_id = ",
        "a",
        connection_id,
        ids,
    )
    .await?;
    for (entra_id, team, can_be_assigned, sees_unassigned, sees_other_agents, source) in teams {
        if let Some(a) = people.agents.get_mut(entra_id.as_str()) {
            let flags = TeamFlags {
                can_be_assigned,
                sees_unassigned,
                sees_other_agents,
            };
            a.teams.insert(team, (flags, Source::parse(&source)));
        }
    }
    if ids.is_none() {
        (people.unlinked_users, people.unlinked_agents) = unlinked(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(people)
}

/// Records without an Entra link: candidates for fallback matching.
pub(super) async fn unlinked(
    tx: &mut sqlx::Transaction<'_, Db>,
) -> Result<(Vec<Unlinked>, Vec<(Unlinked, i64)>), StoreError> {
    let unlinked: Vec<UnlinkedRow> = sqlx::query_as(
        "SELECT id, name, emailaddress, login, employee_number, custom_fields FROM users WHERE entra_id IS NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let users = unlinked
        .into_iter()
        .map(|u| Unlinked {
            id: u.id,
            name: u.name,
            emailaddress: u.emailaddress,
            login: u.login,
            employee_number: u.employee_number,
            custom_fields: u.custom_fields.0,
        })
        .collect();
    let unlinked: Vec<(i64, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, name, emailaddress, user_id FROM agents WHERE entra_id IS NULL")
            .fetch_all(&mut **tx)
            .await?;
    let agents = unlinked
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
    Ok((users, agents))
}
