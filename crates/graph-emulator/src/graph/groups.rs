//! `GET /groups`, `GET /groups/{id}`, `GET /groups/{id}/members` and
//! `GET /groups/{id}/transitiveMembers` (group-list.md, group-get.md, group-list-members.md,
//! group-list-transitivemembers.md).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use axum::{Extension, Json};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::GraphError;
use super::filter::Value as FilterValue;
use super::query::{ODataQuery, decode_token, encode_token, eventual, raw_count_refused};
use super::users::ListCursor;
use super::{Caller, READ_GROUPS, render};
use crate::directory::{Group, GroupProp, Member, MemberKind};
use crate::state::{Emulator, read};

const DEFAULT_PAGE: usize = 100;

/// Properties a group list returns without `$select`.
pub const DEFAULT_GROUP_PROPS: [GroupProp; 9] = [
    GroupProp::CreatedDateTime,
    GroupProp::Description,
    GroupProp::DisplayName,
    GroupProp::GroupTypes,
    GroupProp::Mail,
    GroupProp::MailEnabled,
    GroupProp::MailNickname,
    GroupProp::SecurityEnabled,
    GroupProp::Visibility,
];

const FILTERABLE: [&str; 6] = [
    "id",
    "displayName",
    "mail",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
];

fn filter_value(group: &Group, name: &str) -> FilterValue {
    match name.to_ascii_lowercase().as_str() {
        "id" => FilterValue::Text(group.id.to_string()),
        "displayname" => FilterValue::Text(group.display_name.to_string()),
        "mail" => group
            .mail
            .as_deref()
            .map_or(FilterValue::Null, |m| FilterValue::Text(m.into())),
        "mailnickname" => FilterValue::Text(group.mail_nickname.to_string()),
        "mailenabled" => FilterValue::Bool(group.mail_enabled()),
        "securityenabled" => FilterValue::Bool(group.security_enabled()),
        "grouptypes" => FilterValue::List(
            group
                .group_types()
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        ),
        _ => FilterValue::Null,
    }
}

fn start_of(emulator: &Emulator, query: &ODataQuery) -> Result<usize, GraphError> {
    match &query.skip_token {
        Some(token) => decode_token::<ListCursor>(token)
            .filter(|c| c.e == emulator.epoch())
            .map(|c| c.c as usize)
            .ok_or_else(super::delta::expired_page_token),
        None => Ok(0),
    }
}

fn next_link(
    emulator: &Emulator,
    path: &str,
    query: &ODataQuery,
    next: Option<usize>,
) -> Option<Value> {
    let token = encode_token(&ListCursor {
        e: emulator.epoch(),
        c: next? as u32,
    });
    Some(Value::String(format!(
        "{}/{path}?{}",
        emulator.urls.graph,
        query.with_skip_token(&token)
    )))
}

/// `GET /groups`, including `$filter=displayName eq '…'` with doubled quotes.
pub async fn list(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_GROUPS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    query.refuse_unsupported()?;
    let counted = query.counted(&headers)?;
    let props = render::group_props(query.select.as_deref(), &DEFAULT_GROUP_PROPS)
        .map_err(GraphError::bad_request)?;
    let unmodelled = render::unmodelled_group(query.select.as_deref());
    if let Some(filter) = &query.filter
        && let Some(p) = filter.properties().into_iter().find(|p| {
            !FILTERABLE.iter().any(|f| f.eq_ignore_ascii_case(p))
                && !p.eq_ignore_ascii_case("groupTypes")
        })
    {
        return Err(unsupported_filter(p));
    }
    let page = query.top.map_or(DEFAULT_PAGE, |t| t as usize);
    let start = start_of(&emulator, &query)?;
    let dir = read(&caller.tenant.directory);
    let matches = |group: &Group| {
        group.is_live()
            && query
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| filter_value(group, p)))
    };
    let mut value = Vec::new();
    let mut next = None;
    for (slot, group) in dir.groups.iter().enumerate().skip(start) {
        if !matches(group) {
            continue;
        }
        if value.len() == page {
            next = Some(slot);
            break;
        }
        let mut map = render::group(group, &props);
        render::add_unmodelled(&mut map, &unmodelled);
        value.push(Value::Object(map));
    }
    let mut body = json!({"@odata.context": format!("{}/$metadata#groups", emulator.urls.graph), "value": value});
    if counted {
        body["@odata.count"] = json!(dir.groups.iter().filter(|g| matches(g)).count());
    }
    if let Some(link) = next_link(&emulator, "groups", &query, next) {
        body["@odata.nextLink"] = link;
    }
    Ok(Json(body).into_response())
}

fn unsupported_filter(property: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported or invalid query filter clause specified for property '{property}' of resource 'Group'."
    ))
}

/// `GET /groups/$count`: the number of live groups (matching `$filter`), as text; needs
/// `ConsistencyLevel: eventual` (group-list.md, example "Get only a count of groups").
pub async fn count(
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_GROUPS)?;
    if !eventual(&headers) {
        return Err(raw_count_refused());
    }
    let query = ODataQuery::parse(raw.as_deref())?;
    let dir = read(&caller.tenant.directory);
    let count = dir
        .groups
        .iter()
        .filter(|g| {
            g.is_live()
                && query
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&|p| filter_value(g, p)))
        })
        .count();
    Ok(render::plain_count(count))
}

/// `GET /groups/{id}`.
pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_GROUPS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let props = render::group_props(query.select.as_deref(), &DEFAULT_GROUP_PROPS)
        .map_err(GraphError::bad_request)?;
    let dir = read(&caller.tenant.directory);
    let group = Uuid::parse_str(&id)
        .ok()
        .and_then(|g| dir.live_group(g))
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut map = render::group(group, &props);
    render::add_unmodelled(&mut map, &render::unmodelled_group(query.select.as_deref()));
    map.insert(
        "@odata.context".into(),
        Value::String(format!("{}/$metadata#groups/$entity", emulator.urls.graph)),
    );
    Ok(Json(Value::Object(map)).into_response())
}

/// Which members a member list shows.
#[derive(Debug, Clone, Copy)]
pub struct MemberQuery {
    /// Through nested groups (`transitiveMembers`).
    pub transitive: bool,
    /// The type-cast segment (`/members/microsoft.graph.user`): only that kind.
    pub cast: Option<MemberKind>,
}

async fn member_list(
    emulator: &Emulator,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    raw: Option<&str>,
    shape: MemberQuery,
) -> Result<Response, GraphError> {
    let MemberQuery { transitive, cast } = shape;
    caller.require(READ_GROUPS)?;
    let query = ODataQuery::parse(raw)?;
    query.refuse_unsupported()?;
    let counted = query.counted(headers)?;
    let page = query.top.map_or(DEFAULT_PAGE, |t| t as usize);
    let start = start_of(emulator, &query)?;
    let dir = read(&caller.tenant.directory);
    let group = Uuid::parse_str(id)
        .ok()
        .and_then(|g| dir.live_group(g))
        .ok_or_else(|| GraphError::not_found(id))?;
    let mut members: Vec<Member> = if transitive {
        dir.transitive_members(group.id)
    } else {
        group.members.clone()
    };
    if let Some(kind) = cast {
        members.retain(|m| m.kind == kind);
    }
    let value: Vec<Value> = members
        .iter()
        .skip(start)
        .take(page)
        .map(|m| render::member(&dir, m, query.select.as_deref()))
        .collect();
    let next = (start + page < members.len()).then_some(start + page);
    let context = match cast {
        Some(kind) => format!("{}/$metadata#{}", emulator.urls.graph, kind.collection()),
        None => format!("{}/$metadata#directoryObjects", emulator.urls.graph),
    };
    let mut body = json!({"@odata.context": context, "value": value});
    if counted {
        body["@odata.count"] = json!(members.len());
    }
    let mut path = format!(
        "groups/{id}/{}",
        if transitive {
            "transitiveMembers"
        } else {
            "members"
        }
    );
    if let Some(kind) = cast {
        path.push('/');
        path.push_str(kind.cast_segment());
    }
    if let Some(link) = next_link(emulator, &path, &query, next) {
        body["@odata.nextLink"] = link;
    }
    Ok(Json(body).into_response())
}

/// `GET /groups/{id}/members`: direct members (users, groups, org contacts).
pub async fn members(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let shape = MemberQuery {
        transitive: false,
        cast: None,
    };
    member_list(&emulator, &caller, &id, &headers, raw.as_deref(), shape).await
}

/// `GET /groups/{id}/transitiveMembers`: members through nested groups, each once.
pub async fn transitive_members(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let shape = MemberQuery {
        transitive: true,
        cast: None,
    };
    member_list(&emulator, &caller, &id, &headers, raw.as_deref(), shape).await
}

/// A member list behind a type-cast segment (`/members/microsoft.graph.user`,
/// group-list-members.md, example "Get only the users in a group"), as a handler.
pub fn cast_members(shape: MemberQuery) -> MethodRouter<Arc<Emulator>> {
    routing::get(
        move |State(emulator): State<Arc<Emulator>>,
              Extension(caller): Extension<Caller>,
              Path(id): Path<String>,
              headers: HeaderMap,
              RawQuery(raw): RawQuery| async move {
            member_list(&emulator, &caller, &id, &headers, raw.as_deref(), shape).await
        },
    )
}
