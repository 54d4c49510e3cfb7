//! `GET /users/delta` and `GET /groups/delta` (user-delta.md, group-delta.md,
//! concepts/delta-query-overview.md, delta-query-users.md, delta-query-groups.md).
//!
//! A round is "changes since version N" of the tenant's directory. Its tokens are opaque
//! base64url JSON carrying N, the version the round started at (the next round's N), the
//! cursor, the `$select` set and the `$filter` ids — so deltaLinks can be replayed any time.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::GraphError;
use super::query::{ODataQuery, Prefer, decode_token, encode_token};
use super::{Caller, READ_GROUPS, READ_USERS, render};
use crate::directory::{Group, GroupProp, Lifecycle, Member, User, UserProp};
use crate::state::{Emulator, read};

/// Page size without `Prefer: odata.maxpagesize`.
const DEFAULT_PAGE: u32 = 100;
/// Most ids a delta `$filter` may name.
const MAX_FILTER_IDS: usize = 50;
/// Delta tokens of directory objects are valid for 7 days (delta-query-overview.md).
const DELTA_TOKEN_DAYS: i64 = 7;

/// Which collection a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Collection {
    #[serde(rename = "u")]
    Users,
    #[serde(rename = "g")]
    Groups,
}

/// Everything a delta request needs, encoded in its `$skiptoken` / `$deltatoken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeltaState {
    /// Collection.
    k: Collection,
    /// Emulator reset epoch.
    e: u32,
    /// Tenant.
    t: Uuid,
    /// Changes after this version are reported (0: initial round, full state).
    s: u32,
    /// Version the round started at: the next round's `s`.
    u: u32,
    /// Next slot to scan.
    c: u32,
    /// Offset into the members of the group at `c` (groups split across pages).
    m: u32,
    /// Selected property names; `None` for the default set.
    p: Option<Vec<String>>,
    /// `$filter` ids.
    f: Vec<Uuid>,
    /// Issue time (unix seconds) of the deltaLink the round started from.
    i: i64,
}

/// 400 `syncStateNotFound`: the delta token expired or is unknown.
pub fn sync_state_not_found() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired or invalid; restart the sync with a fresh delta query.",
    )
}

/// 400 `Directory_ExpiredPageToken`: the skip token expired.
pub fn expired_page_token() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

/// 410 `resyncRequired` with a `Location` that starts a fresh round with the same options
/// and an empty `$deltatoken`.
pub fn resync_required(base: &str, route: &str, query: &ODataQuery) -> GraphError {
    let state = query
        .delta_token
        .as_deref()
        .or(query.skip_token.as_deref())
        .and_then(decode_token::<DeltaState>);
    let mut restart = url::form_urlencoded::Serializer::new(String::new());
    if let Some(state) = &state {
        if let Some(select) = &state.p {
            restart.append_pair("$select", &select.join(","));
        }
        if !state.f.is_empty() {
            let ids: Vec<String> = state.f.iter().map(|id| format!("id eq '{id}'")).collect();
            restart.append_pair("$filter", &ids.join(" or "));
        }
    }
    restart.append_pair("$deltatoken", "");
    GraphError::new(
        StatusCode::GONE,
        "resyncRequired",
        "Resync required. Replace any local cached copies of the directory objects and start over with a fresh delta query.",
    )
    .with_header("Location", format!("{base}{route}?{}", restart.finish()))
}

/// The state of this request: from its token, or a fresh initial round from its options.
fn state_of(
    emulator: &Emulator,
    caller: &Caller,
    collection: Collection,
    query: &ODataQuery,
) -> Result<DeltaState, GraphError> {
    let now = emulator.now();
    let latest = query.skip_token.is_none() && query.delta_token.as_deref() == Some("latest");
    let token = query.skip_token.as_deref().map(|t| (t, true)).or(query
        .delta_token
        .as_deref()
        .filter(|t| !t.is_empty() && !latest)
        .map(|t| (t, false)));
    let version = read(&caller.tenant.directory).version();
    if let Some((token, skip)) = token {
        let invalid = if skip {
            expired_page_token
        } else {
            sync_state_not_found
        };
        let state: DeltaState = decode_token(token).ok_or_else(invalid)?;
        if state.k != collection || state.e != emulator.epoch() || state.t != caller.tenant.id {
            return Err(invalid());
        }
        if !skip {
            if now.timestamp() - state.i > Duration::days(DELTA_TOKEN_DAYS).num_seconds() {
                return Err(sync_state_not_found());
            }
            // A deltaLink starts the next round: changes since the last round began.
            return Ok(DeltaState {
                s: state.u,
                u: version,
                c: 0,
                m: 0,
                i: now.timestamp(),
                ..state
            });
        }
        return Ok(state);
    }
    if query.top.is_some() {
        return Err(GraphError::unsupported_query(
            "The query option '$top' is not supported with delta.",
        ));
    }
    if !query.unsupported.is_empty() {
        query.refuse_unsupported()?;
    }
    let ids = match &query.filter {
        None => Vec::new(),
        Some(filter) => {
            let ids = filter.id_list().ok_or_else(|| {
                GraphError::unsupported_query(
                    "Delta only supports $filter on id: 'id eq '{value}'' joined by 'or'.",
                )
            })?;
            if ids.len() > MAX_FILTER_IDS {
                return Err(GraphError::unsupported_query(format!(
                    "A delta $filter may name at most {MAX_FILTER_IDS} objects; {} were given.",
                    ids.len()
                )));
            }
            ids.iter()
                .map(|id| {
                    Uuid::parse_str(id).map_err(|_| {
                        GraphError::bad_request(format!("Invalid object identifier '{id}'."))
                    })
                })
                .collect::<Result<_, _>>()?
        }
    };
    let mut select = query.select.clone();
    if collection == Collection::Groups
        && query
            .expand
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("members"))
    {
        select.get_or_insert_with(Vec::new).push("members".into());
    } else if query.expand.is_some() {
        return Err(GraphError::unsupported_query(
            "$expand is not supported with delta on this collection.",
        ));
    }
    // `$deltatoken=latest` skips the initial round: the round is over before it starts.
    Ok(DeltaState {
        k: collection,
        e: emulator.epoch(),
        t: caller.tenant.id,
        s: if latest { version } else { 0 },
        u: version,
        c: if latest { u32::MAX } else { 0 },
        m: 0,
        p: select,
        f: ids,
        i: now.timestamp(),
    })
}

fn page_size(headers: &HeaderMap) -> (u32, Option<u32>) {
    let prefer = Prefer::from_headers(headers);
    let applied = prefer.max_page_size.map(|n| n.clamp(1, 999));
    (applied.unwrap_or(DEFAULT_PAGE), applied)
}

/// The response of a page: items, and a nextLink (cursor moved) or a deltaLink (round done).
fn respond<T: Serialize>(
    emulator: &Emulator,
    path: &str,
    context: &str,
    value: Vec<T>,
    state: &DeltaState,
    done: bool,
    applied: Option<u32>,
) -> Response {
    let base = &emulator.urls.graph;
    let (next_link, delta_link) = if done {
        let next = DeltaState {
            s: state.u,
            c: 0,
            m: 0,
            ..state.clone()
        };
        (
            None,
            Some(format!("{base}/{path}?$deltatoken={}", encode_token(&next))),
        )
    } else {
        (
            Some(format!("{base}/{path}?$skiptoken={}", encode_token(state))),
            None,
        )
    };
    let page = render::Page {
        context: format!("{base}/$metadata#{context}"),
        count: None,
        next_link,
        delta_link,
        value,
    };
    let mut response = Json(page).into_response();
    if let Some(n) = applied
        && let Ok(value) = HeaderValue::from_str(&format!("odata.maxpagesize={n}"))
    {
        response.headers_mut().insert("Preference-Applied", value);
    }
    response
}

fn removed(id: Uuid, reason: &str) -> Value {
    json!({"id": id, "@removed": {"reason": reason}})
}

/// One item of a users/delta page.
enum UserItem<'a> {
    /// The user, with the properties to report.
    Present(render::UserJson<'a>),
    /// `{"id", "@removed": {"reason"}}`.
    Removed(Uuid, &'static str),
}

impl Serialize for UserItem<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Present(user) => user.serialize(serializer),
            Self::Removed(id, reason) => removed(*id, reason).serialize(serializer),
        }
    }
}

/// A user's entry in a round since `since`, or `None` when it has nothing to report.
fn user_entry<'a>(
    user: &'a User,
    props: &'a [UserProp],
    since: u32,
    minimal: bool,
) -> Option<UserItem<'a>> {
    match user.lifecycle {
        Lifecycle::SoftDeleted { at } if at > since && user.appeared <= since && since > 0 => {
            return Some(UserItem::Removed(user.id, "changed"));
        }
        Lifecycle::HardDeleted { at } if at > since && user.appeared <= since && since > 0 => {
            return Some(UserItem::Removed(user.id, "deleted"));
        }
        Lifecycle::Live => {}
        _ => return None,
    }
    let fresh = since == 0 || user.appeared > since;
    let changed = |p: &UserProp| user.versions[p.index()] > since;
    if !fresh && !props.iter().any(changed) {
        return None;
    }
    let shown: Cow<'a, [UserProp]> = if minimal && !fresh {
        Cow::Owned(props.iter().copied().filter(changed).collect())
    } else {
        Cow::Borrowed(props)
    };
    let mut manager_delta = None;
    if shown.contains(&UserProp::Manager) {
        let manager_changed = user.versions[UserProp::Manager.index()] > since;
        let entries = match (user.manager, user.previous_manager) {
            (Some(m), _) => vec![(m, false)],
            (None, Some(p)) if manager_changed && !fresh => vec![(p, true)],
            _ => Vec::new(),
        };
        if !entries.is_empty() || (manager_changed && !fresh) {
            manager_delta = Some(entries);
        }
    }
    let json = render::UserJson {
        props: shown,
        manager_delta,
        ..render::UserJson::new(user, props, false)
    };
    Some(UserItem::Present(json))
}

/// `GET /users/delta`.
pub async fn users(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let mut state = state_of(&emulator, &caller, Collection::Users, &query)?;
    let props = render::user_props(state.p.as_deref()).map_err(GraphError::bad_request)?;
    if props.contains(&UserProp::SignInActivity) {
        return Err(GraphError::unsupported_query(
            "signInActivity is not supported with delta; read it from /users.",
        ));
    }
    let (page, applied) = page_size(&headers);
    let minimal = Prefer::from_headers(&headers).minimal;
    let dir = read(&caller.tenant.directory);
    let filter: HashSet<Uuid> = state.f.iter().copied().collect();
    let mut value = Vec::new();
    let end = dir.users.len();
    let mut slot = state.c as usize;
    while slot < end && value.len() < page as usize {
        let user = &dir.users[slot];
        slot += 1;
        if !filter.is_empty() && !filter.contains(&user.id) {
            continue;
        }
        value.extend(user_entry(user, &props, state.s, minimal));
    }
    let done = slot >= end;
    state.c = slot as u32;
    Ok(respond(
        &emulator,
        "users/delta",
        "users",
        value,
        &state,
        done,
        applied,
    ))
}

/// Membership to report for a group: every member in a fresh round (borrowed, so a 100 000
/// member group is not copied per page), else the net changes since the last round.
enum MemberDelta<'a> {
    All(&'a [Member]),
    Changes(Vec<(Member, bool)>),
}

impl MemberDelta<'_> {
    fn of(group: &Group, since: u32, fresh: bool) -> MemberDelta<'_> {
        if fresh {
            MemberDelta::All(&group.members)
        } else {
            MemberDelta::Changes(group.member_changes_since(since))
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::All(members) => members.len(),
            Self::Changes(changes) => changes.len(),
        }
    }

    fn chunk(&self, from: usize, to: usize) -> Vec<Value> {
        match self {
            Self::All(members) => members[from..to]
                .iter()
                .map(|m| render::delta_reference(m, false))
                .collect(),
            Self::Changes(changes) => changes[from..to]
                .iter()
                .map(|(m, added)| render::delta_reference(m, !added))
                .collect(),
        }
    }
}

/// The `@removed` reason of a group deleted since `since`: `changed` for a Microsoft 365 group
/// in deleted items, `deleted` for one gone for good (delta-query-groups.md). An initial round,
/// or a round the group was created in, leaves it out.
fn group_removal(group: &Group, since: u32) -> Option<&'static str> {
    let reported = |at: u32| at > since && group.appeared <= since && since > 0;
    match group.lifecycle {
        Lifecycle::SoftDeleted { at } if reported(at) => Some("changed"),
        Lifecycle::HardDeleted { at } if reported(at) => Some("deleted"),
        _ => None,
    }
}

/// `GET /groups/delta`. A page holds at most `odata.maxpagesize` objects counting each
/// reported member, so a large group's members arrive over several pages, the group repeated
/// on each (delta-query-groups.md, "Paging through members in a large group").
pub async fn groups(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_GROUPS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let mut state = state_of(&emulator, &caller, Collection::Groups, &query)?;
    let mut default = super::groups::DEFAULT_GROUP_PROPS.to_vec();
    default.push(GroupProp::Members);
    let props =
        render::group_props(state.p.as_deref(), &default).map_err(GraphError::bad_request)?;
    let with_members = props.contains(&GroupProp::Members);
    let (page, applied) = page_size(&headers);
    let minimal = Prefer::from_headers(&headers).minimal;
    let dir = read(&caller.tenant.directory);
    let filter: HashSet<Uuid> = state.f.iter().copied().collect();
    let mut value = Vec::new();
    let mut budget = page as usize;
    let mut slot = state.c as usize;
    let mut offset = state.m as usize;
    while slot < dir.groups.len() && budget > 0 {
        let group = &dir.groups[slot];
        if !filter.is_empty() && !filter.contains(&group.id) {
            slot += 1;
            offset = 0;
            continue;
        }
        if !group.is_live() {
            if let Some(reason) = group_removal(group, state.s) {
                value.push(removed(group.id, reason));
                budget -= 1;
            }
            slot += 1;
            offset = 0;
            continue;
        }
        let fresh = state.s == 0 || group.appeared > state.s;
        let changed: Vec<GroupProp> = props
            .iter()
            .copied()
            .filter(|p| *p != GroupProp::Members && group.versions[p.index()] > state.s)
            .collect();
        let members = if with_members {
            MemberDelta::of(group, state.s, fresh)
        } else {
            MemberDelta::Changes(Vec::new())
        };
        if !fresh && changed.is_empty() && members.len() == 0 {
            slot += 1;
            offset = 0;
            continue;
        }
        let shown: Vec<GroupProp> = if minimal && !fresh {
            changed
        } else {
            props.clone()
        };
        let mut map = render::group(group, &shown);
        let take = members
            .len()
            .saturating_sub(offset)
            .min(budget.saturating_sub(1).max(1));
        if members.len() > 0 {
            let chunk = members.chunk(offset, offset + take);
            map.insert("members@delta".into(), Value::Array(chunk));
        }
        value.push(Value::Object(map));
        budget = budget.saturating_sub(1 + take);
        if offset + take < members.len() {
            offset += take;
        } else {
            slot += 1;
            offset = 0;
        }
    }
    let done = slot >= dir.groups.len();
    state.c = slot as u32;
    state.m = offset as u32;
    Ok(respond(
        &emulator,
        "groups/delta",
        "groups",
        value,
        &state,
        done,
        applied,
    ))
}
