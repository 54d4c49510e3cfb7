//! The connections the reader can see with their health, one connection's runs (a table and the
//! 30-day chart) with what the reader may do to it, its licences and the groups it offers as
//! ticket followers.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart;
use super::error::PageError;
use super::layout::{self, maybe_when, when};
use super::session::Viewer;
use crate::service::{ConnectionStatus, RunRow, RunsRequest};
use crate::vocab::{AccessLevel, RunStatus};

/// The most runs a connection's page reads (for its table and its chart).
const RUNS_READ: u32 = 1_000;
/// The runs its table shows.
const RUNS_SHOWN: usize = 50;
/// A credential expiring within this many days is flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// A connection's health in a word or two, and how it is shown (`ok`, `warn`, `bad`).
fn health(status: &ConnectionStatus, now: DateTime<Utc>) -> (&'static str, &'static str) {
    if status.needs_authorisation {
        return ("bad", "needs re-authorisation");
    }
    let expiring = status
        .credential_expires_at
        .is_some_and(|at| at - now < chrono::Duration::days(EXPIRY_WARNING_DAYS));
    match status.last_run.as_ref() {
        None => ("warn", "not run yet"),
        Some(run) => match run.status {
            RunStatus::Failed => ("bad", "last run failed"),
            RunStatus::Quarantined if run.approved_at.is_none() => {
                ("warn", "quarantined: awaiting approval")
            }
            RunStatus::Cancelled => ("warn", "last run cancelled"),
            RunStatus::Running => ("ok", "running"),
            _ if expiring => ("warn", "credential expires soon"),
            _ => ("ok", "healthy"),
        },
    }
}

fn badge(status: &ConnectionStatus, now: DateTime<Utc>) -> Markup {
    let (class, text) = health(status, now);
    html! { span class={ "badge " (class) } { (text) } }
}

fn delta_state(delta: &str) -> &'static str {
    match delta {
        "ready" => "ready (a delta link is stored)",
        "round_under_way" => "a round stopped part-way resumes",
        _ => "none (the next run reads everyone)",
    }
}

/// `GET /`: the connections the reader can see.
pub(super) async fn list(viewer: Viewer) -> Result<Markup, PageError> {
    let now = viewer.service.now();
    let mut rows = Vec::new();
    for connection in &viewer.service.settings().connections {
        let Some(level) = viewer.caller.level(&connection.id) else {
            continue;
        };
        let status = viewer.service.status(connection.id.as_str()).await?;
        rows.push((level, status));
    }
    Ok(layout::page(
        "Connections",
        Some(&viewer.nav(None)),
        html! {
            @if rows.is_empty() {
                p { "This key reaches no connection." }
            } @else {
                div.scroll {
                    table.cards {
                        thead { tr {
                            th scope="col" { "Connection" }
                            th scope="col" { "Health" }
                            th scope="col" { "Last run" }
                            th scope="col" { "Last full success" }
                            th scope="col" { "Next run" }
                            th scope="col" { "Delta" }
                            th scope="col" { "Lease holder" }
                            th scope="col" { "Credential expires" }
                            th scope="col" { "Your access" }
                        } }
                        tbody {
                            @for (level, s) in &rows {
                                tr {
                                    td data-label="Connection" { a href={ "/connections/" (s.id) } { (s.id) } }
                                    td data-label="Health" { (badge(s, now)) }
                                    td data-label="Last run" { @match &s.last_run {
                                        Some(run) => { (run.status) ", " (when(run.started_at, now)) }
                                        None => span.muted { "—" },
                                    } }
                                    td data-label="Last full success" { (maybe_when(s.last_full, now)) }
                                    td data-label="Next run" { (when(s.next_run, now)) }
                                    td data-label="Delta" { (s.delta) }
                                    td data-label="Lease holder" { (s.lease_holder.as_deref().unwrap_or("—")) }
                                    td data-label="Credential expires" { (maybe_when(s.credential_expires_at, now)) }
                                    td data-label="Your access" { (level) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// A notice the connection's page shows after an action sent it back there.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Done {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "delta" => {
            "A delta sync was asked for; the replica that runs this connection starts it within seconds."
        }
        "full" => {
            "A full sync was asked for; the replica that runs this connection starts it within seconds."
        }
        "reset-clear" => "The delta links were forgotten: the next run reads everyone.",
        "reset-latest" => "The delta links were replaced with fresh ones from now.",
        "approved" => "The quarantined run was approved: its held-back deactivations were applied.",
        _ => return None,
    })
}

/// `GET /connections/{id}`: the connection's status, its runs, the chart, and its actions.
pub(super) async fn page(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    done: Result<Query<Done>, QueryRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::Read)?;
    let done = done?.0;
    let service = &viewer.service;
    let now = service.now();
    let status = service.status(connection.as_str()).await?;
    let runs = service
        .runs(RunsRequest {
            connection: Some(connection.to_string()),
            limit: RUNS_READ,
        })
        .await?;
    let modifies = viewer.caller.level(&connection) == Some(AccessLevel::ReadModify);
    let id = connection.as_str();
    Ok(layout::page(
        &format!("Connection {id}"),
        Some(&viewer.nav(Some(id))),
        html! {
            @if let Some(text) = notice(done.done.as_deref()) {
                p.notice role="status" { (text) }
            }
            dl.facts {
                dt { "Health" } dd { (badge(&status, now)) }
                dt { "Last run" } dd { @match &status.last_run {
                    Some(run) => { "run " (run.id.0) " (" (run.kind) "), " (run.status) ", " (when(run.started_at, now)) }
                    None => span.muted { "—" },
                } }
                dt { "Last finished cycle" } dd { (maybe_when(status.last_cycle, now)) }
                dt { "Last full success" } dd { (maybe_when(status.last_full, now)) }
                dt { "Next run" } dd { (when(status.next_run, now)) }
                dt { "Delta state" } dd { (delta_state(status.delta)) }
                dt { "Lease holder" } dd { (status.lease_holder.as_deref().unwrap_or("nobody")) }
                dt { "Needs re-authorisation" } dd { (if status.needs_authorisation { "yes" } else { "no" }) }
                dt { "Credential expires" } dd { (maybe_when(status.credential_expires_at, now)) }
                dt { "Runs here" } dd { (if status.enabled_here { "yes" } else { "no (enabled for other instances)" }) }
            }
            @if modifies {
                h2 { "Actions" }
                div.actions {
                    a.button href={ "/connections/" (id) "/confirm?do=delta" } { "Run a delta sync…" }
                    a.button href={ "/connections/" (id) "/confirm?do=full" } { "Run a full sync…" }
                    a.button.secondary href={ "/connections/" (id) "/confirm?do=reset-clear" } { "Reset deltas (read everyone)…" }
                    a.button.secondary href={ "/connections/" (id) "/confirm?do=reset-latest" } { "Reset deltas (from now)…" }
                }
            }
            h2 { "Runs, last " (chart::DAYS) " days" }
            (chart::runs(&runs, now))
            h2 { "Run history" }
            (run_table(id, &runs, now, modifies))
        },
    ))
}

fn counts(run: &RunRow) -> String {
    let shown: Vec<String> = run
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(action, n)| format!("{n} {action}"))
        .collect();
    if shown.is_empty() {
        "—".to_owned()
    } else {
        shown.join(", ")
    }
}

fn run_table(id: &str, runs: &[RunRow], now: DateTime<Utc>, modifies: bool) -> Markup {
    html! {
        @if runs.is_empty() {
            p { "No runs yet." }
        } @else {
            div.scroll {
                table.cards {
                    thead { tr {
                        th scope="col" { "Run" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Status" }
                        th scope="col" { "Started" }
                        th scope="col" { "Took" }
                        th scope="col" { "People" }
                        th scope="col" { "Error" }
                    } }
                    tbody {
                        @for run in runs.iter().take(RUNS_SHOWN) {
                            tr {
                                td data-label="Run" { a href={ "/connections/" (id) "/log?run=" (run.id.0) } { (run.id.0) } }
                                td data-label="Kind" { (run.kind) " (" (run.trigger) ")" }
                                td data-label="Status" {
                                    (run.status)
                                    @if let (Some(at), Some(by)) = (run.approved_at, run.approved_by.as_deref()) {
                                        br; span.muted { "approved by " (by) " " (when(at, now)) }
                                    }
                                    @if modifies && run.status == RunStatus::Quarantined && run.approved_at.is_none() {
                                        br;
                                        a.button href={ "/connections/" (id) "/confirm?do=approve&run=" (run.id.0) } { "Approve…" }
                                    }
                                }
                                td data-label="Started" { (when(run.started_at, now)) }
                                td data-label="Took" { @match run.ended_at {
                                    Some(end) => { (format!("{:.1} s", (end - run.started_at).num_milliseconds() as f64 / 1000.0)) }
                                    None => span.muted { "—" },
                                } }
                                td data-label="People" { (counts(run)) }
                                td data-label="Error" { @if let Some(error) = &run.error { span.bad { (error) } } }
                            }
                        }
                    }
                }
            }
            @if runs.len() > RUNS_SHOWN {
                p.muted { "The newest " (RUNS_SHOWN) " of " (runs.len()) " runs." }
            }
        }
    }
}

/// `GET /connections/{id}/licences`: what the connection imported, where it imports licences.
pub(super) async fn licences(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::Read)?;
    let service = &viewer.service;
    let imports = service.connection(connection.as_str())?.licences.import;
    let licences = if imports {
        service.licences(connection.as_str()).await?
    } else {
        Vec::new()
    };
    let now = service.now();
    let id = connection.as_str();
    Ok(layout::page(
        &format!("Licences of {id}"),
        Some(&viewer.nav(Some(id))),
        html! {
            @if !imports {
                p { "This connection does not import licences (" code { "[connection.licences] import" } " is off)." }
            } @else if licences.is_empty() {
                p { "No licences imported yet." }
            } @else {
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { "Licence" }
                            th scope="col" { "SKU" }
                            th scope="col" { "Enabled" }
                            th scope="col" { "Consumed" }
                            th scope="col" { "Warning" }
                            th scope="col" { "Suspended" }
                            th scope="col" { "Status" }
                        } }
                        tbody {
                            @for l in &licences {
                                tr {
                                    td { (l.display_name) }
                                    td { code { (l.part_number) } }
                                    td { (l.enabled_units) }
                                    td { (l.consumed_units) }
                                    td { (l.warning_units) }
                                    td { (l.suspended_units) }
                                    td {
                                        (l.capability_status)
                                        @if let Some(at) = l.unsubscribed_at {
                                            br; span.warn { "unsubscribed " (when(at, now)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `GET /connections/{id}/followers`: the mail-enabled groups the connection offers as ticket
/// followers (read from Graph now), where it offers them.
pub(super) async fn followers(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::Read)?;
    let service = &viewer.service;
    let offered = service.followers_connection(Some(connection.as_str()));
    let id = connection.as_str();
    let body = match offered {
        Err(why) => html! { p { (why.to_string()) } },
        Ok(_) => {
            let groups = service.mail_groups(id).await?;
            html! {
                p {
                    "A group follows a ticket as its address (membership stays live in Exchange) "
                    "or expanded into its people (a snapshot), through the admin API."
                }
                @if groups.is_empty() {
                    p { "The tenant has no mail-enabled group." }
                } @else {
                    div.scroll {
                        table {
                            thead { tr {
                                th scope="col" { "Group" }
                                th scope="col" { "Address" }
                                th scope="col" { "Tracked by the mappings" }
                            } }
                            tbody {
                                @for g in &groups {
                                    tr {
                                        td data-label="Group" { (g.display_name.as_deref().unwrap_or(&g.id)) }
                                        td data-label="Address" { @if let Some(mail) = &g.mail { code { (mail) } } }
                                        td data-label="Tracked" { (if g.tracked { "yes" } else { "no" }) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &format!("Followers of {id}"),
        Some(&viewer.nav(Some(id))),
        body,
    ))
}
