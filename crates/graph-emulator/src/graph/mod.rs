//! Microsoft Graph v1.0: the routes the daemon uses, behind one request pipeline that
//! authenticates the bearer token, applies scripted faults and resource-unit throttling,
//! renders errors, sets Graph's response headers and counts every response.

pub mod applications;
pub mod batch;
pub mod delta;
pub mod error;
pub mod filter;
pub mod groups;
pub mod licences;
pub mod organization;
pub mod photos;
pub mod properties;
pub mod query;
pub mod render;
mod spoil;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use uuid::Uuid;

use crate::auth::grants::Grant;
use crate::directory::MemberKind;
use crate::faults::{FaultKind, RequestShape};
use crate::state::{Emulator, Tenant, lock, read};
use crate::throttle::{Admission, CostInputs, cost};
use error::GraphError;
use query::ODataQuery;
use spoil::{Mangle, spoil};

/// Graph's JSON content type.
pub const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Who is calling, as the pipeline established it; handlers take it as an extension.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's grant.
    pub grant: Grant,
    /// The token's tenant.
    pub tenant: Arc<Tenant>,
}

impl Caller {
    /// 403 unless the token carries one of `permissions`.
    pub fn require(&self, permissions: &[&str]) -> Result<(), GraphError> {
        if self.grant.allows_any(permissions) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }
}

/// Permissions that read users.
pub const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Permissions that read groups and their members.
pub const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// The Graph routes (relative to `/v1.0`): path and handlers. Unknown paths are resolved
/// against these patterns to name the first segment that does not resolve.
fn routes() -> Vec<(&'static str, MethodRouter<Arc<Emulator>>)> {
    let mut routes = vec![
        ("/users", get(users::list)),
        ("/users/$count", get(users::count)),
        ("/users/delta", get(delta::users)),
        ("/users/delta()", get(delta::users)),
        ("/users/{id}", get(users::get)),
        ("/users/{id}/manager", get(users::manager)),
        ("/users/{id}/assignLicense", post(licences::assign)),
        ("/users/{id}/photos", get(photos::list)),
        ("/users/{id}/photos/{size}", get(photos::size)),
        ("/users/{id}/photos/{size}/$value", get(photos::size_value)),
        ("/users/{id}/photo", get(photos::get)),
        ("/users/{id}/photo/$value", get(photos::value)),
        ("/groups", get(groups::list)),
        ("/groups/$count", get(groups::count)),
        ("/groups/delta", get(delta::groups)),
        ("/groups/delta()", get(delta::groups)),
        ("/groups/{id}", get(groups::get)),
        ("/groups/{id}/members", get(groups::members)),
        (
            "/groups/{id}/transitiveMembers",
            get(groups::transitive_members),
        ),
        ("/subscribedSkus", get(licences::subscribed_skus)),
        ("/applications", get(applications::list)),
        ("/organization", get(organization::list)),
        ("/organization/{id}", get(organization::get)),
        ("/$batch", post(batch::batch)),
    ];
    for (path, transitive, cast) in TYPE_CASTS {
        let shape = groups::MemberQuery {
            transitive,
            cast: Some(cast),
        };
        routes.push((path, groups::cast_members(shape)));
    }
    routes
}

/// The type-cast segments on member collections, with and without a trailing slash.
const TYPE_CASTS: [(&str, bool, MemberKind); 12] = [
    (
        "/groups/{id}/members/microsoft.graph.user",
        false,
        MemberKind::User,
    ),
    (
        "/groups/{id}/members/microsoft.graph.user/",
        false,
        MemberKind::User,
    ),
    (
        "/groups/{id}/members/microsoft.graph.group",
        false,
        MemberKind::Group,
    ),
    (
        "/groups/{id}/members/microsoft.graph.group/",
        false,
        MemberKind::Group,
    ),
    (
        "/groups/{id}/members/microsoft.graph.orgContact",
        false,
        MemberKind::OrgContact,
    ),
    (
        "/groups/{id}/members/microsoft.graph.orgContact/",
        false,
        MemberKind::OrgContact,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.user",
        true,
        MemberKind::User,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.user/",
        true,
        MemberKind::User,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.group",
        true,
        MemberKind::Group,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.group/",
        true,
        MemberKind::Group,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.orgContact",
        true,
        MemberKind::OrgContact,
    ),
    (
        "/groups/{id}/transitiveMembers/microsoft.graph.orgContact/",
        true,
        MemberKind::OrgContact,
    ),
];

/// The Graph routes (relative to `/v1.0`) with the pipeline applied. Unrouted requests go
/// through the same pipeline (token first, then counted), and answer Graph's 400.
pub fn router(emulator: Arc<Emulator>) -> Router {
    let routes = routes();
    let patterns: Arc<[&'static str]> = routes.iter().map(|(path, _)| *path).collect();
    let router = routes
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(path, handlers)
        })
        .route_layer(middleware::from_fn_with_state(emulator.clone(), pipeline));
    let unrouted = any(move |request: Request| {
        let patterns = patterns.clone();
        async move { unknown_segment(&patterns, request.uri().path()).into_response() }
    })
    .layer(middleware::from_fn_with_state(
        emulator.clone(),
        unrouted_pipeline,
    ));
    router.fallback_service(unrouted).with_state(emulator)
}

/// Graph's answer to a path it cannot resolve: 400 naming the first segment that matches no
/// route (`/users/{id}/photoz` names `photoz`, not the rest of the path).
fn unknown_segment(patterns: &[&str], path: &str) -> GraphError {
    let segments: Vec<&str> = path
        .trim_start_matches("/v1.0")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let resolved = patterns
        .iter()
        .map(|pattern| {
            pattern
                .split('/')
                .filter(|s| !s.is_empty())
                .zip(&segments)
                .take_while(|(expected, given)| {
                    expected.starts_with('{') || expected.eq_ignore_ascii_case(given)
                })
                .count()
        })
        .max()
        .unwrap_or(0);
    let segment = segments.get(resolved).copied().unwrap_or_default();
    let segment = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    GraphError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Adds the configured latency before a request is served (outer requests only; `$batch`
/// parts do not wait again).
pub async fn latency(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    if emulator.config.latency > Duration::ZERO {
        tokio::time::sleep(emulator.config.latency).await;
    }
    next.run(request).await
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The request pipeline of every Graph route.
async fn pipeline(
    State(emulator): State<Arc<Emulator>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.as_str().trim_start_matches("/v1.0").to_owned();
    let endpoint = format!("{} /v1.0{route}", request.method());
    serve(&emulator, &route, endpoint, request, next).await
}

/// The pipeline for a path no route matches: counted under [`UNROUTED`] plus the method.
async fn unrouted_pipeline(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = format!("{} {UNROUTED}", request.method());
    serve(&emulator, UNROUTED, endpoint, request, next).await
}

/// The counter label (after the method) of requests no Graph route matches.
pub const UNROUTED: &str = "/v1.0 (unrouted)";

async fn serve(
    emulator: &Emulator,
    route: &str,
    endpoint: String,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| request_id.clone(), str::to_owned);
    let low_priority = request
        .headers()
        .get("x-ms-throttle-priority")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("low"));

    // The URL the client asked for, as a link to it (for a page that points back at itself).
    let self_link = {
        let asked = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| request.uri().clone(), |original| original.0.clone());
        let graph = emulator.urls.graph.trim_end_matches('/');
        let origin = url::Url::parse(graph)
            .map(|graph| graph.origin().ascii_serialization())
            .unwrap_or_default();
        let path = asked.path_and_query().map_or("", |p| p.as_str());
        // A `$batch` part's URL is relative to the version (`/users/delta?…`).
        let version = graph.strip_prefix(&origin).unwrap_or_default();
        if path.starts_with(version) && !version.is_empty() {
            format!("{origin}{path}")
        } else {
            format!("{graph}{path}")
        }
    };
    let (mut response, resource_units, limit_percentage, malformed) =
        match admit(emulator, &mut request, route, &endpoint).await {
            Ok(admitted) => (
                next.run(request).await,
                admitted.resource_units,
                admitted.limit_percentage,
                admitted.malformed,
            ),
            Err((error, units)) => (error.into_response(), units, None, None),
        };

    // Extractor rejections (a malformed body, say) come back as plain text: give them
    // Graph's error shape too.
    let plain_failure = response.status().is_client_error()
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
    if plain_failure && response.extensions().get::<GraphError>().is_none() {
        let status = response.status();
        let body = std::mem::replace(response.body_mut(), Body::empty());
        let text = to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let error = GraphError::new(
            status,
            "BadRequest",
            String::from_utf8_lossy(&text).into_owned(),
        );
        response.extensions_mut().insert(error);
    }
    if let Some(error) = response.extensions_mut().remove::<GraphError>() {
        let body = error
            .body(emulator.now(), &request_id, &client_request_id)
            .to_string();
        let status = error.status;
        let mut rendered =
            (status, [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)], body).into_response();
        for (name, value) in &error.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                rendered.headers_mut().insert(*name, value);
            }
        }
        response = rendered;
    } else if let Some(mangle) = malformed {
        let body = std::mem::replace(response.body_mut(), Body::empty());
        let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
        *response.body_mut() = spoil(mangle, bytes, &self_link);
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    let headers = response.headers_mut();
    // `/$count` answers text and `photo/$value` an image: only JSON gets Graph's JSON type.
    let own_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.contains("json"));
    if !own_type {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
    }
    for (name, value) in [
        ("request-id", request_id.as_str()),
        ("client-request-id", client_request_id.as_str()),
        (
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graph-emulator"}}"#,
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    headers.insert("x-ms-resource-unit", HeaderValue::from(resource_units));
    if let Some(share) = limit_percentage
        && let Ok(value) = HeaderValue::from_str(&format!("{:.1}", share.min(1.8)))
    {
        headers.insert("x-ms-throttle-limit-percentage", value);
    }
    lock(&emulator.counters).record(&endpoint, response.status().as_u16(), low_priority);
    response
}

/// A request the pipeline lets through.
struct Admitted {
    resource_units: u32,
    limit_percentage: Option<f64>,
    /// A fault that serves the answer, then spoils it.
    malformed: Option<Mangle>,
}

/// Authenticates, applies faults and throttling, and leaves the [`Caller`] in the request's
/// extensions; or returns the error to answer with and the request's resource units.
async fn admit(
    emulator: &Emulator,
    request: &mut Request,
    route: &str,
    endpoint: &str,
) -> Result<Admitted, (GraphError, u32)> {
    let query = ODataQuery::parse(request.uri().query()).unwrap_or_default();
    let units = cost(CostInputs {
        method: request.method().as_str(),
        route,
        select: query.select.is_some(),
        expand: query.expand.is_some(),
        top: query.top,
    });
    let Some(token) = bearer(request) else {
        return Err((
            GraphError::unauthorized("Access token is empty."),
            units.resource_units,
        ));
    };
    let grant = lock(&emulator.tokens).access(token).cloned();
    let Some(grant) = grant else {
        return Err((
            GraphError::unauthorized("Access token validation failure. Invalid audience."),
            units.resource_units,
        ));
    };
    let now = emulator.now();
    if grant.expires <= now {
        return Err((
            GraphError::unauthorized("Lifetime validation failed, the token is expired."),
            units.resource_units,
        ));
    }
    let Some(tenant) = emulator.tenant_by_id(grant.tenant) else {
        return Err((
            GraphError::unauthorized("Access token validation failure. Invalid audience."),
            units.resource_units,
        ));
    };

    let fault = lock(&emulator.faults).take(RequestShape {
        endpoint,
        tenant: tenant.id,
        delta_token: query
            .delta_token
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t != "latest"),
        skip_token: query.skip_token.is_some(),
    });
    let mut malformed = None;
    if let Some(fault) = fault {
        match fault {
            FaultKind::MalformedJson => malformed = Some(Mangle::Cut),
            FaultKind::DropNextLink => malformed = Some(Mangle::DropNextLink),
            FaultKind::RepeatPage => malformed = Some(Mangle::RepeatPage),
            FaultKind::ResetConnection => malformed = Some(Mangle::Reset),
            FaultKind::WrongTypes => malformed = Some(Mangle::WrongTypes),
            _ => {
                if let Some(error) = apply_fault(emulator, fault, route, &query).await {
                    return Err((error, units.resource_units));
                }
            }
        }
    }

    // `$batch` itself is free: each of its parts is charged as it runs.
    if emulator.config.throttle && route != "/$batch" {
        let users = || read(&tenant.directory).live_user_count();
        let admission =
            lock(&emulator.throttle).admit(tenant.id, grant.client_id, users, units, now);
        match admission {
            Admission::Admitted { limit_percentage } => {
                request.extensions_mut().insert(Caller { grant, tenant });
                return Ok(Admitted {
                    resource_units: units.resource_units,
                    limit_percentage,
                    malformed,
                });
            }
            Admission::Throttled {
                retry_after_secs,
                scope,
                information,
            } => {
                let error = GraphError::too_many_requests(retry_after_secs)
                    .with_header("x-ms-throttle-scope", scope)
                    .with_header("x-ms-throttle-information", information);
                return Err((error, units.resource_units));
            }
        }
    }
    request.extensions_mut().insert(Caller { grant, tenant });
    Ok(Admitted {
        resource_units: units.resource_units,
        limit_percentage: None,
        malformed,
    })
}

/// The error a fault answers with; `None` for the faults that serve, then spoil, the answer.
async fn apply_fault(
    emulator: &Emulator,
    fault: FaultKind,
    route: &str,
    query: &ODataQuery,
) -> Option<GraphError> {
    Some(match fault {
        FaultKind::TooManyRequests { retry_after_secs } => {
            GraphError::too_many_requests(u64::from(retry_after_secs))
                .with_header("x-ms-throttle-information", "ResourceUnitLimitExceeded")
        }
        FaultKind::ServiceUnavailable { retry_after_secs } => {
            let error = GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry after some time.",
            );
            match retry_after_secs {
                Some(secs) => error.with_header("Retry-After", secs.to_string()),
                None => error,
            }
        }
        FaultKind::Timeout { hang_ms } => {
            tokio::time::sleep(Duration::from_millis(hang_ms)).await;
            GraphError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The request timed out.",
            )
        }
        FaultKind::MalformedJson
        | FaultKind::DropNextLink
        | FaultKind::RepeatPage
        | FaultKind::ResetConnection
        | FaultKind::WrongTypes => return None,
        FaultKind::SyncStateNotFound => delta::sync_state_not_found(),
        FaultKind::ExpiredPageToken => delta::expired_page_token(),
        FaultKind::ResyncRequired => delta::resync_required(&emulator.urls.graph, route, query),
    })
}
