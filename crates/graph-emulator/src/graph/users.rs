//! `GET /users`, `GET /users/{id}` and `GET /users/{id}/manager` (user-list.md, user-get.md,
//! user-list-manager.md).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::GraphError;
use super::filter::{Filter, Value as FilterValue};
use super::properties::Documented;
use super::query::{ODataQuery, decode_token, encode_token, eventual, raw_count_refused};
use super::{Caller, READ_USERS, render};
use crate::directory::{Directory, User, UserProp};
use crate::state::{Emulator, read};

/// Page size without `$top`.
const DEFAULT_PAGE: usize = 100;
/// Pages are capped at 100 with `$expand` (user-list.md, "Optional query parameters").
const EXPAND_PAGE_CAP: usize = 100;
/// Pages are capped at 120 when `signInActivity` is selected (user-list.md, signInActivity note).
const SIGN_IN_PAGE_CAP: usize = 120;

/// Properties `$filter` may name on users.
const FILTERABLE: [&str; 17] = [
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "employeeId",
    "accountEnabled",
    "userType",
    "department",
    "jobTitle",
    "city",
    "country",
    "usageLocation",
    "companyName",
    "officeLocation",
    "onPremisesSamAccountName",
];

/// Position of the next page of a list.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListCursor {
    /// Epoch the token was issued in.
    pub e: u32,
    /// Slot to continue from.
    pub c: u32,
}

/// The value a filter sees for a user property.
pub fn filter_value(user: &User, name: &str) -> FilterValue {
    if name.eq_ignore_ascii_case("id") {
        return FilterValue::Text(user.id.to_string());
    }
    match UserProp::from_name(name) {
        Some(UserProp::AccountEnabled) => FilterValue::Bool(user.account_enabled),
        Some(prop) => user
            .text(prop)
            .map_or(FilterValue::Null, |t| FilterValue::Text(t.to_owned())),
        None => FilterValue::Null,
    }
}

fn check_filter(filter: &Filter) -> Result<(), GraphError> {
    match filter
        .properties()
        .into_iter()
        .find(|p| !FILTERABLE.iter().any(|f| f.eq_ignore_ascii_case(p)))
    {
        Some(p) => Err(GraphError::unsupported_query(format!(
            "Unsupported or invalid query filter clause specified for property '{p}' of resource 'User'."
        ))),
        None => Ok(()),
    }
}

/// What `$expand` asks for: only `manager`, optionally with its own `$select`.
fn expand_manager(expand: Option<&str>) -> Result<Option<Vec<UserProp>>, GraphError> {
    let Some(expand) = expand else {
        return Ok(None);
    };
    let lower = expand.trim().to_ascii_lowercase();
    if lower == "manager" {
        return Ok(Some(UserProp::DEFAULT.to_vec()));
    }
    if let Some(inner) = lower
        .strip_prefix("manager(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let select: Option<Vec<String>> = inner
            .strip_prefix("$select=")
            .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
        return render::user_props(select.as_deref())
            .map(Some)
            .map_err(GraphError::bad_request);
    }
    Err(GraphError::bad_request(format!(
        "Could not find a navigation property named '{expand}' on type 'microsoft.graph.user'."
    )))
}

/// Builds `@odata.context` for users with an optional `$select`.
fn context(base: &str, select: Option<&[String]>, entity: bool) -> String {
    let suffix = if entity { "/$entity" } else { "" };
    match select {
        Some(select) => format!("{base}/$metadata#users({}){suffix}", select.join(",")),
        None => format!("{base}/$metadata#users{suffix}"),
    }
}

fn user_json<'a>(
    dir: &'a Directory,
    user: &'a User,
    props: &'a [UserProp],
    unmodelled: &'a [&'static Documented],
    manager: Option<&'a [UserProp]>,
) -> render::UserJson<'a> {
    let expanded = manager.and_then(|p| render::live_manager(dir, user).map(|m| (m, p)));
    render::UserJson {
        manager: expanded,
        unmodelled,
        ..render::UserJson::new(user, props, true)
    }
}

/// `GET /users`.
pub async fn list(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    query.refuse_unsupported()?;
    let counted = query.counted(&headers)?;
    let props = render::user_props(query.select.as_deref()).map_err(GraphError::bad_request)?;
    let unmodelled = render::unmodelled_user(query.select.as_deref());
    let manager = expand_manager(query.expand.as_deref())?;
    let sign_in = props.contains(&UserProp::SignInActivity);
    if sign_in {
        caller.require(&["AuditLog.Read.All"])?;
    }
    if let Some(filter) = &query.filter {
        check_filter(filter)?;
    }
    let mut page = query.top.map_or(DEFAULT_PAGE, |t| t as usize);
    if manager.is_some() {
        page = page.min(EXPAND_PAGE_CAP);
    }
    if sign_in {
        page = page.min(SIGN_IN_PAGE_CAP);
    }
    let start = match &query.skip_token {
        Some(token) => {
            let cursor: ListCursor = decode_token(token)
                .filter(|c: &ListCursor| c.e == emulator.epoch())
                .ok_or_else(super::delta::expired_page_token)?;
            cursor.c as usize
        }
        None => 0,
    };
    let dir = read(&caller.tenant.directory);
    let matches = |user: &User| {
        user.is_live()
            && query
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| filter_value(user, p)))
    };
    let count = counted.then(|| dir.users.iter().filter(|u| matches(u)).count());
    let mut value = Vec::with_capacity(page.min(1_000));
    let mut next = None;
    for (slot, user) in dir.users.iter().enumerate().skip(start) {
        if !matches(user) {
            continue;
        }
        if value.len() == page {
            next = Some(slot);
            break;
        }
        value.push(user_json(
            &dir,
            user,
            &props,
            &unmodelled,
            manager.as_deref(),
        ));
    }
    let base = &emulator.urls.graph;
    let next_link = next.map(|slot| {
        let token = encode_token(&ListCursor {
            e: emulator.epoch(),
            c: slot as u32,
        });
        format!("{base}/users?{}", query.with_skip_token(&token))
    });
    let page = render::Page {
        context: context(base, query.select.as_deref(), false),
        count,
        next_link,
        delta_link: None,
        value,
    };
    Ok(Json(page).into_response())
}

/// `GET /users/$count`: the number of live users (matching `$filter`), as text; needs
/// `ConsistencyLevel: eventual` (user-list.md, example "Get only a count of users").
pub async fn count(
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    if !eventual(&headers) {
        return Err(raw_count_refused());
    }
    let query = ODataQuery::parse(raw.as_deref())?;
    if let Some(filter) = &query.filter {
        check_filter(filter)?;
    }
    let dir = read(&caller.tenant.directory);
    let count = dir
        .live_users()
        .filter(|u| {
            query
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| filter_value(u, p)))
        })
        .count();
    Ok(render::plain_count(count))
}

/// `GET /users/{id | userPrincipalName}`.
pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let props = render::user_props(query.select.as_deref()).map_err(GraphError::bad_request)?;
    if props.contains(&UserProp::SignInActivity) {
        caller.require(&["AuditLog.Read.All"])?;
    }
    let unmodelled = render::unmodelled_user(query.select.as_deref());
    let manager = expand_manager(query.expand.as_deref())?;
    let dir = read(&caller.tenant.directory);
    let user = dir
        .live_user_by_key(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let Ok(Value::Object(mut map)) = serde_json::to_value(user_json(
        &dir,
        user,
        &props,
        &unmodelled,
        manager.as_deref(),
    )) else {
        return Err(GraphError::not_found(&id));
    };
    map.insert(
        "@odata.context".into(),
        Value::String(context(&emulator.urls.graph, query.select.as_deref(), true)),
    );
    Ok(Json(Value::Object(map)).into_response())
}

/// `GET /users/{id}/manager`: the manager as a directory object, 404 without one.
pub async fn manager(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let props = render::user_props(query.select.as_deref()).map_err(GraphError::bad_request)?;
    let dir = read(&caller.tenant.directory);
    let user = dir
        .live_user_by_key(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let Some(Value::Object(mut map)) = render::expanded_manager(&dir, user, &props) else {
        return Err(GraphError::not_found("manager"));
    };
    map.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#directoryObjects/$entity",
            emulator.urls.graph
        )),
    );
    Ok(Json(Value::Object(map)).into_response())
}
