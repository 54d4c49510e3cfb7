//! What a reader who may change a connection can do from its pages: ask for a delta or full sync
//! (the preview's "apply" is a full sync, as the API's), reset the delta links, approve a
//! quarantined run. Each goes through a confirmation page first (no script needed); the form it
//! posts carries the session's CSRF token and `confirm=yes`, and the handler checks both, and the
//! reader's reach, exactly as the API does.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::layout;
use super::session::Viewer;
use crate::ids::{ConnectionId, RunId};
use crate::service::{ApproveRequest, DeltaResetRequest, ServiceError, TriggerRequest};
use crate::vocab::{AccessLevel, RunStatus};

/// `?do=delta|full|apply|reset-clear|reset-latest|approve&run=N`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Asked {
    #[serde(rename = "do")]
    action: String,
    run: Option<i64>,
}

/// The form a confirmation page posts: where, what it says, and its hidden fields.
struct Step {
    title: &'static str,
    says: String,
    action: String,
    fields: Vec<(&'static str, String)>,
    button: &'static str,
}

/// `GET /connections/{id}/confirm`: what the action will do, and the button that does it.
pub(super) async fn confirm(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    asked: Result<Query<Asked>, QueryRejection>,
) -> Result<Markup, PageError> {
    let connection = viewer.caller.reach(&id?.0, AccessLevel::ReadModify)?;
    let asked = asked?.0;
    let c = connection.as_str();
    let step = match asked.action.as_str() {
        "delta" | "full" | "apply" => {
            let full = asked.action != "delta";
            Step {
                title: if asked.action == "apply" {
                    "Apply the import"
                } else if full {
                    "Run a full sync"
                } else {
                    "Run a delta sync"
                },
                says: if full {
                    format!(
                        "Connection {c} reads everyone from Entra and applies what the preview shows: records are created, updated, deactivated and reactivated."
                    )
                } else {
                    format!(
                        "Connection {c} reads the changes since its last run from Entra and applies them."
                    )
                },
                action: format!("/connections/{c}/sync"),
                fields: vec![("kind", if full { "full" } else { "delta" }.to_owned())],
                button: if full {
                    "Yes, run a full sync"
                } else {
                    "Yes, run a delta sync"
                },
            }
        }
        "reset-clear" => Step {
            title: "Reset the delta links",
            says: format!("Connection {c} forgets its delta links: its next run reads everyone."),
            action: format!("/connections/{c}/delta-reset"),
            fields: vec![("mode", "clear".to_owned())],
            button: "Yes, forget the delta links",
        },
        "reset-latest" => Step {
            title: "Reset the delta links to now",
            says: format!(
                "Connection {c} replaces its delta links with fresh ones from now: changes made before now that it has not seen stay unseen until the person changes again."
            ),
            action: format!("/connections/{c}/delta-reset"),
            fields: vec![("mode", "latest".to_owned())],
            button: "Yes, start the delta links from now",
        },
        "approve" => {
            let run = asked
                .run
                .ok_or_else(|| PageError::bad_request("approve needs the run (?run=N)"))?;
            let row = quarantined(&viewer, &connection, run).await?;
            let held: u64 = row.counts.get("quarantined").copied().unwrap_or(0);
            Step {
                title: "Approve a quarantined run",
                says: format!(
                    "Run {run} of connection {c} held back {held} deactivations because they exceeded the guard. Approving applies them now."
                ),
                action: format!("/connections/{c}/runs/{run}/approve"),
                fields: Vec::new(),
                button: "Yes, apply the deactivations",
            }
        }
        other => {
            return Err(PageError::bad_request(format!(
                "do: {other:?} is none of delta, full, apply, reset-clear, reset-latest, approve"
            )));
        }
    };
    Ok(layout::page(
        step.title,
        Some(&viewer.nav(Some(c))),
        html! {
            p { (step.says) }
            form method="post" action=(step.action) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="confirm" value="yes";
                @for (name, value) in &step.fields {
                    input type="hidden" name=(name) value=(value);
                }
                div.actions {
                    button.danger type="submit" { (step.button) }
                    a.button.secondary href={ "/connections/" (c) } { "Cancel" }
                }
            }
        },
    ))
}

/// The run `run` of `connection`, if it is quarantined and not approved yet.
async fn quarantined(
    viewer: &Viewer,
    connection: &ConnectionId,
    run: i64,
) -> Result<crate::service::RunRow, PageError> {
    let row = viewer.service.run(RunId(run)).await?;
    if &row.connection_id != connection {
        return Err(ServiceError::NotFound(format!("run {run} of connection {connection}")).into());
    }
    if row.status != RunStatus::Quarantined || row.approved_at.is_some() {
        return Err(ServiceError::Conflict(format!(
            "run {run} is {}, not a quarantined run awaiting approval",
            row.status
        ))
        .into());
    }
    Ok(row)
}

/// The fields every changing form carries, and what the action needs.
#[derive(Deserialize)]
pub(super) struct Confirmed {
    csrf: Option<String>,
    confirm: Option<String>,
    kind: Option<String>,
    mode: Option<String>,
}

/// The connection, if the reader may change it, the form is this session's and confirmed.
fn checked(viewer: &Viewer, id: &str, form: &Confirmed) -> Result<ConnectionId, PageError> {
    let connection = viewer.caller.reach(id, AccessLevel::ReadModify)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(PageError::bad_request(
            "not confirmed: use the confirmation page's button (confirm=yes)",
        ));
    }
    Ok(connection)
}

fn back(connection: &ConnectionId, done: &str) -> Response {
    Redirect::to(&format!("/connections/{connection}?done={done}")).into_response()
}

/// `POST /connections/{id}/sync` (`kind=delta|full`).
pub(super) async fn sync(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<Confirmed>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form?.0;
    let connection = checked(&viewer, &id?.0, &form)?;
    let full = match form.kind.as_deref() {
        Some("delta") => false,
        Some("full") => true,
        other => {
            return Err(PageError::bad_request(format!(
                "kind: {other:?} is neither delta nor full"
            )));
        }
    };
    viewer
        .service
        .trigger(TriggerRequest {
            connection: connection.to_string(),
            full,
            by: viewer.caller.name(),
        })
        .await?;
    Ok(back(&connection, if full { "full" } else { "delta" }))
}

/// `POST /connections/{id}/delta-reset` (`mode=clear|latest`).
pub(super) async fn delta_reset(
    viewer: Viewer,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<Confirmed>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form?.0;
    let connection = checked(&viewer, &id?.0, &form)?;
    let latest = match form.mode.as_deref() {
        Some("clear") => false,
        Some("latest") => true,
        other => {
            return Err(PageError::bad_request(format!(
                "mode: {other:?} is neither clear nor latest"
            )));
        }
    };
    viewer
        .service
        .reset_delta(DeltaResetRequest {
            connection: connection.to_string(),
            latest,
        })
        .await?;
    Ok(back(
        &connection,
        if latest {
            "reset-latest"
        } else {
            "reset-clear"
        },
    ))
}

/// `POST /connections/{id}/runs/{run}/approve`.
pub(super) async fn approve(
    viewer: Viewer,
    ids: Result<Path<(String, i64)>, PathRejection>,
    form: Result<Form<Confirmed>, FormRejection>,
) -> Result<Response, PageError> {
    let (id, run) = ids?.0;
    let form = form?.0;
    let connection = checked(&viewer, &id, &form)?;
    let row = quarantined(&viewer, &connection, run).await?;
    viewer
        .service
        .approve(ApproveRequest {
            run_id: row.id,
            by: viewer.caller.name(),
        })
        .await?;
    Ok(back(&connection, "approved"))
}
