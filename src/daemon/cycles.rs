//! The scheduler's [`Cycles`] over the application: each cycle is [`Service::cycle`], its
//! outcome recorded in the metrics, told to the webhook when it failed, was quarantined or
//! needs authorising (that last once, until the connection works again), and turned into the
//! loop's next wait.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::metrics;
use super::scheduler::{Cycle, Cycles};
use crate::clock::Clock;
use crate::ids::ConnectionId;
use crate::service::notify::{Event, Notifier, Payload};
use crate::service::{CycleResult, RunReport, Service, ServiceError};
use crate::vocab::RunStatus;

/// How soon a cancelled run's connection is tried again (the next start of the daemon, in
/// practice: cancellation comes with shutdown).
const AFTER_CANCEL: Duration = Duration::from_secs(5);

/// What has been announced already, shared by every configuration generation (so a reload
/// does not announce it again).
pub type Announced<T> = Arc<Mutex<HashSet<T>>>;

/// The cycles of one configuration generation.
#[derive(Clone)]
pub struct ServiceCycles {
    /// The application, with that generation's settings.
    pub service: Service,
    /// For the metrics' timestamps.
    pub clock: Arc<dyn Clock>,
    /// Where events go, with `[notifications] webhook_url`.
    pub notifier: Option<Notifier>,
    /// The connections already announced as needing authorisation (shared by every
    /// generation, so a reload does not announce them again).
    pub unauthorised: Announced<ConnectionId>,
    /// The credential end dates already announced, by connection (shared like `unauthorised`).
    pub expiring: Announced<(ConnectionId, DateTime<Utc>)>,
}

impl ServiceCycles {
    fn tell(&self, connection: &ConnectionId, event: Event) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        notifier.send(Payload {
            event,
            connection: connection.clone(),
            instance: self.service.settings().instance.name.clone(),
            at: self.clock.now(),
        });
    }

    /// Announces that `connection` needs authorising, unless that was announced already; or
    /// forgets that it did, once the connection works again.
    fn unauthorised(&self, connection: &ConnectionId, error: Option<&str>) {
        let mut announced = self.unauthorised.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(error) => {
                if announced.insert(connection.clone()) {
                    drop(announced);
                    let error = error.to_owned();
                    self.tell(connection, Event::NeedsAuthorisation { error });
                }
            }
            None => {
                announced.remove(connection);
            }
        }
    }

    /// Looks up when `connection`'s credential expires: sets the metric, and within the warning
    /// window tells the webhook, once per end date (a renewed credential is announced afresh).
    pub async fn credentials(&self, connection: &ConnectionId) {
        match self.service.check_credential(connection.as_str()).await {
            Ok(expiry) => {
                metrics::credential_expiry(connection, expiry.as_ref().map(|e| e.expires_at));
                let Some(expiry) = expiry.filter(|e| e.soon) else {
                    return;
                };
                let first = self
                    .expiring
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((connection.clone(), expiry.expires_at));
                if first {
                    self.tell(
                        connection,
                        Event::CredentialExpiring {
                            credential: expiry.credential,
                            expires_at: expiry.expires_at,
                            days_left: expiry.days_left,
                            source: expiry.source,
                        },
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%connection, %error, "The credential's expiry could not be looked up.");
            }
        }
    }

    /// Tells the webhook what a finished run calls for.
    fn report(&self, connection: &ConnectionId, kind: crate::vocab::RunKind, report: &RunReport) {
        let error = || {
            report
                .error
                .clone()
                .unwrap_or_else(|| "the run failed".to_owned())
        };
        match report.status {
            RunStatus::Failed if report.needs_authorisation => {
                self.unauthorised(connection, Some(&error()));
            }
            RunStatus::Failed => self.tell(
                connection,
                Event::RunFailed {
                    run: report.run_id,
                    kind,
                    error: error(),
                },
            ),
            RunStatus::Quarantined => {
                self.unauthorised(connection, None);
                self.tell(
                    connection,
                    Event::RunQuarantined {
                        run: report.run_id,
                        kind,
                        held_back: report.held_back,
                    },
                );
            }
            RunStatus::Succeeded => self.unauthorised(connection, None),
            RunStatus::Running | RunStatus::Cancelled => {}
        }
    }
}

#[async_trait]
impl Cycles for ServiceCycles {
    async fn cycle(&self, connection: &ConnectionId, cancel: &CancellationToken) -> Cycle {
        match self.service.cycle(connection, cancel).await {
            Ok(result) => {
                let now = self.clock.now().timestamp_millis() as f64 / 1000.0;
                metrics::cycle(connection, &result, now);
                match result {
                    CycleResult::Ran { report, next, kind } => {
                        self.report(connection, kind, &report);
                        match report.status {
                            RunStatus::Failed => Cycle::Failed {
                                error: report.error.unwrap_or_else(|| "the run failed".to_owned()),
                                reauthorise: report.needs_authorisation,
                            },
                            RunStatus::Cancelled => Cycle::Ran {
                                status: report.status,
                                next: AFTER_CANCEL,
                            },
                            status => Cycle::Ran { status, next },
                        }
                    }
                    CycleResult::NotDue(next) => Cycle::NotDue(next),
                    CycleResult::Busy(next) => Cycle::Busy(next),
                }
            }
            Err(error) => {
                let reauthorise = needs_authorisation(&error);
                metrics::needs_authorisation(connection, reauthorise);
                if reauthorise {
                    self.unauthorised(connection, Some(&error.to_string()));
                }
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
