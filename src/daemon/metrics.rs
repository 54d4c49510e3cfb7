//! The daemon's Prometheus series. Every series about a connection carries its id as the
//! `connection` label (a bounded set); none carries a person.
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `entra_sync_runs_total{connection,kind,status}` | counter | runs that ended |
//! | `entra_sync_people_total{connection,action}` | counter | people processed, by inbound-log action |
//! | `entra_sync_graph_requests_total{connection,endpoint,status}` | counter | Graph requests (retries included) |
//! | `entra_sync_graph_throttled_total{connection,endpoint}` | counter | throttled Graph answers |
//! | `entra_sync_run_duration_seconds{connection,kind}` | histogram | how long runs took |
//! | `entra_sync_last_success_timestamp_seconds{connection}` | gauge | when the last successful run ended (Unix time) |
//! | `entra_sync_runs_quarantined_total{connection}` | counter | runs quarantined by the deactivation guard |
//! | `entra_sync_quarantined{connection}` | gauge | 1 while the last run is quarantined, awaiting approval |
//! | `entra_sync_needs_authorisation{connection}` | gauge | 1 while the connection waits to be authorised again |
//! | `entra_sync_lease_held{connection}` | gauge | 1 while this process holds the connection's lease |
//! | `entra_sync_scheduler_lag_seconds` | histogram | how late cycles started against their plan |
//! | `entra_sync_config_generation` | gauge | which configuration is live (1 at start, +1 per reload) |

use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::ids::ConnectionId;
use crate::service::CycleResult;
use crate::vocab::RunStatus;

/// Installs the process's recorder (once per process); its handle renders `/metrics`.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("entra_sync_run_duration_seconds".to_owned()),
            &[
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full("entra_sync_scheduler_lag_seconds".to_owned()),
            &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0],
        )?
        .install_recorder()
}

/// Records what a cycle of `connection` did, at `now` (Unix seconds).
pub fn cycle(connection: &ConnectionId, result: &CycleResult, now: f64) {
    let CycleResult::Ran { kind, report, .. } = result else {
        return;
    };
    let label = connection.to_string();
    let kind = kind.as_str();
    metrics::counter!("entra_sync_runs_total", "connection" => label.clone(), "kind" => kind, "status" => report.status.as_str()).increment(1);
    metrics::histogram!("entra_sync_run_duration_seconds", "connection" => label.clone(), "kind" => kind).record(report.seconds);
    for (action, count) in &report.counts {
        metrics::counter!("entra_sync_people_total", "connection" => label.clone(), "action" => action.clone()).increment(*count);
    }
    match report.status {
        RunStatus::Succeeded => {
            metrics::gauge!("entra_sync_last_success_timestamp_seconds", "connection" => label.clone()).set(now);
            metrics::gauge!("entra_sync_quarantined", "connection" => label.clone()).set(0.0);
        }
        RunStatus::Quarantined => {
            metrics::gauge!("entra_sync_quarantined", "connection" => label.clone()).set(1.0);
        }
        _ => {}
    }
    needs_authorisation(connection, report.needs_authorisation);
}

/// Whether `connection` waits to be authorised again (also when its cycle failed before a run
/// could start, e.g. its credential could not be read).
pub fn needs_authorisation(connection: &ConnectionId, needed: bool) {
    metrics::gauge!("entra_sync_needs_authorisation", "connection" => connection.to_string())
        .set(if needed { 1.0 } else { 0.0 });
}

/// When `connection`'s secret or certificate stops working (Unix seconds), while it is known.
pub fn credential_expiry(connection: &ConnectionId, expires_at: Option<DateTime<Utc>>) {
    let gauge = metrics::gauge!(
        "entra_sync_credential_expiry_timestamp_seconds",
        "connection" => connection.to_string()
    );
    match expires_at {
        Some(at) => gauge.set(at.timestamp() as f64),
        None => gauge.set(f64::NAN),
    }
}

/// The configuration generation now live.
pub fn generation(number: u64) {
    metrics::gauge!("entra_sync_config_generation").set(number as f64);
}
