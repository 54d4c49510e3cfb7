//! What commands print: run summaries, runs and inbound-log rows as a table, JSON or CSV, the
//! other commands' results, and errors. Everything is formatted into strings; [`print()`] writes
//! them, and [`Spinner`] is the one thing drawn on the terminal while a command runs.

mod access;
mod licences;

pub use self::access::*;
pub use self::licences::*;

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Output;
use crate::graph::permissions::Verdict;
use crate::ids::EntraId;
use crate::service::{CheckReport, DeltaReset, ServiceError};
use crate::store::{InboundRow, KeepActiveOutcome, RunRow};
use crate::sync::{Progress, RunReport, Step};
use crate::vocab::RecordKind;

/// Writes a command's output: `stdout` to standard output, `stderr` to standard error. A closed
/// pipe is not an error worth reporting (`entra-sync log | head`).
pub fn print(stdout: &str, stderr: &str) {
    if !stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(stdout.as_bytes()).and_then(|()| out.flush());
    }
    if !stderr.is_empty() {
        let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
    }
}

/// Why a command failed, for standard error: the error with its causes, and what to do about
/// a busy connection. An invalid configuration is printed as it is (it lists every problem).
pub fn failure(error: &ServiceError) -> String {
    match error {
        ServiceError::Config(config) => format!("{config}\n"),
        ServiceError::Busy { .. } => format!(
            "{}  hint: pass --wait to wait until that run ends\n",
            failure_of(error)
        ),
        _ => failure_of(error),
    }
}

/// `error: ` and the error with each of its causes, separated by `: `.
pub fn failure_of(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("error: {error}");
    let mut cause = error.source();
    while let Some(next) = cause {
        let _ = write!(out, ": {next}");
        cause = next.source();
    }
    out.push('\n');
    out
}

/// `trigger`.
pub fn triggered(connection: &str, full: bool) -> String {
    let what = if full {
        "a full reconciliation"
    } else {
        "a sync"
    };
    format!(
        "{what} of {connection} is requested; the daemon running it starts it within a few seconds\n"
    )
}

/// `reload` and `health`: the daemon on `address` answered.
pub fn daemon_answered(reload: bool, address: std::net::SocketAddr) -> String {
    if reload {
        format!("the daemon on {address} is reloading its configuration\n")
    } else {
        format!("the daemon on {address} is alive\n")
    }
}

/// `migrate`.
pub fn migrated(backend: &str) -> String {
    format!("database migrated ({backend})\n")
}

/// `check`: the database, the instance and each connection, with what delta cannot track.
pub fn check(report: &CheckReport) -> String {
    let mut out = String::from("configuration OK\n");
    let _ = writeln!(
        out,
        "  database: {} (migrated; {} reference rows created)",
        report.backend, report.created
    );
    let _ = writeln!(out, "  instance: {}", report.instance);
    for c in &report.connections {
        let _ = writeln!(
            out,
            "  connection {} ({}): tenant {}, {} site mappings, {} field mappings{}",
            c.id,
            c.name,
            c.tenant_id,
            c.site_mappings,
            c.field_mappings,
            if c.enabled_here {
                ""
            } else {
                " — not enabled for this instance"
            }
        );
        for untracked in &c.untracked {
            let _ = writeln!(
                out,
                "    note: {} (used at {}) is not tracked by delta queries; it is read separately \
                 (/users paging on full runs, batched requests for changed people)",
                untracked.attribute,
                untracked.used_at.join(", ")
            );
        }
    }
    out
}

/// `check --online`: per connection, whether it can sync, and what to fix.
pub fn verdicts(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let _ = if v.can_sync() {
            writeln!(
                out,
                "connection {}: OK — signed in, read users; granted {}",
                v.connection,
                v.granted.join(", ")
            )
        } else {
            writeln!(out, "connection {}: CANNOT SYNC", v.connection)
        };
        if let Some(failure) = &v.failure {
            let _ = writeln!(out, "  - {failure}");
        }
        for (permission, why) in &v.missing {
            let _ = writeln!(
                out,
                "  - add the application permission {permission} (and grant admin consent): needed for {why}"
            );
        }
        for (attribute, used_at) in &v.untracked {
            let _ = writeln!(
                out,
                "  - note: {attribute} (used at {used_at}) is not tracked by delta queries; it is fetched separately"
            );
        }
        for (permission, adds) in &v.optional {
            let _ = writeln!(out, "  - optional: {permission} would add {adds}");
        }
    }
    out
}

/// `delta reset`.
pub fn delta_reset(reset: &DeltaReset) -> String {
    match reset {
        DeltaReset::Cleared { connection, links } => format!(
            "{connection}: {links} delta links cleared; the next run is a full initial round.\n"
        ),
        DeltaReset::Latest { connection } => format!(
            "{connection}: delta links reset to \"latest\"; the next run sees only changes from now on.\n  \
             warning: people outside scope now stay unseen until their Entra record changes; prefer --clear.\n"
        ),
    }
}

/// A spinner on stderr that tells how far an import got; invisible when stderr is not a
/// terminal.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    /// Starts spinning; the listener moves it on.
    pub fn start() -> (Spinner, Progress) {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        let shown = bar.clone();
        let progress = Progress(Arc::new(move |step| match step {
            Step::Read(n) => shown.set_message(format!("read {n} people from Entra")),
            Step::Evaluated(n) => shown.set_message(format!("planned {n} people")),
        }));
        (Spinner(bar), progress)
    }

    /// Removes it from the terminal.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// A run's summary: status, counts per action, Graph requests, throttles, duration.
pub fn summary(connection: &str, report: &RunReport) -> String {
    let mut out = String::new();
    let run = report
        .run_id
        .map(|id| format!("run {id}"))
        .unwrap_or_else(|| "dry run".to_owned());
    let _ = writeln!(
        out,
        "{connection}: {run} {} in {:.1}s (reading {:.1}s, planning and writing {:.1}s)",
        report.status.as_str(),
        report.seconds,
        report.read_seconds,
        report.seconds - report.read_seconds
    );
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "  people: {}",
        if counts.is_empty() {
            "no changes".to_owned()
        } else {
            counts.join(", ")
        }
    );
    let round = |initial: bool| {
        if initial {
            "initial round"
        } else {
            "delta round"
        }
    };
    let _ = writeln!(
        out,
        "  users: {} objects in {} pages ({}); groups: {} objects in {} pages",
        report.users.objects,
        report.users.pages,
        round(report.users.initial),
        report.groups.objects,
        report.groups.pages
    );
    let _ = writeln!(
        out,
        "  graph: {} requests, {} throttled",
        report.graph_requests, report.graph_throttles
    );
    if report.held_back > 0 {
        let _ = match report.run_id {
            Some(run_id) => writeln!(
                out,
                "  QUARANTINED: {} deactivations held back (max_deactivations); approve with `entra-sync runs approve {run_id}`",
                report.held_back
            ),
            // A dry run has no run to approve.
            None => writeln!(
                out,
                "  QUARANTINED: {} deactivations exceed max_deactivations; an applied run would hold them back until approved",
                report.held_back
            ),
        };
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  error: {error}");
    }
    out
}

/// Inbound-log rows (or a preview's planned rows).
pub fn log_rows(rows: &[InboundRow], format: Output) -> String {
    match format {
        Output::Json => serde_json::to_string_pretty(rows).unwrap_or_default(),
        Output::Csv => {
            let mut out = String::from(
                "logged_at,run_id,upn,entra_id,target,notification,action,mapping,changes,message\n",
            );
            for r in rows {
                let fields = [
                    r.logged_at.to_rfc3339(),
                    r.run_id.map(|i| i.to_string()).unwrap_or_default(),
                    r.upn.clone().unwrap_or_default(),
                    r.entra_id
                        .as_ref()
                        .map(EntraId::to_string)
                        .unwrap_or_default(),
                    r.target.map(|t| t.to_string()).unwrap_or_default(),
                    r.notification.to_string(),
                    r.action.to_string(),
                    mapping_of(r),
                    changes_of(r),
                    r.message.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv(f)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            out
        }
        Output::Table => table(
            &[
                "UPN",
                "TARGET",
                "NOTIFICATION",
                "ACTION",
                "MAPPING",
                "CHANGES / MESSAGE",
            ],
            rows.iter()
                .map(|r| {
                    let detail = [changes_of(r), r.message.clone().unwrap_or_default()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" — ");
                    vec![
                        r.upn
                            .clone()
                            .or_else(|| r.entra_id.as_ref().map(EntraId::to_string))
                            .unwrap_or_default(),
                        r.target.map(|t| t.to_string()).unwrap_or_default(),
                        r.notification.to_string(),
                        r.action.to_string(),
                        mapping_of(r),
                        detail,
                    ]
                })
                .collect(),
        ),
    }
}

/// Runs.
pub fn runs(rows: &[RunRow]) -> String {
    table(
        &[
            "RUN",
            "CONNECTION",
            "KIND",
            "TRIGGER",
            "STATUS",
            "STARTED",
            "SECONDS",
            "COUNTS",
            "GRAPH",
            "ERROR",
        ],
        rows.iter()
            .map(|r| {
                let seconds = r.ended_at.map(|e| {
                    format!(
                        "{:.1}",
                        (e - r.started_at).num_milliseconds() as f64 / 1000.0
                    )
                });
                let status = match (&r.approved_at, &r.approved_by) {
                    (Some(at), by) => format!(
                        "{} (approved by {} at {})",
                        r.status,
                        by.as_deref().unwrap_or("an operator"),
                        at.format("%Y-%m-%d %H:%M:%S")
                    ),
                    (None, _) => r.status.to_string(),
                };
                vec![
                    r.id.to_string(),
                    r.connection_id.to_string(),
                    r.kind.to_string(),
                    r.trigger.clone(),
                    status,
                    r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    seconds.unwrap_or_default(),
                    r.counts
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    format!("{} req, {} throttled", r.graph_requests, r.graph_throttles),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    )
}

/// What `keep-active` did (setting the flag to `keep_active`): which records' flags changed, or
/// that nothing did.
pub fn keep_active(upn: &str, keep_active: bool, outcome: &KeepActiveOutcome) -> String {
    let state = if keep_active { "on" } else { "off" };
    let Some(row) = &outcome.logged else {
        return format!("{upn}: keep-active is already {state}; nothing changed.\n");
    };
    let records: Vec<String> = row
        .changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["record"].as_str()?.parse().ok())
        .map(|record| match (record, outcome.agent_id) {
            (RecordKind::Agent, Some(id)) => format!("agent {id}"),
            (_, _) => format!("user {}", outcome.user_id),
        })
        .collect();
    let effect = if keep_active {
        "the sync will neither deactivate nor reactivate them"
    } else {
        "the sync manages their activation again"
    };
    format!(
        "{upn}: keep-active {state} for {} (logged); {effect}.\n",
        records.join(" and ")
    )
}

fn mapping_of(row: &InboundRow) -> String {
    let name = |key: &str| {
        row.matched.get(key).map(|m| {
            format!(
                "{} {}",
                m["sequence"],
                m["name"].as_str().unwrap_or_default()
            )
        })
    };
    [
        name("agent_mapping").map(|m| format!("agent: {m}")),
        name("site_mapping"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

/// A row's field changes, `record.field: before → after; …` (∅ for empty).
pub fn changes_of(row: &InboundRow) -> String {
    let text = |v: &Value| match v {
        Value::Null => "∅".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    row.changes
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}.{}: {} → {}",
                text(&c["record"]),
                text(&c["field"]),
                text(&c["before"]),
                text(&c["after"])
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            // The last column is free text: it is not padded, so it does not widen the others.
            if i + 1 < header.len() {
                widths[i] = widths[i].max(cell.chars().count().min(48));
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c: String = if i + 1 < header.len() {
                    c.chars().take(48).collect()
                } else {
                    c.clone()
                };
                if i + 1 < header.len() {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    c
                }
            })
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectionId, RunId};
    use crate::vocab::{Action, NotificationKind, RunStatus};

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    fn quarantined(run_id: Option<RunId>) -> RunReport {
        RunReport {
            run_id,
            status: RunStatus::Quarantined,
            counts: Default::default(),
            graph_requests: 0,
            graph_throttles: 0,
            seconds: 0.0,
            read_seconds: 0.0,
            users: Default::default(),
            groups: Default::default(),
            warnings: Vec::new(),
            error: None,
            rows: Vec::new(),
            held_back: 7,
            needs_authorisation: false,
        }
    }

    #[test]
    fn a_quarantined_run_names_the_run_to_approve() {
        let out = summary("contoso", &quarantined(Some(RunId(42))));
        assert!(
            out.contains("7 deactivations held back (max_deactivations); approve with `entra-sync runs approve 42`"),
            "{out}"
        );
    }

    #[test]
    fn a_quarantined_dry_run_suggests_approving_nothing() {
        let out = summary("contoso", &quarantined(None));
        assert!(!out.contains("runs approve"), "{out}");
        assert!(
            out.contains("7 deactivations exceed max_deactivations; an applied run would hold them back until approved"),
            "{out}"
        );
        assert!(out.starts_with("contoso: dry run quarantined"), "{out}");
    }

    #[test]
    fn keep_active_names_the_records_it_changed_or_says_nothing_changed() {
        let row = InboundRow {
            id: 0,
            run_id: None,
            connection_id: ConnectionId::parse("contoso").unwrap(),
            source: "cli".into(),
            logged_at: chrono::DateTime::UNIX_EPOCH,
            entra_id: None,
            upn: None,
            target: Some(RecordKind::User),
            notification: NotificationKind::Updated,
            matched: serde_json::json!({}),
            action: Action::Updated,
            changes: serde_json::json!([
                {"record": "user", "field": "keep_active", "before": false, "after": true},
                {"record": "agent", "field": "keep_active", "before": false, "after": true},
            ]),
            message: None,
            agent_id: None,
        };
        let outcome = KeepActiveOutcome {
            user_id: 7,
            agent_id: Some(3),
            logged: Some(row.clone()),
        };
        assert_eq!(
            keep_active("ada@contoso.example", true, &outcome),
            "ada@contoso.example: keep-active on for user 7 and agent 3 (logged); the sync will \
             neither deactivate nor reactivate them.\n"
        );
        assert_eq!(
            changes_of(&row),
            "user.keep_active: false → true; agent.keep_active: false → true"
        );
        let unchanged = KeepActiveOutcome {
            logged: None,
            ..outcome
        };
        assert_eq!(
            keep_active("ada@contoso.example", true, &unchanged),
            "ada@contoso.example: keep-active is already on; nothing changed.\n"
        );
    }

    #[test]
    fn tables_align_all_but_the_last_column() {
        let t = table(
            &["A", "B"],
            vec![
                vec!["long value".into(), "x".into()],
                vec!["s".into(), "yy".into()],
            ],
        );
        assert_eq!(t, "A           B\nlong value  x\ns           yy\n");
    }
}
