//! The control API over HTTP, under `/_emulator/` (no authentication: loopback only).
//!
//! | method & path | does |
//! |---|---|
//! | `GET tenants` | credentials of every app |
//! | `GET tenants/{t}/summary` | counts of the live directory: `users`, `enabled_users`, `guests`, `groups` |
//! | `POST reset` | regenerate everything |
//! | `GET` / `DELETE counters` | read / zero the counters |
//! | `POST` / `DELETE faults` | add a [`crate::FaultRule`] / clear them |
//! | `POST tokens/expire` | expire access tokens (`{"refresh": true}`: refresh tokens too) |
//! | `POST tenants/{t}/users` | create a user from Graph properties → `{"id"}` |
//! | `PATCH tenants/{t}/users/{id}` | change properties (`manager` as id or null) |
//! | `DELETE tenants/{t}/users/{id}[?hard=true]` | soft / hard delete |
//! | `POST tenants/{t}/users/{id}/restore` | restore a soft-deleted user |
//! | `PUT tenants/{t}/users/{id}/manager` | `{"id": …}` or `{"id": null}` |
//! | `POST tenants/{t}/users/{id}/licences` | `{"add": [sku…], "remove": [sku…]}` |
//! | `POST tenants/{t}/users/{id}/sign-in` | `{"at": "2026-01-05T09:00:00Z"}` |
//! | `POST tenants/{t}/groups` | `{"displayName", "kind"}` → `{"id"}` |
//! | `DELETE tenants/{t}/groups/{g}` | delete a group (Microsoft 365: soft, others: for good) |
//! | `POST tenants/{t}/groups/{g}/members` | `{"id": member}` |
//! | `DELETE tenants/{t}/groups/{g}/members/{m}` | remove a member |
//! | `POST tenants/{t}/apps` | `{"name", "roles": […]}` → credentials |

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Control, ControlError};
use crate::directory::{DirectoryError, GroupKind};
use crate::faults::FaultRule;

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::UnknownTenant(_) | Self::Directory(DirectoryError::NotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            Self::Key(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

type Result<T> = std::result::Result<T, ControlError>;

/// The control routes, relative to `/_emulator`.
pub fn router(control: Control) -> Router {
    Router::new()
        .route("/tenants", get(tenants))
        .route("/reset", post(reset))
        .route("/counters", get(counters).delete(reset_counters))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/tokens/expire", post(expire_tokens))
        .route("/tenants/{tenant}/summary", get(summary))
        .route("/tenants/{tenant}/users", post(create_user))
        .route(
            "/tenants/{tenant}/users/{id}",
            delete(delete_user).patch(update_user),
        )
        .route("/tenants/{tenant}/users/{id}/restore", post(restore_user))
        .route("/tenants/{tenant}/users/{id}/manager", put(set_manager))
        .route("/tenants/{tenant}/users/{id}/licences", post(licences))
        .route("/tenants/{tenant}/users/{id}/sign-in", post(sign_in))
        .route("/tenants/{tenant}/groups", post(create_group))
        .route("/tenants/{tenant}/groups/{group}", delete(delete_group))
        .route("/tenants/{tenant}/groups/{group}/members", post(add_member))
        .route(
            "/tenants/{tenant}/groups/{group}/members/{member}",
            delete(remove_member),
        )
        .route("/tenants/{tenant}/apps", post(add_app))
        .with_state(Arc::new(control))
}

type Ctl = State<Arc<Control>>;

async fn tenants(State(c): Ctl) -> Json<Value> {
    Json(json!(c.credentials()))
}

async fn summary(State(c): Ctl, Path(tenant): Path<Uuid>) -> Result<Json<Value>> {
    Ok(Json(json!(c.summary(tenant)?)))
}

async fn reset(State(c): Ctl) -> Result<StatusCode> {
    c.reset()?;
    Ok(StatusCode::NO_CONTENT)
}

async fn counters(State(c): Ctl) -> Json<Value> {
    Json(json!(c.counters()))
}

async fn reset_counters(State(c): Ctl) -> StatusCode {
    c.reset_counters();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(c): Ctl, Json(rule): Json<FaultRule>) -> StatusCode {
    c.add_fault(rule);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(c): Ctl) -> StatusCode {
    c.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize, Default)]
struct Expire {
    #[serde(default)]
    refresh: bool,
}

async fn expire_tokens(State(c): Ctl, body: Option<Json<Expire>>) -> StatusCode {
    c.expire_access_tokens();
    if body.is_some_and(|Json(e)| e.refresh) {
        c.expire_refresh_tokens();
    }
    StatusCode::NO_CONTENT
}

async fn create_user(
    State(c): Ctl,
    Path(tenant): Path<Uuid>,
    Json(props): Json<Value>,
) -> Result<(StatusCode, Json<Value>)> {
    let id = c.create_user(tenant, props)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn update_user(
    State(c): Ctl,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Json(props): Json<Value>,
) -> Result<StatusCode> {
    c.update_user(tenant, id, props)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_user(
    State(c): Ctl,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode> {
    if query.get("hard").is_some_and(|h| h == "true") {
        c.hard_delete_user(tenant, id)?;
    } else {
        c.soft_delete_user(tenant, id)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn restore_user(State(c): Ctl, Path((tenant, id)): Path<(Uuid, Uuid)>) -> Result<StatusCode> {
    c.restore_user(tenant, id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Reference {
    id: Option<Uuid>,
}

async fn set_manager(
    State(c): Ctl,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Json(manager): Json<Reference>,
) -> Result<StatusCode> {
    c.set_manager(tenant, id, manager.id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Licences {
    #[serde(default)]
    add: Vec<Uuid>,
    #[serde(default)]
    remove: Vec<Uuid>,
}

async fn licences(
    State(c): Ctl,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<Licences>,
) -> Result<StatusCode> {
    c.assign_licences(tenant, id, &body.add, &body.remove)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct SignIn {
    at: DateTime<Utc>,
}

async fn sign_in(
    State(c): Ctl,
    Path((tenant, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<SignIn>,
) -> Result<StatusCode> {
    c.record_sign_in(tenant, id, body.at)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGroup {
    display_name: String,
    #[serde(default = "security")]
    kind: GroupKind,
}

fn security() -> GroupKind {
    GroupKind::Security
}

async fn create_group(
    State(c): Ctl,
    Path(tenant): Path<Uuid>,
    Json(body): Json<NewGroup>,
) -> Result<(StatusCode, Json<Value>)> {
    let id = c.create_group(tenant, &body.display_name, body.kind)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn delete_group(
    State(c): Ctl,
    Path((tenant, group)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    c.delete_group(tenant, group)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(c): Ctl,
    Path((tenant, group)): Path<(Uuid, Uuid)>,
    Json(member): Json<Reference>,
) -> Result<StatusCode> {
    let id = member
        .id
        .ok_or_else(|| ControlError::BadRequest("member id required".into()))?;
    c.add_member(tenant, group, id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(c): Ctl,
    Path((tenant, group, member)): Path<(Uuid, Uuid, Uuid)>,
) -> Result<StatusCode> {
    c.remove_member(tenant, group, member)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct NewApp {
    name: String,
    roles: Vec<String>,
}

async fn add_app(
    State(c): Ctl,
    Path(tenant): Path<Uuid>,
    Json(body): Json<NewApp>,
) -> Result<(StatusCode, Json<Value>)> {
    let roles: Vec<&str> = body.roles.iter().map(String::as_str).collect();
    let credentials = c.add_app(tenant, &body.name, &roles)?;
    Ok((StatusCode::CREATED, Json(json!(credentials))))
}
