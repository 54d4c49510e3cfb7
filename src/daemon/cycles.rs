//! The scheduler's [`Cycles`] over the application: each cycle is [`Service::cycle`], its
//! outcome recorded in the metrics and turned into the loop's next wait.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::metrics;
use super::scheduler::{Cycle, Cycles};
use crate::clock::Clock;
use crate::ids::ConnectionId;
use crate::service::{CycleResult, Service, ServiceError};
use crate::vocab::RunStatus;

/// How soon a cancelled run's connection is tried again (the next start of the daemon, in
/// practice: cancellation comes with shutdown).
const AFTER_CANCEL: Duration = Duration::from_secs(5);

/// The cycles of one configuration generation.
pub struct ServiceCycles {
    /// The application, with that generation's settings.
    pub service: Service,
    /// For the metrics' timestamps.
    pub clock: std::sync::Arc<dyn Clock>,
}

#[async_trait]
impl Cycles for ServiceCycles {
    async fn cycle(&self, connection: &ConnectionId, cancel: &CancellationToken) -> Cycle {
        match self.service.cycle(connection, cancel).await {
            Ok(result) => {
                let now = self.clock.now().timestamp_millis() as f64 / 1000.0;
                metrics::cycle(connection, &result, now);
                match result {
                    CycleResult::Ran { report, next, .. } => match report.status {
                        RunStatus::Failed => Cycle::Failed {
                            error: report.error.unwrap_or_else(|| "the run failed".to_owned()),
                            reauthorise: report.needs_authorisation,
                        },
                        RunStatus::Cancelled => Cycle::Ran {
                            status: report.status,
                            next: AFTER_CANCEL,
                        },
                        status => Cycle::Ran { status, next },
                    },
                    CycleResult::NotDue(next) => Cycle::NotDue(next),
                    CycleResult::Busy(next) => Cycle::Busy(next),
                }
            }
            Err(error) => {
                let reauthorise = needs_authorisation(&error);
                metrics::needs_authorisation(connection, reauthorise);
                Cycle::Failed {
                    reauthorise,
                    error: error.to_string(),
                }
            }
        }
    }

    async fn triggered(&self) -> Result<Vec<ConnectionId>, String> {
        self.service.triggered().await.map_err(|e| e.to_string())
    }
}

/// A cycle that could not start because the connection's credential is unusable.
fn needs_authorisation(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Graph(e) if e.needs_authorisation())
}
