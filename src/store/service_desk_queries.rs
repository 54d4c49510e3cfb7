// The service-desk queries: schema, reference data and the Halo-style records.
//
// Included by `sqlite.rs` and `postgres.rs` (see `dialect.rs`), which compile it once per backend
// with that backend's `D` (its `Dialect`), `Db` and `Backend`. Plain `//` comments, because
// `//!` is an inner attribute, which rustc does not accept in a file `include!`d into a module
// ("an inner attribute is not permitted in this context").

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mapping::ReferenceSpec;
use sqlx::types::Json;

use crate::store::ServiceDesk;
use crate::store::records::*;
use crate::vocab::RecordKind;

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    client: Option<String>,
    site: Option<String>,
    #[sqlx(flatten)]
    fields: UserFields,
    custom_fields: Json<BTreeMap<String, String>>,
    inactive: bool,
    inactive_reason: Option<String>,
    keep_active: bool,
    connection_id: Option<String>,
    entra_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    user_id: i64,
    name: String,
    emailaddress: Option<String>,
    phonenumber: Option<String>,
    jobtitle: Option<String>,
    linemanager_id: Option<i64>,
    default_team: Option<String>,
    licence_type: String,
    creationtype: Option<String>,
    inactive: bool,
    inactive_reason: Option<String>,
    keep_active: bool,
    can_configure_entra: bool,
    connection_id: Option<String>,
    entra_id: Option<String>,
}

fn link(connection_id: Option<String>, entra_id: Option<String>) -> Option<EntraLink> {
    Some(EntraLink {
        connection_id: connection_id?,
        entra_id: entra_id?,
    })
}

fn not_found(what: &str, name: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound(format!("{what} {name}"))
}

async fn insert_names(
    tx: &mut sqlx::Transaction<'_, Db>,
    sql: &'static str,
    names: &[String],
) -> Result<u64, StoreError> {
    let mut created = 0;
    for name in names {
        created += sqlx::query(sql)
            .bind(name)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(created)
}

async fn role_id(
    tx: &mut sqlx::Transaction<'_, Db>,
    kind: RecordKind,
    role: &str,
) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT id FROM roles WHERE kind = $1 AND name = $2")
        .bind(kind.as_str())
        .bind(role)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| not_found(&format!("{} role", kind.as_str()), format!("{role:?}")))
}

async fn team_id(tx: &mut sqlx::Transaction<'_, Db>, team: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
        .bind(team)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| not_found("team", format!("{team:?}")))
}

async fn site_id(
    tx: &mut sqlx::Transaction<'_, Db>,
    client: &str,
    site: &str,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT s.id FROM sites s JOIN clients c ON c.id = s.client_id \
         WHERE c.name = $1 AND s.name = $2",
    )
    .bind(client)
    .bind(site)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found("site", format!("{site:?} of client {client:?}")))
}

#[async_trait]
impl ServiceDesk for Backend {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        D::migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(D::TABLE_NAMES_SQL)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn ensure_reference(
        &self,
        reference: &ReferenceSpec,
    ) -> Result<ReferenceReport, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let mut created = 0;
        created += insert_names(
            &mut tx,
            "INSERT INTO clients (name) VALUES ($1) ON CONFLICT DO NOTHING",
            &reference.clients,
        )
        .await?;
        for site in &reference.sites {
            created += sqlx::query(
                "INSERT INTO sites (client_id, name, origin) \
                 SELECT id, $2, 'config' FROM clients WHERE name = $1 \
                 ON CONFLICT (client_id, name) DO NOTHING",
            )
            .bind(&site.client)
            .bind(&site.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        created += insert_names(
            &mut tx,
            "INSERT INTO roles (kind, name) VALUES ('user', $1) ON CONFLICT DO NOTHING",
            &reference.user_roles,
        )
        .await?;
        created += insert_names(
            &mut tx,
            "INSERT INTO roles (kind, name) VALUES ('agent', $1) ON CONFLICT DO NOTHING",
            &reference.agent_roles,
        )
        .await?;
        created += insert_names(
            &mut tx,
            "INSERT INTO teams (name) VALUES ($1) ON CONFLICT DO NOTHING",
            &reference.teams,
        )
        .await?;
        created += insert_names(
            &mut tx,
            "INSERT INTO custom_fields (name) VALUES ($1) ON CONFLICT DO NOTHING",
            &reference.user_custom_fields,
        )
        .await?;
        for cab in &reference.cabs {
            created += sqlx::query("INSERT INTO cabs (name) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(&cab.name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for role in &cab.roles {
                created += sqlx::query(
                    "INSERT INTO cab_roles (cab_id, name) SELECT id, $2 FROM cabs WHERE name = $1 \
                     ON CONFLICT (cab_id, name) DO NOTHING",
                )
                .bind(&cab.name)
                .bind(role)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        tx.commit().await?;
        Ok(ReferenceReport { created })
    }

    async fn reference(&self) -> Result<Reference, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let clients = sqlx::query_scalar("SELECT name FROM clients ORDER BY name")
            .fetch_all(&mut *tx)
            .await?;
        let sites = sqlx::query_as(
            "SELECT c.name, s.name FROM sites s JOIN clients c ON c.id = s.client_id ORDER BY c.name, s.name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let user_roles =
            sqlx::query_scalar("SELECT name FROM roles WHERE kind = 'user' ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
        let agent_roles =
            sqlx::query_scalar("SELECT name FROM roles WHERE kind = 'agent' ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
        let teams = sqlx::query_scalar("SELECT name FROM teams ORDER BY name")
            .fetch_all(&mut *tx)
            .await?;
        let custom_fields = sqlx::query_scalar("SELECT name FROM custom_fields ORDER BY name")
            .fetch_all(&mut *tx)
            .await?;
        let cab_rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT c.name, r.name FROM cabs c LEFT JOIN cab_roles r ON r.cab_id = c.id ORDER BY c.name, r.name",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut cabs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (cab, role) in cab_rows {
            let roles = cabs.entry(cab).or_default();
            roles.extend(role);
        }
        Ok(Reference {
            clients,
            sites,
            user_roles,
            agent_roles,
            teams,
            cabs,
            custom_fields,
        })
    }

    async fn ensure_connections(
        &self,
        connections: &[ConnectionRow],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        for c in connections {
            sqlx::query(
                "INSERT INTO connections (id, name, tenant_id, client_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, tenant_id = excluded.tenant_id, \
                 client_id = excluded.client_id, updated_at = excluded.updated_at \
                 WHERE connections.name <> excluded.name OR connections.tenant_id <> excluded.tenant_id \
                 OR connections.client_id <> excluded.client_id",
            )
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.tenant_id)
            .bind(&c.client_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ensure_site(&self, client: &str, site: &str) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sites (client_id, name, origin) SELECT id, $2, 'mapping' FROM clients WHERE name = $1 \
             ON CONFLICT (client_id, name) DO NOTHING",
        )
        .bind(client)
        .bind(site)
        .execute(&mut *tx)
        .await?;
        let id = site_id(&mut tx, client, site).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let site = match &user.site {
            Some((client, site)) => Some(site_id(&mut tx, client, site).await?),
            None => None,
        };
        let f = &user.fields;
        let id = sqlx::query_scalar(
            "INSERT INTO users (site_id, name, firstname, surname, emailaddress, login, phonenumber, \
             mobilenumber, jobtitle, department, employee_number, manager, creationtype, last_sign_in, \
             custom_fields, keep_active, connection_id, entra_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19) \
             RETURNING id",
        )
        .bind(site)
        .bind(&f.name)
        .bind(&f.firstname)
        .bind(&f.surname)
        .bind(&f.emailaddress)
        .bind(&f.login)
        .bind(&f.phonenumber)
        .bind(&f.mobilenumber)
        .bind(&f.jobtitle)
        .bind(&f.department)
        .bind(&f.employee_number)
        .bind(&f.manager)
        .bind(&f.creationtype)
        .bind(&f.last_sign_in)
        .bind(Json(&user.custom_fields))
        .bind(user.keep_active)
        .bind(user.entra.as_ref().map(|l| &l.connection_id))
        .bind(user.entra.as_ref().map(|l| &l.entra_id))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn user(&self, id: i64) -> Result<UserRecord, StoreError> {
        let row: UserRow = sqlx::query_as(
            "SELECT u.id, c.name AS client, s.name AS site, u.name, u.firstname, u.surname, u.emailaddress, \
             u.login, u.phonenumber, u.mobilenumber, u.jobtitle, u.department, u.employee_number, u.manager, \
             u.creationtype, u.last_sign_in, u.custom_fields, u.inactive, u.inactive_reason, u.keep_active, \
             u.connection_id, u.entra_id, u.created_at, u.updated_at \
             FROM users u LEFT JOIN sites s ON s.id = u.site_id LEFT JOIN clients c ON c.id = s.client_id \
             WHERE u.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("user", id))?;
        Ok(UserRecord {
            id: row.id,
            site: row.client.zip(row.site),
            fields: row.fields,
            custom_fields: row.custom_fields.0,
            inactive: row.inactive,
            inactive_reason: row.inactive_reason,
            keep_active: row.keep_active,
            entra: link(row.connection_id, row.entra_id),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    async fn insert_agent(&self, agent: &NewAgent, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let team = match &agent.default_team {
            Some(team) => Some(team_id(&mut tx, team).await?),
            None => None,
        };
        let id = sqlx::query_scalar(
            "INSERT INTO agents (user_id, name, emailaddress, phonenumber, jobtitle, linemanager_id, \
             default_team_id, licence_type, creationtype, keep_active, can_configure_entra, connection_id, \
             entra_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(agent.user_id)
        .bind(&agent.name)
        .bind(&agent.emailaddress)
        .bind(&agent.phonenumber)
        .bind(&agent.jobtitle)
        .bind(agent.linemanager_id)
        .bind(team)
        .bind(agent.licence_type.as_str())
        .bind(&agent.creationtype)
        .bind(agent.keep_active)
        .bind(agent.can_configure_entra)
        .bind(agent.entra.as_ref().map(|l| &l.connection_id))
        .bind(agent.entra.as_ref().map(|l| &l.entra_id))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn agent(&self, id: i64) -> Result<AgentRecord, StoreError> {
        let row: AgentRow = sqlx::query_as(
            "SELECT a.id, a.user_id, a.name, a.emailaddress, a.phonenumber, a.jobtitle, a.linemanager_id, \
             t.name AS default_team, a.licence_type, a.creationtype, a.inactive, a.inactive_reason, \
             a.keep_active, a.can_configure_entra, a.connection_id, a.entra_id \
             FROM agents a LEFT JOIN teams t ON t.id = a.default_team_id WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("agent", id))?;
        Ok(AgentRecord {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            emailaddress: row.emailaddress,
            phonenumber: row.phonenumber,
            jobtitle: row.jobtitle,
            linemanager_id: row.linemanager_id,
            default_team: row.default_team,
            licence_type: LicenceType::parse(&row.licence_type),
            creationtype: row.creationtype,
            inactive: row.inactive,
            inactive_reason: row.inactive_reason,
            keep_active: row.keep_active,
            can_configure_entra: row.can_configure_entra,
            entra: link(row.connection_id, row.entra_id),
        })
    }

    async fn grant_role(
        &self,
        person: Person,
        role: &str,
        source: Source,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let (kind, sql, holder) = match person {
            Person::User(id) => (
                RecordKind::User,
                "INSERT INTO user_roles (user_id, role_id, source) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, role_id) DO UPDATE SET source = excluded.source",
                id,
            ),
            Person::Agent(id) => (
                RecordKind::Agent,
                "INSERT INTO agent_roles (agent_id, role_id, source) VALUES ($1, $2, $3) \
                 ON CONFLICT (agent_id, role_id) DO UPDATE SET source = excluded.source",
                id,
            ),
        };
        let role_id = role_id(&mut tx, kind, role).await?;
        sqlx::query(sql)
            .bind(holder)
            .bind(role_id)
            .bind(source.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn roles_of(&self, person: Person) -> Result<Vec<RoleGrant>, StoreError> {
        let (sql, holder) = match person {
            Person::User(id) => (
                "SELECT r.name, g.source FROM user_roles g JOIN roles r ON r.id = g.role_id \
                 WHERE g.user_id = $1 ORDER BY r.name",
                id,
            ),
            Person::Agent(id) => (
                "SELECT r.name, g.source FROM agent_roles g JOIN roles r ON r.id = g.role_id \
                 WHERE g.agent_id = $1 ORDER BY r.name",
                id,
            ),
        };
        let rows: Vec<(String, String)> = sqlx::query_as(sql)
            .bind(holder)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(role, source)| RoleGrant {
                role,
                source: Source::parse(&source),
            })
            .collect())
    }

    async fn add_agent_team(
        &self,
        agent_id: i64,
        team: &str,
        flags: TeamFlags,
        source: Source,
    ) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let team_id = team_id(&mut tx, team).await?;
        sqlx::query(
            "INSERT INTO agent_teams (agent_id, team_id, can_be_assigned, sees_unassigned, sees_other_agents, source) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, team_id) DO UPDATE SET \
             can_be_assigned = excluded.can_be_assigned, sees_unassigned = excluded.sees_unassigned, \
             sees_other_agents = excluded.sees_other_agents, source = excluded.source",
        )
        .bind(agent_id)
        .bind(team_id)
        .bind(flags.can_be_assigned)
        .bind(flags.sees_unassigned)
        .bind(flags.sees_other_agents)
        .bind(source.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn agent_teams(&self, agent_id: i64) -> Result<Vec<TeamMembership>, StoreError> {
        let rows: Vec<(String, bool, bool, bool, String)> = sqlx::query_as(
            "SELECT t.name, m.can_be_assigned, m.sees_unassigned, m.sees_other_agents, m.source \
             FROM agent_teams m JOIN teams t ON t.id = m.team_id WHERE m.agent_id = $1 ORDER BY t.name",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(team, can_be_assigned, sees_unassigned, sees_other_agents, source)| {
                    TeamMembership {
                        team,
                        flags: TeamFlags {
                            can_be_assigned,
                            sees_unassigned,
                            sees_other_agents,
                        },
                        source: Source::parse(&source),
                    }
                },
            )
            .collect())
    }

    async fn add_cab_member(&self, cab: &str, member: &CabMember) -> Result<(), StoreError> {
        let (_turn, mut tx) = self.begin_write().await?;
        let cab_id: i64 = sqlx::query_scalar("SELECT id FROM cabs WHERE name = $1")
            .bind(cab)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found("CAB", format!("{cab:?}")))?;
        let cab_role_id: Option<i64> = match &member.cab_role {
            Some(role) => Some(
                sqlx::query_scalar("SELECT id FROM cab_roles WHERE cab_id = $1 AND name = $2")
                    .bind(cab_id)
                    .bind(role)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| not_found("CAB role", format!("{role:?} of CAB {cab:?}")))?,
            ),
            None => None,
        };
        let (user_id, agent_id) = match member.person {
            Person::User(id) => (Some(id), None),
            Person::Agent(id) => (None, Some(id)),
        };
        sqlx::query(
            "INSERT INTO cab_members (cab_id, user_id, agent_id, cab_role_id, source) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(cab_id)
        .bind(user_id)
        .bind(agent_id)
        .bind(cab_role_id)
        .bind(member.source.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cab_members(&self, cab: &str) -> Result<Vec<CabMember>, StoreError> {
        let rows: Vec<(Option<i64>, Option<i64>, Option<String>, String)> = sqlx::query_as(
            "SELECT m.user_id, m.agent_id, r.name, m.source FROM cab_members m JOIN cabs c ON c.id = m.cab_id \
             LEFT JOIN cab_roles r ON r.id = m.cab_role_id WHERE c.name = $1 ORDER BY m.id",
        )
        .bind(cab)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(user, agent, cab_role, source)| {
                let person = user.map(Person::User).or(agent.map(Person::Agent))?;
                Some(CabMember {
                    person,
                    cab_role,
                    source: Source::parse(&source),
                })
            })
            .collect())
    }
}
