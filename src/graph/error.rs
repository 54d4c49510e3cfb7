//! Graph errors, shaped by what the caller decides, and the one function that classifies a
//! response ([`classify`]) apart from the retry loop that acts on it ([`Retries`]).

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::auth::AuthError;

/// Why a Graph request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// 429 (or 503 with `Retry-After`): wait, then retry.
    #[error("throttled by Microsoft Graph ({})", retry_hint(*.retry_after))]
    Throttled {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The delta or page token is no longer valid: start a fresh initial round.
    #[error("resync required: {reason}")]
    ResyncRequired {
        /// The Graph code or status that said so.
        reason: String,
    },
    /// 401 after one token refresh: the credential no longer works.
    #[error("Microsoft Graph rejected the access token ({message}); re-authorise this connection")]
    Unauthorized {
        /// Graph's message.
        message: String,
    },
    /// 403: the app lacks a permission.
    #[error(
        "Microsoft Graph refused {what}: the app registration needs the {permission} permission (with admin consent)"
    )]
    Forbidden {
        /// The permission the request needs.
        permission: String,
        /// What was refused.
        what: String,
    },
    /// Network trouble, 5xx or an unreadable body: retrying may help.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The response was well-formed JSON but not the shape Graph documents.
    #[error("unexpected response from {url}: {message}")]
    InvalidResponse {
        /// The request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// Any other Graph error, with its code and message.
    #[error("Microsoft Graph error {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`.
        code: String,
        /// Graph's `error.message`.
        message: String,
    },
    /// No access token could be had.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// `retry after 2 s`, or that the server gave no delay.
fn retry_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) if wait.subsec_millis() == 0 => format!("retry after {} s", wait.as_secs()),
        Some(wait) => format!("retry after {:.1} s", wait.as_secs_f64()),
        None => "no Retry-After given".to_owned(),
    }
}

impl GraphError {
    /// Whether this is a throttling answer (counted separately in run statistics).
    pub fn is_throttle(&self) -> bool {
        matches!(self, GraphError::Throttled { .. })
    }

    /// The connection's credential no longer works and retrying cannot help: the identity
    /// platform refused the sign-in (an AADSTS error), the credential is unusable (an unreadable
    /// key, a missing refresh token), or Graph rejected a token obtained afresh (401).
    pub fn needs_authorisation(&self) -> bool {
        matches!(
            self,
            GraphError::Unauthorized { .. }
                | GraphError::Auth(AuthError::Rejected { .. } | AuthError::Credential(_))
        )
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Graph error codes that mean "your delta/page token is gone; start over".
const RESYNC_CODES: [&str; 4] = [
    "syncStateNotFound",
    "resyncRequired",
    "Directory_ExpiredPageToken",
    "syncStateInvalid",
];

/// Turns a non-success response into the error the caller acts on. `permission` is what the
/// request needs (named in `Forbidden`); `what` describes the request for messages.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    permission: &str,
    what: &str,
) -> GraphError {
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => (envelope.error.code, envelope.error.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    let retry_after = retry_after(headers);
    if RESYNC_CODES.iter().any(|c| c.eq_ignore_ascii_case(&code)) || status == StatusCode::GONE {
        let reason = if code.is_empty() {
            format!("{status}")
        } else {
            code
        };
        return GraphError::ResyncRequired { reason };
    }
    match status {
        StatusCode::TOO_MANY_REQUESTS => GraphError::Throttled { retry_after },
        StatusCode::SERVICE_UNAVAILABLE if retry_after.is_some() => {
            GraphError::Throttled { retry_after }
        }
        StatusCode::UNAUTHORIZED => GraphError::Unauthorized {
            message: if message.is_empty() { code } else { message },
        },
        StatusCode::FORBIDDEN => GraphError::Forbidden {
            permission: permission.to_owned(),
            what: what.to_owned(),
        },
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => GraphError::Transient(
            format!("{what}: {status} {code} {message}")
                .trim_end()
                .to_owned(),
        ),
        _ => GraphError::Api {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// `Retry-After` in seconds (the form Graph sends).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// How retries are paced and bounded.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after failures (transient errors), after the first attempt. Throttling is not a
    /// failure and is bounded by [`max_throttled`](Self::max_throttled) instead.
    pub max_retries: u32,
    /// First back-off delay when the server gave no `Retry-After`.
    pub base_delay: Duration,
    /// Longest back-off delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the request as throttled.
    pub max_retry_after: Duration,
    /// Longest one request waits on throttling in all. Graph asks clients to keep honouring
    /// `Retry-After` for as long as it throttles; a tenant throttled half the time for minutes
    /// must end in success, not in a run given up after a few retries.
    pub max_throttled: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
            max_throttled: Duration::from_secs(30 * 60),
        }
    }
}

/// What one request has been through: failures and throttling, counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    /// Retries after transient failures.
    pub failures: u32,
    /// Retries after throttling.
    pub throttles: u32,
    /// Time spent waiting on throttling.
    pub throttled_for: Duration,
}

impl Retries {
    /// How long to wait before retrying after `error`, or `None` to give up. `Retry-After` is
    /// honoured exactly; otherwise exponential back-off with jitter (50–100 %).
    pub fn delay(&self, error: &GraphError, policy: &RetryPolicy) -> Option<Duration> {
        let backoff = |retry: u32| {
            let exp = policy
                .base_delay
                .saturating_mul(2u32.saturating_pow(retry))
                .min(policy.max_delay);
            exp.mul_f64(rand::rng().random_range(0.5..=1.0))
        };
        match error {
            GraphError::Throttled { retry_after } => {
                let wait = match retry_after {
                    Some(wait) if *wait <= policy.max_retry_after => *wait,
                    Some(_) => return None,
                    None => backoff(self.throttles),
                };
                (self.throttled_for + wait <= policy.max_throttled).then_some(wait)
            }
            GraphError::Transient(_) | GraphError::Auth(AuthError::Unavailable(_)) => {
                (self.failures < policy.max_retries).then(|| backoff(self.failures))
            }
            _ => None,
        }
    }

    /// Records a retry after `error`, `delay` from now.
    pub fn record(&mut self, error: &GraphError, delay: Duration) {
        if error.is_throttle() {
            self.throttles += 1;
            self.throttled_for += delay;
        } else {
            self.failures += 1;
        }
    }

    /// Retries so far, of either kind.
    pub fn total(&self) -> u32 {
        self.failures + self.throttles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
        }
        h
    }

    fn body(code: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":"{code}","message":"m","innerError":{{}}}}}}"#).into_bytes()
    }

    #[test]
    fn expired_delta_and_page_tokens_and_gone_mean_resync() {
        let h = headers(None);
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "syncStateNotFound"),
            (StatusCode::BAD_REQUEST, "Directory_ExpiredPageToken"),
            (StatusCode::BAD_REQUEST, "resyncRequired"),
            (StatusCode::GONE, ""),
        ] {
            let e = classify(status, &h, &body(code), "User.Read.All", "users");
            assert!(
                matches!(e, GraphError::ResyncRequired { .. }),
                "{status} {code}: {e:?}"
            );
        }
    }

    #[test]
    fn throttling_keeps_the_servers_retry_after() {
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(Some("2")),
            &body("TooManyRequests"),
            "",
            "",
        );
        assert!(
            matches!(e, GraphError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(2))
        );
        assert_eq!(
            Retries::default().delay(&e, &RetryPolicy::default()),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_throttle_says_how_long_to_wait_in_a_sentence() {
        let message = |retry_after| GraphError::Throttled { retry_after }.to_string();
        assert_eq!(
            message(Some(Duration::from_secs(1))),
            "throttled by Microsoft Graph (retry after 1 s)"
        );
        assert_eq!(
            message(Some(Duration::from_millis(1_500))),
            "throttled by Microsoft Graph (retry after 1.5 s)"
        );
        assert_eq!(
            message(None),
            "throttled by Microsoft Graph (no Retry-After given)"
        );
    }

    #[test]
    fn unknown_codes_surface_with_code_and_message() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            &headers(None),
            &body("Request_UnsupportedQuery"),
            "",
            "",
        );
        assert!(
            matches!(&e, GraphError::Api { status: 400, code, message } if code == "Request_UnsupportedQuery" && message == "m")
        );
        assert_eq!(Retries::default().delay(&e, &RetryPolicy::default()), None);
    }

    #[test]
    fn forbidden_names_the_permission() {
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(None),
            &body("Authorization_RequestDenied"),
            "AuditLog.Read.All",
            "sign-in activity",
        );
        assert!(e.to_string().contains("AuditLog.Read.All"), "{e}");
    }

    #[test]
    fn retries_stop_at_the_bound_and_back_off_within_limits() {
        let policy = RetryPolicy {
            max_retries: 3,
            ..RetryPolicy::default()
        };
        let e = GraphError::Transient("503".into());
        let mut retries = Retries::default();
        for retry in 0..3 {
            let d = retries.delay(&e, &policy).unwrap();
            let full = policy.base_delay * 2u32.pow(retry);
            assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
            retries.record(&e, d);
        }
        assert_eq!(retries.delay(&e, &policy), None);
    }

    #[test]
    fn throttling_is_retried_for_its_time_budget_not_a_count_and_apart_from_failures() {
        let policy = RetryPolicy {
            max_retries: 3,
            max_throttled: Duration::from_secs(100),
            ..RetryPolicy::default()
        };
        let throttled = GraphError::Throttled {
            retry_after: Some(Duration::from_secs(10)),
        };
        let failed = GraphError::Transient("503".into());
        let mut retries = Retries::default();
        // Ten waits of 10 s fill the budget exactly, far past `max_retries`; a failure still has
        // its own three retries.
        for _ in 0..10 {
            let d = retries
                .delay(&throttled, &policy)
                .expect("within the budget");
            retries.record(&throttled, d);
        }
        assert_eq!(retries.throttled_for, Duration::from_secs(100));
        assert_eq!(
            retries.delay(&throttled, &policy),
            None,
            "the budget is spent"
        );
        for _ in 0..3 {
            let d = retries
                .delay(&failed, &policy)
                .expect("a failure's own retries");
            retries.record(&failed, d);
        }
        assert_eq!(retries.delay(&failed, &policy), None);
        assert_eq!(
            (retries.failures, retries.throttles, retries.total()),
            (3, 10, 13)
        );
        // A Retry-After beyond what is honoured fails at once.
        let long = GraphError::Throttled {
            retry_after: Some(policy.max_retry_after + Duration::from_secs(1)),
        };
        assert_eq!(Retries::default().delay(&long, &policy), None);
    }
}
