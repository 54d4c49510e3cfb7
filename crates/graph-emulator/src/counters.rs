//! Request counters by endpoint and status, for assertions in tests and figures in benchmarks.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the emulator has answered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Endpoint (`GET /v1.0/users/delta`, `POST /{tenant}/oauth2/v2.0/token`, …) → status →
    /// number of responses. `$batch` parts count under their own endpoint as well.
    pub by_endpoint: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Responses in total.
    pub total: u64,
    /// Requests that carried `x-ms-throttle-priority: low`.
    pub low_priority: u64,
    /// Responses that were 429.
    pub throttled: u64,
}

impl Counters {
    /// Records one response.
    pub fn record(&mut self, endpoint: &str, status: u16, low_priority: bool) {
        *self
            .by_endpoint
            .entry(endpoint.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
        self.total += 1;
        self.low_priority += u64::from(low_priority);
        self.throttled += u64::from(status == 429);
    }

    /// Responses for an endpoint, any status.
    pub fn count(&self, endpoint: &str) -> u64 {
        self.by_endpoint
            .get(endpoint)
            .map_or(0, |by_status| by_status.values().sum())
    }

    /// Responses for an endpoint with one status.
    pub fn count_status(&self, endpoint: &str, status: u16) -> u64 {
        self.by_endpoint
            .get(endpoint)
            .and_then(|s| s.get(&status))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_endpoint_and_status() {
        let mut counters = Counters::default();
        counters.record("GET /v1.0/users", 200, true);
        counters.record("GET /v1.0/users", 429, false);
        assert_eq!(counters.count("GET /v1.0/users"), 2);
        assert_eq!(counters.count_status("GET /v1.0/users", 429), 1);
        assert_eq!(
            (counters.total, counters.low_priority, counters.throttled),
            (2, 1, 1)
        );
    }
}
