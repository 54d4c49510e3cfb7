//! The routes that change the service desk from outside a sync: licence write-back (assign and
//! remove through Graph, `read_modify` on the connection) and distribution groups as ticket
//! followers (`read` on the connection, with followers enabled).

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::desk_wire::{AssignBody, FollowBody, Followed, GroupList, LicenceDone};
use super::routes::{Answer, Body, body, path};
use super::wire::ErrorBody;
use super::{Api, Authorised};
use crate::service::{FollowRequest, LicenceRequest};
use crate::vocab::AccessLevel;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/api/connections/{id}/users/{user}/licences",
            post(assign_licence),
        )
        .route(
            "/api/connections/{id}/users/{user}/licences/{sku}",
            delete(remove_licence),
        )
        .route("/api/connections/{id}/followers/groups", get(groups))
        .route(
            "/api/connections/{id}/tickets/{ticket}/followers",
            post(follow),
        )
        .route("/api/tickets/{ticket}/followers", post(follow_default))
}

/// Assigns a licence to an imported user through Graph's `assignLicense`; the local link follows
/// only when Graph succeeds. A refusal comes back with Graph's sentence and advice.
#[utoipa::path(post, path = "/api/connections/{id}/users/{user}/licences", tag = "licences",
    params(("id" = String, Path, description = "The connection id"),
        ("user" = String, Path, description = "The user's Entra object id")),
    request_body = AssignBody,
    responses((status = 200, body = LicenceDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Write-back is off, or Graph refused"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(super) async fn assign_licence(
    auth: Authorised,
    ids: Result<Path<(String, String)>, PathRejection>,
    request: Body<AssignBody>,
) -> Answer<LicenceDone> {
    let (id, user) = path(ids)?;
    let connection = auth.caller.reach(&id, AccessLevel::ReadModify)?;
    let request = body(request)?;
    let written = auth
        .service
        .write_licence(
            &auth.caller,
            &LicenceRequest {
                connection: connection.to_string(),
                user,
                sku: request.sku,
                assign: true,
            },
        )
        .await?;
    Ok(Json(written.into()))
}

/// Removes a licence from an imported user through Graph's `assignLicense`.
#[utoipa::path(delete, path = "/api/connections/{id}/users/{user}/licences/{sku}", tag = "licences",
    params(("id" = String, Path, description = "The connection id"),
        ("user" = String, Path, description = "The user's Entra object id"),
        ("sku" = String, Path, description = "The SKU id or part number")),
    responses((status = 200, body = LicenceDone), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Write-back is off, or Graph refused"),
        (status = 502, body = ErrorBody)))]
pub(super) async fn remove_licence(
    auth: Authorised,
    ids: Result<Path<(String, String, String)>, PathRejection>,
) -> Answer<LicenceDone> {
    let (id, user, sku) = path(ids)?;
    let connection = auth.caller.reach(&id, AccessLevel::ReadModify)?;
    let written = auth
        .service
        .write_licence(
            &auth.caller,
            &LicenceRequest {
                connection: connection.to_string(),
                user,
                sku,
                assign: false,
            },
        )
        .await?;
    Ok(Json(written.into()))
}

/// The picker: the connection's mail-enabled groups, read from Graph now.
#[utoipa::path(get, path = "/api/connections/{id}/followers/groups", tag = "followers",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = GroupList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Followers are not enabled"),
        (status = 502, body = ErrorBody)))]
pub(super) async fn groups(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
) -> Answer<GroupList> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let groups = auth.service.mail_groups(connection.as_str()).await?;
    Ok(Json(GroupList {
        groups: groups.into_iter().map(Into::into).collect(),
    }))
}

/// Adds a group of the connection's tenant to a ticket, as its address or expanded.
#[utoipa::path(post, path = "/api/connections/{id}/tickets/{ticket}/followers", tag = "followers",
    params(("id" = String, Path, description = "The connection id"),
        ("ticket" = i64, Path, description = "The ticket id")),
    request_body = FollowBody,
    responses((status = 200, body = Followed), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Followers are off, the group is not mail-enabled, or it is over max_members"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(super) async fn follow(
    auth: Authorised,
    ids: Result<Path<(String, i64)>, PathRejection>,
    request: Body<FollowBody>,
) -> Answer<Followed> {
    let (id, ticket_id) = path(ids)?;
    let connection = auth.caller.reach(&id, AccessLevel::Read)?;
    add(&auth, connection.to_string(), ticket_id, body(request)?).await
}

/// Adds a group to a ticket through `[followers] default_connection`.
#[utoipa::path(post, path = "/api/tickets/{ticket}/followers", tag = "followers",
    params(("ticket" = i64, Path, description = "The ticket id")),
    request_body = FollowBody,
    responses((status = 200, body = Followed), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "No default connection, followers are off, the group is not mail-enabled, or it is over max_members"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(super) async fn follow_default(
    auth: Authorised,
    ticket: Result<Path<i64>, PathRejection>,
    request: Body<FollowBody>,
) -> Answer<Followed> {
    let ticket_id = path(ticket)?;
    let default = auth.service.followers_connection(None)?.id.to_string();
    let connection = auth.caller.reach(&default, AccessLevel::Read)?;
    add(&auth, connection.to_string(), ticket_id, body(request)?).await
}

async fn add(
    auth: &Authorised,
    connection: String,
    ticket_id: i64,
    request: FollowBody,
) -> Answer<Followed> {
    let outcome = auth
        .service
        .add_group_followers(&FollowRequest {
            connection,
            ticket_id,
            group: request.group,
            mode: request.mode.into(),
            copy: request.copy.into(),
        })
        .await?;
    Ok(Json(outcome.into()))
}
