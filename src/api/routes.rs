//! The `/api` routes: parse, check the caller's reach, call one service method, answer JSON.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Api, ApiError, Authorised};
use crate::ids::RunId;
use crate::service::{
    ApproveRequest, DeltaReset, DeltaResetRequest, KeepActiveRequest, LogRequest, RunsRequest,
    Since, Targets, TriggerRequest,
};
use crate::vocab::{AccessLevel, Action, RunStatus};

type Answer = Result<Json<Value>, ApiError>;

/// The most rows one page of runs or of the inbound log holds.
const MAX_LIMIT: u32 = 1_000;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/api/connections", get(connections))
        .route("/api/connections/{id}", get(status))
        .route("/api/connections/{id}/sync", post(sync))
        .route("/api/connections/{id}/runs", get(runs))
        .route("/api/connections/{id}/runs/{run}/approve", post(approve))
        .route("/api/connections/{id}/log", get(log))
        .route("/api/connections/{id}/preview", get(preview))
        .route("/api/connections/{id}/check", get(check))
        .route("/api/connections/{id}/delta-reset", post(delta_reset))
        .route("/api/connections/{id}/keep-active", post(keep_active))
        .route("/api/connections/{id}/authorize", post(authorize))
        .route("/api/connections/{id}/access", get(access_list))
        .route(
            "/api/connections/{id}/access/{email}",
            put(grant).delete(revoke),
        )
}

/// A JSON body, its rejection answered in the API's error shape.
type Body<T> = Result<Json<T>, JsonRejection>;

fn body<T>(body: Body<T>) -> Result<T, ApiError> {
    Ok(body?.0)
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    Ok(path?.0)
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    Ok(query?.0)
}

fn limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match limit.unwrap_or(default) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "limit {n} is outside 1..={MAX_LIMIT}"
        ))),
    }
}

#[derive(Serialize)]
struct ConnectionEntry {
    id: String,
    access: AccessLevel,
    enabled_here: bool,
}

/// The connections the caller can see, with what it may do with each.
async fn connections(auth: Authorised) -> Answer {
    let settings = auth.service.settings();
    let visible: Vec<ConnectionEntry> = settings
        .connections
        .iter()
        .filter_map(|c| {
            Some(ConnectionEntry {
                id: c.id.to_string(),
                access: auth.caller.level(&c.id)?,
                enabled_here: c.enabled_for_instances.contains(&settings.instance.name),
            })
        })
        .collect();
    Ok(Json(json!({ "connections": visible })))
}

/// A connection's status: whether it runs here, and its last run.
async fn status(auth: Authorised, id: Result<Path<String>, PathRejection>) -> Answer {
    let id = path(id)?;
    let connection = auth.caller.reach(&id, AccessLevel::Read)?;
    let status = auth.service.status(connection.as_str()).await?;
    Ok(Json(serde_json::to_value(status).map_err(internal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    kind: SyncKind,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SyncKind {
    Delta,
    Full,
}

/// Asks for a run now (whichever replica runs the connection picks it up).
async fn sync(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<SyncBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let request = body(request)?;
    let trigger = auth
        .service
        .trigger(TriggerRequest {
            connection: connection.to_string(),
            full: request.kind == SyncKind::Full,
            by: auth.caller.name(),
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "trigger": trigger }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<u32>,
}

async fn runs(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<RunsQuery>, QueryRejection>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
    let runs = auth
        .service
        .runs(RunsRequest {
            connection: Some(connection.to_string()),
            limit: limit(params.limit, 20)?,
        })
        .await?;
    Ok(Json(json!({ "runs": runs })))
}

/// Approves a quarantined run of the connection: applies the deactivations it held back.
async fn approve(auth: Authorised, ids: Result<Path<(String, i64)>, PathRejection>) -> Answer {
    let (id, run) = path(ids)?;
    let connection = auth.caller.reach(&id, AccessLevel::ReadModify)?;
    let run = auth.service.run(RunId(run)).await?;
    if run.connection_id != connection {
        return Err(ApiError::from(crate::service::ServiceError::NotFound(
            format!("run {} of connection {connection}", run.id),
        )));
    }
    if run.status != RunStatus::Quarantined || run.approved_at.is_some() {
        return Err(ApiError::conflict(format!(
            "run {} is {}, not a quarantined run awaiting approval",
            run.id, run.status
        )));
    }
    let report = auth
        .service
        .approve(ApproveRequest {
            run_id: run.id,
            by: auth.caller.name(),
        })
        .await?;
    Ok(Json(json!({
        "run": report.run_id,
        "status": report.status,
        "counts": report.counts,
        "error": report.error,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    user: Option<String>,
    action: Option<String>,
    run: Option<i64>,
    since: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// The connection's inbound log, newest first, a page at a time: `next` is the `before` of the
/// next page.
async fn log(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
    let action = params
        .action
        .map(|a| a.parse::<Action>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("action: {e}")))?;
    let since = params
        .since
        .map(|s| Since::parse(&s))
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("since: {e}")))?;
    let limit = limit(params.limit, 100)?;
    let rows = auth
        .service
        .log(LogRequest {
            connection: Some(connection.to_string()),
            user: params.user,
            action,
            since,
            run: params.run.map(RunId),
            before: params.before,
            limit,
        })
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({ "rows": rows, "next": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewParams {
    records: Option<Records>,
    person: Option<String>,
    action: Option<String>,
    offset: Option<u32>,
    limit: Option<u32>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Records {
    Users,
    Agents,
    All,
}

/// The import screen: what an import would do to each person now, read from the tenant, a page
/// at a time. `person` matches part of the UPN (any case); `next` is the `offset` of the next
/// page. Every page reads the tenant afresh.
async fn preview(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<PreviewParams>, QueryRejection>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
    let action = params
        .action
        .map(|a| a.parse::<Action>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("action: {e}")))?;
    let limit = limit(params.limit, 100)? as usize;
    let offset = params.offset.unwrap_or(0) as usize;
    let targets = match params.records.unwrap_or(Records::All) {
        Records::Users => Targets::USERS,
        Records::Agents => Targets::AGENTS,
        Records::All => Targets::BOTH,
    };
    let person = params.person.map(|p| p.to_lowercase());
    let rows: Vec<_> = auth
        .service
        .preview(connection.as_str(), targets, &auth.caller.name())
        .await?
        .into_iter()
        .filter(|row| action.is_none_or(|a| row.action == a))
        .filter(|row| {
            person.as_ref().is_none_or(|p| {
                row.upn
                    .as_ref()
                    .is_some_and(|upn| upn.to_lowercase().contains(p))
            })
        })
        .collect();
    let total = rows.len();
    let page: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    Ok(Json(json!({ "total": total, "rows": page, "next": next })))
}

/// The online check: signs in, reads one user, and compares the token's permissions with what
/// the connection's configuration needs.
async fn check(auth: Authorised, id: Result<Path<String>, PathRejection>) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let verdicts = auth.service.check_online(Some(connection.as_str())).await?;
    let verdict = verdicts.into_iter().next().ok_or_else(|| {
        ApiError::from(crate::service::ServiceError::NotFound(
            connection.to_string(),
        ))
    })?;
    Ok(Json(json!({
        "connection": verdict.connection,
        "can_sync": verdict.can_sync(),
        "failure": verdict.failure,
        "granted": verdict.granted,
        "missing": verdict.missing.iter().map(|(permission, why)| json!({"permission": permission, "why": why})).collect::<Vec<_>>(),
        "untracked": verdict.untracked.iter().map(|(attribute, used)| json!({"attribute": attribute, "used_in": used})).collect::<Vec<_>>(),
        "optional": verdict.optional.iter().map(|(permission, adds)| json!({"permission": permission, "adds": adds})).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaResetBody {
    mode: DeltaMode,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum DeltaMode {
    Clear,
    Latest,
}

async fn delta_reset(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<DeltaResetBody>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let request = body(request)?;
    let reset = auth
        .service
        .reset_delta(DeltaResetRequest {
            connection: connection.to_string(),
            latest: request.mode == DeltaMode::Latest,
        })
        .await?;
    Ok(Json(match reset {
        DeltaReset::Cleared { links, .. } => json!({ "mode": "clear", "links_forgotten": links }),
        DeltaReset::Latest { .. } => json!({ "mode": "latest" }),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeepActiveBody {
    upn: String,
    keep_active: bool,
}

async fn keep_active(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<KeepActiveBody>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let request = body(request)?;
    let outcome = auth
        .service
        .keep_active(&KeepActiveRequest {
            connection: connection.to_string(),
            upn: request.upn,
            keep_active: request.keep_active,
            source: "manual".to_owned(),
            by: auth.caller.name(),
        })
        .await?;
    Ok(Json(json!({
        "user_id": outcome.user_id,
        "agent_id": outcome.agent_id,
        "changed": outcome.logged.is_some(),
    })))
}

/// Starts a delegated sign-in: the `/authorize` URL to open in a browser, good for ten minutes
/// and once. Entra sends the browser back to `/authcallback`.
async fn authorize(
    auth: Authorised,
    api: State<Api>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let callback = api.callback.clone().ok_or_else(|| {
        ApiError::conflict("this server has no callback address for delegated sign-in")
    })?;
    let start = auth
        .service
        .begin_sign_in(Some(&auth.caller), connection.as_str(), &callback)
        .await?;
    Ok(Json(json!({
        "url": start.url.as_str(),
        "expires_at": start.expires_at,
        "redirect_uri": callback.as_str(),
    })))
}

/// The caller may see the connection and manage its access list.
fn manages(auth: &Authorised, id: &str) -> Result<String, ApiError> {
    let connection = auth.caller.reach(id, AccessLevel::Read)?;
    if auth.caller.configures() {
        Ok(connection.to_string())
    } else {
        Err(crate::service::ServiceError::Forbidden(
            "only an admin key or an agent who can configure Entra manages access".to_owned(),
        )
        .into())
    }
}

async fn access_list(auth: Authorised, id: Result<Path<String>, PathRejection>) -> Answer {
    let connection = manages(&auth, &path(id)?)?;
    let grants = auth.service.access_list(&connection).await?;
    Ok(Json(json!({ "access": grants })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    level: String,
}

async fn grant(
    auth: Authorised,
    ids: Result<Path<(String, String)>, PathRejection>,
    request: Body<GrantBody>,
) -> Answer {
    let (id, email) = path(ids)?;
    let connection = manages(&auth, &id)?;
    let level: AccessLevel = body(request)?
        .level
        .parse()
        .map_err(|e| ApiError::bad_request(format!("level: {e}")))?;
    auth.service
        .grant_access(&connection, &email, level)
        .await?;
    Ok(Json(json!({ "agent": email, "level": level })))
}

async fn revoke(
    auth: Authorised,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (id, email) = path(ids)?;
    let connection = manages(&auth, &id)?;
    auth.service.revoke_access(&connection, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn internal(error: serde_json::Error) -> ApiError {
    ApiError::from(crate::service::ServiceError::Invalid(format!(
        "the answer could not be written: {error}"
    )))
}
