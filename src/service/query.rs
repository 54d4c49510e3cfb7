//! Reading what happened: runs (newest first) and the inbound log (what happened to whom, and
//! why). A connection named in a query must be configured.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::cadence::Plan;
use crate::ids::RunId;
use crate::store::lease::connection_lease;
use crate::store::{InboundRow, LogQuery, RunRow};
use crate::vocab::{Action, NotificationKind};

use super::{Service, ServiceError};

/// The longest `since` duration: 100 years back is well inside what the clock can represent.
pub const MAX_SINCE: Duration = Duration::from_secs(100 * 31_557_600);

/// Which runs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsRequest {
    /// Only this connection.
    pub connection: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Which inbound-log rows to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// Only this connection.
    pub connection: Option<String>,
    /// Only this user principal name (case-insensitive).
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only rows since then.
    pub since: Option<Since>,
    /// Only this run's rows.
    pub run: Option<RunId>,
    /// Only rows older than this row id (a page's cursor).
    pub before: Option<i64>,
    /// At most this many rows, newest first.
    pub limit: u32,
}

/// How far back a log query reaches: a duration back from now, or a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long ago (at most [`MAX_SINCE`]).
    Ago(Duration),
    /// This moment.
    At(DateTime<Utc>),
}

impl Since {
    /// `2h`, `7d` (up to `100y`) or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Since, String> {
        let too_far = || {
            "a duration may reach back at most 100y (36525d); give an RFC 3339 time for \
             anything older"
                .to_owned()
        };
        match humantime::parse_duration(text) {
            Ok(ago) if ago <= MAX_SINCE => return Ok(Since::Ago(ago)),
            Ok(_) | Err(humantime::DurationError::NumberOverflow) => return Err(too_far()),
            Err(_) => {}
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Since::At(t.with_timezone(&Utc)))
            .map_err(|_| {
                "neither a duration (2h, 7d, at most 100y) nor an RFC 3339 time \
                 (2024-05-01T00:00:00Z)"
                    .to_owned()
            })
    }

    /// The moment this names, seen from `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match self {
            Since::At(at) => Ok(at),
            Since::Ago(ago) => chrono::Duration::from_std(ago)
                .ok()
                .and_then(|ago| now.checked_sub_signed(ago))
                .ok_or_else(|| "--since reaches back further than dates can be counted".to_owned()),
        }
    }
}

/// What the admin API's status shows of a connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStatus {
    /// The connection.
    pub id: String,
    /// It is enabled for this instance (the scheduler runs it here).
    pub enabled_here: bool,
    /// When its last finished delta or full run started.
    pub last_cycle: Option<DateTime<Utc>>,
    /// When its last successful full run started.
    pub last_full: Option<DateTime<Utc>>,
    /// Its newest run.
    pub last_run: Option<RunRow>,
    /// When its next cycle is due (now, when it is due already), by its cadence.
    pub next_run: DateTime<Utc>,
    /// Its users delta chain: `none` (the next run reads everyone), `ready` (a delta link is
    /// stored), or `round_under_way` (a round stopped part-way resumes from its next page).
    pub delta: &'static str,
    /// Who holds its lease now (`holder on host (pid)`), if anyone.
    pub lease_holder: Option<String>,
    /// Its credential stopped working: an admin must authorise it again.
    pub needs_authorisation: bool,
    /// When its secret or certificate stops working, as last looked up.
    pub credential_expires_at: Option<DateTime<Utc>>,
}

impl Service {
    /// A configured connection's status.
    pub async fn status(&self, id: &str) -> Result<ConnectionStatus, ServiceError> {
        let connection = self.connection(id)?;
        let lease = connection_lease(&connection.id);
        // Four short reads, side by side: the answer waits for the slowest, not for their sum.
        let (history, mut last_run, delta, health) = tokio::try_join!(
            self.store.run_history(&connection.id),
            self.store.runs(Some(&connection.id), 1),
            self.store.delta_state(&connection.id, "users"),
            self.store.connection_health(&connection.id, &lease),
        )?;
        let last_run = last_run.pop();
        let now = self.clock.now();
        let next_run = match super::cycle::cadence(connection).plan(&history, None, now) {
            Plan::Run(_) => now,
            Plan::Wait(wait) => now + chrono::Duration::from_std(wait).unwrap_or_default(),
        };
        let delta = match delta {
            Some(state) if state.next_link.is_some() => "round_under_way",
            Some(state) if state.delta_link.is_some() => "ready",
            _ => "none",
        };
        Ok(ConnectionStatus {
            id: connection.id.to_string(),
            enabled_here: connection
                .enabled_for_instances
                .contains(&self.settings.instance.name),
            last_cycle: history.last_cycle,
            last_full: history.last_full,
            last_run,
            next_run,
            delta,
            lease_holder: health
                .lease
                .map(|l| format!("{} on {} ({})", l.holder, l.host, l.pid)),
            needs_authorisation: health.needs_authorisation,
            credential_expires_at: health.credential_expires_at,
        })
    }

    /// One run.
    pub async fn run(&self, id: RunId) -> Result<RunRow, ServiceError> {
        Ok(self.store.run(id).await?)
    }

    /// Runs, newest first.
    pub async fn runs(&self, request: RunsRequest) -> Result<Vec<RunRow>, ServiceError> {
        let connection = request
            .connection
            .as_deref()
            .map(|id| self.connection(id))
            .transpose()?;
        Ok(self
            .store
            .runs(connection.map(|c| &c.id), request.limit)
            .await?)
    }

    /// Inbound-log rows, newest first.
    pub async fn log(&self, request: LogRequest) -> Result<Vec<InboundRow>, ServiceError> {
        self.log_answering(request, None).await
    }

    /// Inbound-log rows answering `notification` (any, when `None`), newest first.
    pub async fn log_answering(
        &self,
        request: LogRequest,
        notification: Option<NotificationKind>,
    ) -> Result<Vec<InboundRow>, ServiceError> {
        let connection = request
            .connection
            .as_deref()
            .map(|id| self.connection(id))
            .transpose()?;
        let since = request
            .since
            .map(|since| since.resolve(self.clock.now()))
            .transpose()
            .map_err(ServiceError::Invalid)?;
        let query = LogQuery {
            connection_id: connection.map(|c| c.id.clone()),
            run_id: request.run,
            upn: request.user,
            action: request.action,
            notification,
            since,
            before: request.before,
            limit: request.limit,
        };
        Ok(self.store.inbound_log(&query).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_up_to_a_hundred_years_and_rfc_3339_times() {
        assert_eq!(
            Since::parse("2h"),
            Ok(Since::Ago(Duration::from_secs(7_200)))
        );
        assert!(matches!(Since::parse("100y"), Ok(Since::Ago(_))));
        let too_far = Since::parse("300000y").unwrap_err();
        assert!(too_far.contains("at most 100y"), "{too_far}");
        assert!(
            Since::parse("soon")
                .unwrap_err()
                .contains("neither a duration")
        );
        assert!(
            Since::parse("99999999999999999999y")
                .unwrap_err()
                .contains("at most 100y")
        );
        let at = Since::parse("2024-05-01T10:00:00+02:00").unwrap();
        assert_eq!(
            at.resolve(DateTime::<Utc>::MIN_UTC).unwrap().to_rfc3339(),
            "2024-05-01T08:00:00+00:00"
        );
    }

    #[test]
    fn the_longest_since_resolves_without_overflow() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let back = Since::Ago(MAX_SINCE).resolve(now).unwrap();
        assert_eq!(back.to_rfc3339(), "1925-01-01T00:00:00+00:00");
    }
}
