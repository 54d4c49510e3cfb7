//! The inbound log (what happened to whom, and why) and the import preview (what an import would
//! do to each person now). Both filter through the URL's query, so a filtered view can be
//! bookmarked and shared; both are read a page at a time.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::Pages;
use super::error::PageError;
use super::layout::{self, when};
use super::session::Viewer;
use crate::ids::RunId;
use crate::service::{InboundRow, LogRequest, Preview, Since, Targets};
use crate::vocab::{AccessLevel, Action, NotificationKind};

/// Rows per page.
const PAGE: u32 = 50;

/// A query value, `None` when the form left it empty.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parsed<T: std::str::FromStr>(what: &str, value: Option<&str>) -> Result<Option<T>, PageError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(str::parse)
        .transpose()
        .map_err(|e| PageError::bad_request(format!("{what}: {e}")))
}

/// `?person=&action=&run=&notification=&since=&before=`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LogFilters {
    person: Option<String>,
    action: Option<String>,
    run: Option<String>,
    notification: Option<String>,
    since: Option<String>,
    before: Option<String>,
}

impl LogFilters {
    fn given(self) -> Self {
        Self {
            person: given(self.person),
            action: given(self.action),
            run: given(self.run),
            notification: given(self.notification),
            since: given(self.since),
            before: given(self.before),
        }
    }

    /// This view's query, its cursor set to `before` (or dropped).
    fn query(&self, before: Option<i64>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("person", &self.person),
            ("action", &self.action),
            ("run", &self.run),
            ("notification", &self.notification),
            ("since", &self.since),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        if let Some(before) = before {
            query.append_pair("before", &before.to_string());
        }
        query.finish()
    }
}

/// `GET /connections/{id}/log`.
pub(super) async fn log(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    filters: Result<Query<LogFilters>, QueryRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::Read)?;
    let filters = filters?.0.given();
    let action: Option<Action> = parsed("action", filters.action.as_deref())?;
    let notification: Option<NotificationKind> =
        parsed("notification", filters.notification.as_deref())?;
    let run: Option<i64> = parsed("run", filters.run.as_deref())?;
    let before: Option<i64> = parsed("before", filters.before.as_deref())?;
    let since = filters
        .since
        .as_deref()
        .map(Since::parse)
        .transpose()
        .map_err(|e| PageError::bad_request(format!("since: {e}")))?;
    let service = &viewer.service;
    let rows = service
        .log_answering(
            LogRequest {
                connection: Some(connection.to_string()),
                user: filters.person.clone(),
                action,
                since,
                run: run.map(RunId),
                before,
                limit: PAGE,
            },
            notification,
        )
        .await?;
    let next = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let now = service.now();
    let id = connection.as_str();
    let base = format!("/connections/{id}/log");
    Ok(layout::page(
        &format!("Inbound log of {id}"),
        Some(&viewer.nav(Some(id))),
        html! {
            form.filters method="get" action=(base) role="search" {
                label { "Person (UPN)" input type="text" name="person" value=[filters.person.as_deref()]; }
                label { "Action" (choice("action", Action::ALL.iter().map(|a| a.as_str()), filters.action.as_deref())) }
                label { "Run" input type="text" inputmode="numeric" name="run" value=[filters.run.as_deref()] size="8"; }
                label { "Notification" (choice("notification", NotificationKind::ALL.iter().map(|n| n.as_str()), filters.notification.as_deref())) }
                label { "Since (2h, 7d or RFC 3339)" input type="text" name="since" value=[filters.since.as_deref()] size="14"; }
                button type="submit" { "Filter" }
                a.button.secondary href=(base) { "Clear" }
            }
            @if rows.is_empty() {
                p { "No rows match." }
            } @else {
                (log_table(&rows, now, true))
            }
            nav.pager aria-label="Pages" {
                @if before.is_some() {
                    a href={ (base) "?" (filters.query(None)) } { "← Newest" }
                }
                @if let Some(next) = next {
                    a href={ (base) "?" (filters.query(Some(next))) } { "Older →" }
                }
            }
        },
    ))
}

/// A `<select>` of `values` named `name`, with an empty "any" choice first.
fn choice<'a>(name: &str, values: impl Iterator<Item = &'a str>, chosen: Option<&str>) -> Markup {
    html! {
        select name=(name) {
            option value="" selected[chosen.is_none()] { "any" }
            @for value in values {
                option value=(value) selected[chosen == Some(value)] { (value) }
            }
        }
    }
}

/// What a value reads as in a change: `∅` for none.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "∅".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The mappings a row matched: `site_mapping: 1 Everyone`, `roles: …`.
fn matched(row: &InboundRow) -> Markup {
    let named = |v: &Value| match (v.get("sequence"), v.get("name")) {
        (Some(sequence), Some(name)) => format!("{} {}", shown(sequence), shown(name)),
        (None, Some(name)) => shown(name),
        _ => shown(v),
    };
    let entries: Vec<(String, String)> = row
        .matched
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(key, value)| {
            let text = match value {
                Value::Array(items) => items.iter().map(named).collect::<Vec<_>>().join(", "),
                other => named(other),
            };
            (key.replace('_', " "), text)
        })
        .filter(|(_, text)| !text.is_empty())
        .collect();
    html! {
        @if entries.is_empty() {
            span.muted { "—" }
        } @else {
            ul.changes {
                @for (key, text) in &entries {
                    li { span.muted { (key) ": " } (text) }
                }
            }
        }
    }
}

/// A row's field changes, `record.field: before → after`.
fn changes(row: &InboundRow) -> Markup {
    let changes: Vec<&Value> = row.changes.as_array().into_iter().flatten().collect();
    html! {
        @if changes.is_empty() {
            span.muted { "—" }
        } @else {
            ul.changes {
                @for c in changes {
                    li {
                        code { (shown(&c["record"])) "." (shown(&c["field"])) } ": "
                        (shown(&c["before"])) " → " (shown(&c["after"]))
                    }
                }
            }
        }
    }
}

fn log_table(rows: &[InboundRow], now: DateTime<Utc>, logged: bool) -> Markup {
    html! {
        div.scroll {
            table.cards {
                thead { tr {
                    @if logged { th scope="col" { "When" } th scope="col" { "Run" } }
                    th scope="col" { "Person" }
                    th scope="col" { "Record" }
                    th scope="col" { "Notification" }
                    th scope="col" { @if logged { "Action" } @else { "Planned action" } }
                    th scope="col" { "Matched mapping" }
                    th scope="col" { "Field changes (before → after)" }
                    th scope="col" { "Note" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            @if logged {
                                td data-label="When" { (when(row.logged_at, now)) }
                                td data-label="Run" { @if let Some(run) = row.run_id { (run.0) } }
                            }
                            td data-label="Person" { (row.upn.as_deref().unwrap_or("—")) }
                            td data-label="Record" { @if let Some(target) = row.target { (target) } }
                            td data-label="Notification" { (row.notification) }
                            td data-label="Action" { (row.action) }
                            td data-label="Matched mapping" { (matched(row)) }
                            td data-label="Field changes" { (changes(row)) }
                            td data-label="Note" { (row.message.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// `?person=&action=&records=&offset=`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewFilters {
    person: Option<String>,
    action: Option<String>,
    records: Option<String>,
    offset: Option<String>,
}

/// The preview page while its preview is not ready: `why`, and a page that reloads itself.
fn not_yet(viewer: &Viewer, id: &str, why: Markup) -> Markup {
    layout::page_reloading(
        &format!("Import preview of {id}"),
        Some(&viewer.nav(Some(id))),
        Some(5),
        html! {
            p role="status" { (why) " This page reloads itself every 5 seconds until it is ready." }
        },
    )
}

/// `GET /connections/{id}/preview`: the "Import Users/Agents" table, read from the tenant (a
/// page that reloads itself while a large tenant's preview is being computed).
pub(super) async fn preview(
    State(pages): State<Pages>,
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    filters: Result<Query<PreviewFilters>, QueryRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::Read)?;
    let filters = filters?.0;
    let person = given(filters.person);
    let action_text = given(filters.action);
    let action: Option<Action> = parsed("action", action_text.as_deref())?;
    let records = given(filters.records);
    let targets = match records.as_deref() {
        None | Some("all") => Targets::BOTH,
        Some("users") => Targets::USERS,
        Some("agents") => Targets::AGENTS,
        Some(other) => {
            return Err(PageError::bad_request(format!(
                "records: {other:?} is none of all, users, agents"
            )));
        }
    };
    let offset: usize = parsed("offset", given(filters.offset).as_deref())?.unwrap_or(0);
    let service = &viewer.service;
    let wanted = person.as_deref().map(str::to_lowercase);
    let id = connection.as_str();
    let computed = match service
        .preview(id, targets, &viewer.caller.name(), pages.preview_wait)
        .await?
    {
        Preview::Ready(computed) => computed,
        Preview::Computing { since } => {
            return Ok(not_yet(
                &viewer,
                id,
                html! {
                    "The preview is being computed: every person of the tenant is read and \
                     planned (asked for " (when(since, service.now())) ")."
                },
            ));
        }
        Preview::AfterRun { run } => {
            return Ok(not_yet(
                &viewer,
                id,
                html! {
                    "Run " a href={ "/connections/" (id) "/log?run=" (run.0) } { (run.0) }
                    " of this connection is under way; the preview is computed once it has ended."
                },
            ));
        }
    };
    let rows: Vec<&InboundRow> = computed
        .rows
        .iter()
        .filter(|row| action.is_none_or(|a| row.action == a))
        .filter(|row| {
            wanted.as_ref().is_none_or(|p| {
                row.upn
                    .as_ref()
                    .is_some_and(|upn| upn.to_lowercase().contains(p))
            })
        })
        .collect();
    let total = rows.len();
    let page: Vec<InboundRow> = rows
        .into_iter()
        .skip(offset)
        .take(PAGE as usize)
        .cloned()
        .collect();
    let now = service.now();
    let base = format!("/connections/{id}/preview");
    let at = |offset: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("person", &person),
            ("action", &action_text),
            ("records", &records),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        query.append_pair("offset", &offset.to_string());
        format!("{base}?{}", query.finish())
    };
    let modifies = viewer.caller.level(&connection) == Some(AccessLevel::ReadModify);
    Ok(layout::page(
        &format!("Import preview of {id}"),
        Some(&viewer.nav(Some(id))),
        html! {
            p {
                "What an import would do to each person, read from the tenant "
                (when(computed.read_at, now))
                " (read again after five minutes, or once a run of the connection has started or ended). "
                (total) " people match."
            }
            form.filters method="get" action=(base) role="search" {
                label { "Person (part of the UPN)" input type="text" name="person" value=[person.as_deref()]; }
                label { "Planned action" (choice("action", Action::ALL.iter().map(|a| a.as_str()), action_text.as_deref())) }
                label { "Records" select name="records" {
                    @for (value, text) in [("all", "users and agents"), ("users", "users"), ("agents", "agents")] {
                        option value=(value) selected[records.as_deref().unwrap_or("all") == value] { (text) }
                    }
                } }
                button type="submit" { "Filter" }
                a.button.secondary href=(base) { "Clear" }
            }
            @if modifies {
                div.actions {
                    a.button href={ "/connections/" (id) "/confirm?do=apply" } { "Apply: run the import now…" }
                }
            }
            @if page.is_empty() {
                p { "Nobody matches." }
            } @else {
                (log_table(&page, now, false))
            }
            nav.pager aria-label="Pages" {
                @if offset > 0 {
                    a href=(at(offset.saturating_sub(PAGE as usize))) { "← Previous" }
                }
                @if offset + page.len() < total {
                    a href=(at(offset + page.len())) { "Next →" }
                }
            }
        },
    ))
}
