//! Scripted faults: one-shot, counted or rate-based 429/503/timeouts/malformed JSON, and the
//! delta failures Graph produces (expired delta or page tokens, resync required).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a fault does to the request it hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `TooManyRequests` with this `Retry-After`.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_secs: u32,
    },
    /// 503 `serviceNotAvailable`, with `Retry-After` when given.
    ServiceUnavailable {
        /// Seconds in `Retry-After`.
        retry_after_secs: Option<u32>,
    },
    /// Holds the request this long, then answers 504; clients with a shorter timeout see a
    /// timeout.
    Timeout {
        /// How long to hold, in milliseconds.
        hang_ms: u64,
    },
    /// 200 with a body cut in the middle of a JSON object.
    MalformedJson,
    /// 200 with the page's `@odata.nextLink` left out: a page mid-chain that looks like the last
    /// one, though it carries no `@odata.deltaLink` either.
    DropNextLink,
    /// 200 with the page's `@odata.nextLink` pointing back at the page itself (and its
    /// `@odata.deltaLink` left out): every object on it comes again on the next page, as Graph
    /// may return an object more than once in a round.
    RepeatPage,
    /// 200, then the connection closed half-way through the body.
    ResetConnection,
    /// 200 with the first object of the page given unexpected types and `null`s: a number, a
    /// boolean as text, an object and an array where text belongs, `null` for its name.
    WrongTypes,
    /// 400 `syncStateNotFound` — only for requests carrying a `$deltatoken`.
    SyncStateNotFound,
    /// 410 `resyncRequired` with a `Location` to start over — only for delta requests with a
    /// token.
    ResyncRequired,
    /// 400 `Directory_ExpiredPageToken` — only for requests carrying a `$skiptoken`.
    ExpiredPageToken,
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum Trigger {
    /// The next matching request only.
    #[default]
    Once,
    /// The next `count` matching requests.
    Times {
        /// How many.
        count: u32,
    },
    /// Each matching request with this probability (seeded: reproducible for one client).
    Rate {
        /// 0.0 – 1.0.
        probability: f64,
    },
}

/// A scripted fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Matches endpoints whose label (`GET /v1.0/users/delta`) contains this; every Graph
    /// endpoint when unset.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Only this tenant; every tenant when unset.
    #[serde(default)]
    pub tenant: Option<Uuid>,
    /// When it fires.
    #[serde(flatten, default)]
    pub trigger: Trigger,
}

impl FaultRule {
    /// A rule hitting the next request to endpoints matching `endpoint`.
    pub fn once(kind: FaultKind, endpoint: &str) -> Self {
        Self {
            kind,
            endpoint: Some(endpoint.to_owned()),
            tenant: None,
            trigger: Trigger::Once,
        }
    }
}

/// What a request looks like to the fault matcher.
#[derive(Debug, Clone, Copy)]
pub struct RequestShape<'a> {
    /// Endpoint label.
    pub endpoint: &'a str,
    /// Tenant of the caller's token.
    pub tenant: Uuid,
    /// Whether the query has a non-empty `$deltatoken`.
    pub delta_token: bool,
    /// Whether the query has a `$skiptoken`.
    pub skip_token: bool,
}

/// The scripted faults in force.
#[derive(Debug)]
pub struct FaultBook {
    rules: Vec<(FaultRule, u32)>,
    rng: StdRng,
    /// How many faults fired.
    pub fired: u64,
}

impl FaultBook {
    /// No faults; `seed` drives rate-based rules.
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xFA17),
            fired: 0,
        }
    }

    /// Adds a rule.
    pub fn add(&mut self, rule: FaultRule) {
        let remaining = match rule.trigger {
            Trigger::Once => 1,
            Trigger::Times { count } => count,
            Trigger::Rate { .. } => u32::MAX,
        };
        self.rules.push((rule, remaining));
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for this request, if a rule fires; consumes one-shot and counted rules.
    pub fn take(&mut self, request: RequestShape<'_>) -> Option<FaultKind> {
        let position = self.rules.iter().position(|(rule, remaining)| {
            *remaining > 0
                && rule
                    .endpoint
                    .as_deref()
                    .is_none_or(|e| request.endpoint.contains(e))
                && rule.tenant.is_none_or(|t| t == request.tenant)
                && match rule.kind {
                    FaultKind::SyncStateNotFound => request.delta_token,
                    FaultKind::ExpiredPageToken => request.skip_token,
                    FaultKind::ResyncRequired => request.delta_token || request.skip_token,
                    _ => true,
                }
        })?;
        let (rule, remaining) = &mut self.rules[position];
        if let Trigger::Rate { probability } = rule.trigger {
            if !self.rng.random_bool(probability.clamp(0.0, 1.0)) {
                return None;
            }
        } else {
            *remaining -= 1;
        }
        let kind = rule.kind.clone();
        self.rules.retain(|(_, remaining)| *remaining > 0);
        self.fired += 1;
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(endpoint: &str, delta_token: bool) -> RequestShape<'_> {
        RequestShape {
            endpoint,
            tenant: Uuid::nil(),
            delta_token,
            skip_token: false,
        }
    }

    #[test]
    fn a_one_shot_rule_fires_once_and_only_where_it_applies() {
        let mut book = FaultBook::new(1);
        book.add(FaultRule::once(
            FaultKind::SyncStateNotFound,
            "/users/delta",
        ));
        assert_eq!(book.take(shape("GET /v1.0/users/delta", false)), None);
        assert_eq!(book.take(shape("GET /v1.0/groups/delta", true)), None);
        assert_eq!(
            book.take(shape("GET /v1.0/users/delta", true)),
            Some(FaultKind::SyncStateNotFound)
        );
        assert_eq!(book.take(shape("GET /v1.0/users/delta", true)), None);
    }

    #[test]
    fn rules_parse_from_the_control_api_json() {
        let rule: FaultRule = serde_json::from_value(serde_json::json!({
            "kind": "too_many_requests", "retry_after_secs": 3, "endpoint": "/users",
            "trigger": "times", "count": 2
        }))
        .expect("rule");
        assert_eq!(rule.trigger, Trigger::Times { count: 2 });
        let mut book = FaultBook::new(1);
        book.add(rule);
        assert!(book.take(shape("GET /v1.0/users", false)).is_some());
        assert!(book.take(shape("GET /v1.0/users", false)).is_some());
        assert!(book.take(shape("GET /v1.0/users", false)).is_none());
    }
}
