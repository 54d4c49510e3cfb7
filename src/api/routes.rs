//! The `/api` routes: parse, check the caller's reach, call one service method, answer with one
//! of the [`wire`](super::wire) types. Each handler's `#[utoipa::path]` is its entry in the
//! OpenAPI description ([`super::openapi`]).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::openapi::BearerKeys;
use super::wire::{
    AccessList, Approved, Check, ConnectionEntry, ConnectionList, DeltaMode, DeltaResetBody,
    DeltaResetDone, ErrorBody, GrantBody, Granted, KeepActiveBody, KeepActiveDone, LicenceList,
    LicencesImported, LogPage, LogParams, LogRow, PreviewPage, PreviewParams, PreviewState,
    Records, RunList, RunsQuery, SignInUrl, Status, SyncBody, SyncKind, Triggered,
};
use super::{Api, ApiError, Authorised};
use crate::ids::RunId;
use crate::service::{
    ApproveRequest, DeltaReset, DeltaResetRequest, InboundRow, KeepActiveRequest, LogRequest,
    Preview, RunsRequest, ServiceError, Since, Targets, TriggerRequest,
};
use crate::vocab::{AccessLevel, Action, RunStatus};

/// The most rows one page of runs, of the inbound log or of the preview holds.
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
        .route("/api/connections/{id}/licences", get(licences))
        .route(
            "/api/connections/{id}/licences/import",
            post(import_licences),
        )
        .route("/api/connections/{id}/access", get(access_list))
        .route(
            "/api/connections/{id}/access/{email}",
            put(grant).delete(revoke),
        )
}

/// A JSON body, its rejection answered in the API's error shape.
pub(super) type Body<T> = Result<Json<T>, JsonRejection>;
pub(super) type Answer<T> = Result<Json<T>, ApiError>;

pub(super) fn body<T>(body: Body<T>) -> Result<T, ApiError> {
    Ok(body?.0)
}

pub(super) fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
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

fn action(action: Option<String>) -> Result<Option<Action>, ApiError> {
    action
        .map(|a| a.parse::<Action>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("action: {e}")))
}

/// The connections the caller can see, with what it may do with each.
#[utoipa::path(get, path = "/api/connections", tag = "connections",
    responses((status = 200, body = ConnectionList), (status = 401, body = ErrorBody)))]
async fn connections(auth: Authorised) -> Answer<ConnectionList> {
    let settings = auth.service.settings();
    let connections = settings
        .connections
        .iter()
        .filter_map(|c| {
            Some(ConnectionEntry {
                id: c.id.to_string(),
                access: auth.caller.level(&c.id)?.into(),
                enabled_here: c.enabled_for_instances.contains(&settings.instance.name),
            })
        })
        .collect();
    Ok(Json(ConnectionList { connections }))
}

/// A connection's status: its runs, its next run, its delta state, its lease holder, whether
/// it needs authorising again, and when its credential expires.
#[utoipa::path(get, path = "/api/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = Status), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn status(auth: Authorised, id: Result<Path<String>, PathRejection>) -> Answer<Status> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let status = auth.service.status(connection.as_str()).await?;
    Ok(Json(status.into()))
}

/// Asks for a run now (whichever replica runs the connection picks it up).
#[utoipa::path(post, path = "/api/connections/{id}/sync", tag = "runs",
    params(("id" = String, Path, description = "The connection id")),
    request_body = SyncBody,
    responses((status = 202, body = Triggered), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn sync(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<SyncBody>,
) -> Result<(StatusCode, Json<Triggered>), ApiError> {
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
    Ok((StatusCode::ACCEPTED, Json(Triggered { trigger })))
}

/// The connection's runs, newest first.
#[utoipa::path(get, path = "/api/connections/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "The connection id"), RunsQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn runs(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<RunsQuery>, QueryRejection>,
) -> Answer<RunList> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
    let runs = auth
        .service
        .runs(RunsRequest {
            connection: Some(connection.to_string()),
            limit: limit(params.limit, 20)?,
        })
        .await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(Into::into).collect(),
    }))
}

/// Approves a quarantined run of the connection: applies the deactivations it held back.
#[utoipa::path(post, path = "/api/connections/{id}/runs/{run}/approve", tag = "runs",
    params(("id" = String, Path, description = "The connection id"),
        ("run" = i64, Path, description = "The quarantined run")),
    responses((status = 200, body = Approved), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve(
    auth: Authorised,
    ids: Result<Path<(String, i64)>, PathRejection>,
) -> Answer<Approved> {
    let (id, run) = path(ids)?;
    let connection = auth.caller.reach(&id, AccessLevel::ReadModify)?;
    let run = auth.service.run(RunId(run)).await?;
    if run.connection_id != connection {
        return Err(
            ServiceError::NotFound(format!("run {} of connection {connection}", run.id)).into(),
        );
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
    Ok(Json(Approved {
        run: report.run_id.map(|id| id.0),
        status: report.status.to_string(),
        counts: report.counts,
        error: report.error,
    }))
}

/// The connection's inbound log, newest first, a page at a time: `next` is the `before` of the
/// next page.
#[utoipa::path(get, path = "/api/connections/{id}/log", tag = "log",
    params(("id" = String, Path, description = "The connection id"), LogParams),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn log(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Answer<LogPage> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
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
            action: action(params.action)?,
            since,
            run: params.run.map(RunId),
            before: params.before,
            limit,
        })
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(LogPage {
        rows: rows.into_iter().map(LogRow::from).collect(),
        next,
    }))
}

/// The import screen: what an import would do to each person, read from the tenant, a page at
/// a time. `person` matches part of the UPN (any case); `next` is the `offset` of the next page.
/// A preview is computed once and its pages read from that; computing one for a large tenant
/// takes a while, and a call that would wait longer than 10 s is answered 202 `computing`
/// (with `Retry-After`): ask again.
#[utoipa::path(get, path = "/api/connections/{id}/preview", tag = "log",
    params(("id" = String, Path, description = "The connection id"), PreviewParams),
    responses((status = 200, body = PreviewPage),
        (status = 202, body = PreviewPage, description = "Still being computed: ask again"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "Graph could not be read"),
        (status = 503, body = ErrorBody, description = "Too many previews under way")))]
async fn preview(
    State(api): State<Api>,
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<PreviewParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let params = query(params)?;
    let action = action(params.action)?;
    let limit = limit(params.limit, 100)? as usize;
    let offset = params.offset.unwrap_or(0) as usize;
    let targets = match params.records.unwrap_or(Records::All) {
        Records::Users => Targets::USERS,
        Records::Agents => Targets::AGENTS,
        Records::All => Targets::BOTH,
    };
    let person = params.person.map(|p| p.to_lowercase());
    let computed = match auth
        .service
        .preview(
            connection.as_str(),
            targets,
            &auth.caller.name(),
            api.preview_wait,
        )
        .await?
    {
        Preview::Ready(computed) => computed,
        Preview::Computing { since } => {
            return Ok(not_yet(PreviewPage {
                state: PreviewState::Computing,
                computing_since: Some(since),
                ..PreviewPage::empty()
            }));
        }
        Preview::AfterRun { run } => {
            return Ok(not_yet(PreviewPage {
                state: PreviewState::WaitingForRun,
                waiting_for_run: Some(run.0),
                ..PreviewPage::empty()
            }));
        }
    };
    let rows: Vec<&InboundRow> = computed
        .rows
        .iter()
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
    let page: Vec<LogRow> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .map(LogRow::from)
        .collect();
    let next = (offset + page.len() < total).then_some((offset + page.len()) as u64);
    Ok(Json(PreviewPage {
        state: PreviewState::Ready,
        read_at: Some(computed.read_at),
        total: total as u64,
        rows: page,
        next,
        ..PreviewPage::empty()
    })
    .into_response())
}

/// A preview not ready yet: 202, ask again in a few seconds.
fn not_yet(page: PreviewPage) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::RETRY_AFTER, "5")],
        Json(page),
    )
        .into_response()
}

/// The online check: signs in, reads one user, and compares the token's permissions with what
/// the connection's configuration needs.
#[utoipa::path(get, path = "/api/connections/{id}/check", tag = "connections",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = Check), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn check(auth: Authorised, id: Result<Path<String>, PathRejection>) -> Answer<Check> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let verdict = auth
        .service
        .check_online(Some(connection.as_str()))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::NotFound(connection.to_string()))?;
    Ok(Json(verdict.into()))
}

/// Forgets the connection's delta links (`clear`: the next run reads everyone) or replaces them
/// with fresh ones from now (`latest`).
#[utoipa::path(post, path = "/api/connections/{id}/delta-reset", tag = "runs",
    params(("id" = String, Path, description = "The connection id")),
    request_body = DeltaResetBody,
    responses((status = 200, body = DeltaResetDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn delta_reset(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<DeltaResetBody>,
) -> Answer<DeltaResetDone> {
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
        DeltaReset::Cleared { links, .. } => DeltaResetDone {
            mode: DeltaMode::Clear,
            links_forgotten: Some(links),
        },
        DeltaReset::Latest { .. } => DeltaResetDone {
            mode: DeltaMode::Latest,
            links_forgotten: None,
        },
    }))
}

/// Sets or clears a person's keep-active flag (they stay active whatever Entra says).
#[utoipa::path(post, path = "/api/connections/{id}/keep-active", tag = "people",
    params(("id" = String, Path, description = "The connection id")),
    request_body = KeepActiveBody,
    responses((status = 200, body = KeepActiveDone), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn keep_active(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
    request: Body<KeepActiveBody>,
) -> Answer<KeepActiveDone> {
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
    Ok(Json(KeepActiveDone {
        user_id: outcome.user_id,
        agent_id: outcome.agent_id,
        changed: outcome.logged.is_some(),
    }))
}

/// Starts a delegated sign-in: the `/authorize` URL to open in a browser, good for ten minutes
/// and once. Entra sends the browser back to `/authcallback`.
#[utoipa::path(post, path = "/api/connections/{id}/authorize", tag = "connections",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = SignInUrl), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not a delegated connection")))]
async fn authorize(
    auth: Authorised,
    api: State<Api>,
    id: Result<Path<String>, PathRejection>,
) -> Answer<SignInUrl> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let callback = api.callback.clone().ok_or_else(|| {
        ApiError::conflict("this server has no callback address for delegated sign-in")
    })?;
    let start = auth
        .service
        .begin_sign_in(Some(&auth.caller), connection.as_str(), &callback)
        .await?;
    Ok(Json(SignInUrl {
        url: start.url.to_string(),
        expires_at: start.expires_at,
        redirect_uri: callback.to_string(),
    }))
}

/// The licences the connection imported (unsubscribed ones marked).
#[utoipa::path(get, path = "/api/connections/{id}/licences", tag = "licences",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = LicenceList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn licences(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
) -> Answer<LicenceList> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::Read)?;
    let licences = auth.service.licences(connection.as_str()).await?;
    Ok(Json(LicenceList {
        licences: licences.into_iter().map(Into::into).collect(),
    }))
}

/// Imports the connection's licences now, without a user sync.
#[utoipa::path(post, path = "/api/connections/{id}/licences/import", tag = "licences",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = LicencesImported), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The connection imports no licences"),
        (status = 502, body = ErrorBody, description = "Graph could not be read")))]
async fn import_licences(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
) -> Answer<LicencesImported> {
    let connection = auth.caller.reach(&path(id)?, AccessLevel::ReadModify)?;
    let import = auth.service.import_licences(connection.as_str()).await?;
    Ok(Json(import.into()))
}

/// The caller may see the connection and manage its access list.
fn manages(auth: &Authorised, id: &str) -> Result<String, ApiError> {
    let connection = auth.caller.reach(id, AccessLevel::Read)?;
    if auth.caller.configures() {
        Ok(connection.to_string())
    } else {
        Err(ServiceError::Forbidden(
            "only an admin key or an agent who can configure Entra manages access".to_owned(),
        )
        .into())
    }
}

/// The agents granted access to the connection.
#[utoipa::path(get, path = "/api/connections/{id}/access", tag = "access",
    params(("id" = String, Path, description = "The connection id")),
    responses((status = 200, body = AccessList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn access_list(
    auth: Authorised,
    id: Result<Path<String>, PathRejection>,
) -> Answer<AccessList> {
    let connection = manages(&auth, &path(id)?)?;
    let grants = auth.service.access_list(&connection).await?;
    Ok(Json(AccessList {
        access: grants.into_iter().map(Into::into).collect(),
    }))
}

/// Grants (or changes) an agent's access to the connection.
#[utoipa::path(put, path = "/api/connections/{id}/access/{email}", tag = "access",
    params(("id" = String, Path, description = "The connection id"),
        ("email" = String, Path, description = "The agent's email")),
    request_body = GrantBody,
    responses((status = 200, body = Granted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant(
    auth: Authorised,
    ids: Result<Path<(String, String)>, PathRejection>,
    request: Body<GrantBody>,
) -> Answer<Granted> {
    let (id, email) = path(ids)?;
    let connection = manages(&auth, &id)?;
    let level = body(request)?.level;
    auth.service
        .grant_access(&connection, &email, level.into())
        .await?;
    Ok(Json(Granted {
        agent: email,
        level,
    }))
}

/// Removes an agent's access to the connection.
#[utoipa::path(delete, path = "/api/connections/{id}/access/{email}", tag = "access",
    params(("id" = String, Path, description = "The connection id"),
        ("email" = String, Path, description = "The agent's email")),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(
    auth: Authorised,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (id, email) = path(ids)?;
    let connection = manages(&auth, &id)?;
    auth.service.revoke_access(&connection, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The description: every handler above, the bearer scheme, and the wire types they use.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "entra-sync admin API",
        description = "Connections, runs, the inbound log, the import preview, delegated sign-in, access, licence write-back and groups as ticket followers, for the connections the bearer key reaches. A connection the key cannot reach answers 404."
    ),
    paths(
        connections, status, sync, runs, approve, log, preview, check, delta_reset, keep_active,
        authorize, licences, import_licences, access_list, grant, revoke,
        super::desk::assign_licence, super::desk::remove_licence, super::desk::groups,
        super::desk::follow, super::desk::follow_default
    ),
    components(schemas(Records)),
    modifiers(&BearerKeys),
    security(("api_key" = []))
)]
pub(super) struct Description;
