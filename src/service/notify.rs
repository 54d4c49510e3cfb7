//! Webhooks: with `[notifications] webhook_url`, the daemon POSTs a JSON event when a run fails,
//! a run is quarantined, or a connection needs authorising again.
//!
//! Sending never blocks or slows a run: [`Notifier::send`] puts the event on a bounded queue
//! (an event that finds the queue full is dropped and logged) and one task delivers the queue in
//! order. A delivery that fails (no answer, or not 2xx) is tried again after 1, 2, 4 and 8 s,
//! then given up and logged. With `webhook_secret`, each POST carries
//! `X-Entra-Sync-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>`, so the
//! receiver can tell it comes from this daemon; `X-Entra-Sync-Event` names the event.
//!
//! The payloads (every one has `event`, `connection`, `instance` and `at`, RFC 3339):
//!
//! - `run.failed`: `run` (its id), `kind` (`delta` or `full`), `error`;
//! - `run.quarantined`: `run`, `kind`, `held_back` (the deactivations awaiting approval);
//! - `connection.needs_authorisation`: `error` (why the credential no longer works). Sent when
//!   a connection starts needing it, not again for every cycle until it is fixed.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::mpsc;
use tracing::{info, warn};
use url::Url;

use crate::ids::{ConnectionId, RunId};
use crate::vocab::RunKind;

/// How many events wait for delivery at most.
const QUEUE: usize = 256;
/// The waits before the second, third, … attempt.
const RETRIES: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event")]
pub enum Event {
    /// A run failed.
    #[serde(rename = "run.failed")]
    RunFailed {
        /// The run.
        run: Option<RunId>,
        /// Its kind.
        kind: RunKind,
        /// Why.
        error: String,
    },
    /// A run was quarantined: deactivations await approval.
    #[serde(rename = "run.quarantined")]
    RunQuarantined {
        /// The run.
        run: Option<RunId>,
        /// Its kind.
        kind: RunKind,
        /// The deactivations held back.
        held_back: u64,
    },
    /// The connection's credential no longer works: an admin must authorise it again.
    #[serde(rename = "connection.needs_authorisation")]
    NeedsAuthorisation {
        /// Why.
        error: String,
    },
    /// The connection's secret or certificate expires within
    /// `[notifications] credential_warning_days` (or has expired).
    #[serde(rename = "credential.expiring")]
    CredentialExpiring {
        /// Which credential (`client secret abc…`, `certificate 1A2B…`).
        credential: String,
        /// When it stops working.
        expires_at: DateTime<Utc>,
        /// Whole days left (negative once expired).
        days_left: i64,
        /// `graph` (the app registration) or `config` (`auth.expires`).
        source: super::ExpirySource,
    },
}

impl Event {
    /// The event's name, as `event` and `X-Entra-Sync-Event` say it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunFailed { .. } => "run.failed",
            Event::RunQuarantined { .. } => "run.quarantined",
            Event::NeedsAuthorisation { .. } => "connection.needs_authorisation",
            Event::CredentialExpiring { .. } => "credential.expiring",
        }
    }
}

/// One event as it is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
    /// To which connection.
    pub connection: ConnectionId,
    /// On which instance.
    pub instance: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Puts events on the delivery queue.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Payload>,
}

impl Notifier {
    /// A notifier and the receiving end its delivery task reads ([`deliver`]).
    pub fn channel() -> (Notifier, mpsc::Receiver<Payload>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        (Notifier { queue }, receiver)
    }

    /// Queues `payload` without waiting; an event that finds the queue full is dropped, logged.
    pub fn send(&self, payload: Payload) {
        if let Err(e) = self.queue.try_send(payload) {
            let dropped = match e {
                mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p) => p,
            };
            warn!(
                event = dropped.event.name(),
                connection = %dropped.connection,
                "A webhook event was dropped: the delivery queue is full or closed."
            );
        }
    }
}

/// Sends one POST; `Err` says why it did not arrive.
#[async_trait]
pub trait Transport: Send + Sync {
    /// POSTs `body` with `headers`.
    async fn post(&self, body: &[u8], headers: &[(&'static str, String)]) -> Result<(), String>;
}

/// The webhook over HTTP.
pub struct HttpTransport {
    /// The client (with its own timeout).
    pub http: reqwest::Client,
    /// `[notifications] webhook_url`.
    pub url: Url,
}

#[async_trait]
impl Transport for HttpTransport {
    async fn post(&self, body: &[u8], headers: &[(&'static str, String)]) -> Result<(), String> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }
}

/// `sha256=<hex>` of `body` keyed by `secret`.
pub fn signature(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers the queue in order until every [`Notifier`] is dropped: each event tried up to five
/// times, then given up and logged.
pub async fn deliver(
    mut queue: mpsc::Receiver<Payload>,
    transport: impl Transport,
    secret: Option<SecretString>,
) {
    while let Some(payload) = queue.recv().await {
        let body = serde_json::to_vec(&payload).expect("a payload serialises");
        let mut headers = vec![("x-entra-sync-event", payload.event.name().to_owned())];
        if let Some(secret) = &secret {
            headers.push(("x-entra-sync-signature", signature(secret, &body)));
        }
        let mut waits = RETRIES.iter();
        let mut attempt = 1;
        loop {
            match transport.post(&body, &headers).await {
                Ok(()) => {
                    info!(event = payload.event.name(), connection = %payload.connection, attempt, "A webhook was delivered.");
                    break;
                }
                Err(error) => match waits.next() {
                    Some(wait) => {
                        tokio::time::sleep(*wait).await;
                        attempt += 1;
                    }
                    None => {
                        warn!(
                            event = payload.event.name(),
                            connection = %payload.connection,
                            attempts = attempt,
                            %error,
                            "A webhook was given up."
                        );
                        break;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A post as the transport saw it: when, its body and its headers.
    type Seen = (tokio::time::Instant, Vec<u8>, Vec<(&'static str, String)>);

    /// Fails the first `failures` posts, then accepts; records when each arrived.
    #[derive(Clone)]
    struct Flaky {
        failures: usize,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    #[async_trait]
    impl Transport for Flaky {
        async fn post(
            &self,
            body: &[u8],
            headers: &[(&'static str, String)],
        ) -> Result<(), String> {
            let mut seen = self.seen.lock().unwrap();
            seen.push((tokio::time::Instant::now(), body.to_vec(), headers.to_vec()));
            if seen.len() <= self.failures {
                Err("down".to_owned())
            } else {
                Ok(())
            }
        }
    }

    fn payload(event: Event) -> Payload {
        Payload {
            event,
            connection: ConnectionId::parse("contoso").unwrap(),
            instance: "production".to_owned(),
            at: DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delivery_is_retried_with_backoff_then_given_up() {
        let flaky = Flaky {
            failures: 10,
            seen: Arc::default(),
        };
        let (notifier, queue) = Notifier::channel();
        let start = tokio::time::Instant::now();
        notifier.send(payload(Event::NeedsAuthorisation {
            error: "AADSTS700082".to_owned(),
        }));
        drop(notifier);
        deliver(queue, flaky.clone(), None).await;
        let seen = flaky.seen.lock().unwrap();
        let at: Vec<u64> = seen
            .iter()
            .map(|(t, _, _)| (*t - start).as_secs())
            .collect();
        assert_eq!(at, [0, 1, 3, 7, 15], "five attempts, 1, 2, 4 and 8 s apart");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_stops_at_the_first_success_and_is_signed() {
        let flaky = Flaky {
            failures: 1,
            seen: Arc::default(),
        };
        let (notifier, queue) = Notifier::channel();
        notifier.send(payload(Event::RunQuarantined {
            run: Some(RunId(7)),
            kind: RunKind::Full,
            held_back: 240,
        }));
        drop(notifier);
        let secret = SecretString::from("hush".to_owned());
        deliver(queue, flaky.clone(), Some(secret.clone())).await;
        let seen = flaky.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let (_, body, headers) = &seen[1];
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "event": "run.quarantined", "run": 7, "kind": "full", "held_back": 240,
                "connection": "contoso", "instance": "production", "at": "2026-03-02T09:00:00Z"
            })
        );
        assert!(headers.contains(&("x-entra-sync-event", "run.quarantined".to_owned())));
        assert!(headers.contains(&("x-entra-sync-signature", signature(&secret, body))));
        assert_ne!(
            signature(&secret, body),
            signature(&SecretString::from("other".to_owned()), body)
        );
    }

    #[test]
    fn send_never_waits_a_full_queue_drops_the_event() {
        let (notifier, _queue) = Notifier::channel();
        for _ in 0..QUEUE + 5 {
            notifier.send(payload(Event::RunFailed {
                run: None,
                kind: RunKind::Delta,
                error: "x".to_owned(),
            }));
        }
        assert_eq!(notifier.queue.capacity(), 0);
    }
}
