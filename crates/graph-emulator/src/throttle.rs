//! The identity service's resource-unit throttling model (concepts/throttling-limits.md,
//! "Identity and access service limits"): each request costs resource units; each app+tenant
//! pair has a read quota per 10 s sized by the tenant (S < 50 users: 3 500, M ≤ 500: 5 000,
//! L: 8 000) and a write quota of 3 000 per 2 min 30 s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Read quota window.
const READ_WINDOW_SECS: f64 = 10.0;
/// Write quota and window.
const WRITE_QUOTA: f64 = 3_000.0;
const WRITE_WINDOW_SECS: f64 = 150.0;

/// What a request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Resource units (`x-ms-resource-unit`).
    pub resource_units: u32,
    /// Write units (1 for POST/PATCH/PUT/DELETE, else 0).
    pub write_units: u32,
}

/// The request features the cost depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct CostInputs<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Route template below `/v1.0`, e.g. `/groups/{id}/members`.
    pub route: &'a str,
    /// `$select` present.
    pub select: bool,
    /// `$expand` present.
    pub expand: bool,
    /// `$top` value, when present.
    pub top: Option<u32>,
}

/// The documented cost of a request: a base cost per path, −1 with `$select`, +1 with
/// `$expand`, −1 with `$top` under 20, never below 1.
pub fn cost(inputs: CostInputs<'_>) -> Cost {
    let get = inputs.method.eq_ignore_ascii_case("GET");
    let base: i32 = match (get, inputs.route) {
        (true, "/users") => 2,
        (true, "/groups/{id}/members") => 3,
        (true, "/groups/{id}/transitiveMembers") => 5,
        (true, "/subscribedSkus") => 3,
        _ => 1,
    };
    let units = base - i32::from(inputs.select) + i32::from(inputs.expand)
        - i32::from(inputs.top.is_some_and(|t| t < 20));
    Cost {
        resource_units: units.max(1) as u32,
        write_units: u32::from(!get),
    }
}

/// The read quota per 10 s for a tenant of this many users.
pub fn read_quota(tenant_users: usize) -> f64 {
    match tenant_users {
        0..50 => 3_500.0,
        50..=500 => 5_000.0,
        _ => 8_000.0,
    }
}

/// A leaky bucket: `used` drains at `capacity / window` per second.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    window_secs: f64,
    used: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn new(capacity: f64, window_secs: f64, now: DateTime<Utc>) -> Self {
        Self {
            capacity,
            window_secs,
            used: 0.0,
            at: now,
        }
    }

    fn drain(&mut self, now: DateTime<Utc>) {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64 / 1_000.0;
        self.used = (self.used - elapsed * self.capacity / self.window_secs).max(0.0);
        self.at = now;
    }

    /// Seconds until `units` more fit, 0 when they fit now.
    fn wait_for(&self, units: f64) -> f64 {
        let excess = self.used + units - self.capacity;
        if excess <= 0.0 {
            0.0
        } else {
            excess * self.window_secs / self.capacity
        }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Served; `limit_percentage` is set once more than 80 % of the quota is used.
    Admitted {
        /// Fraction of the read quota in use after this request, when above 0.8.
        limit_percentage: Option<f64>,
    },
    /// Refused with 429.
    Throttled {
        /// Whole seconds until the request would fit.
        retry_after_secs: u64,
        /// `x-ms-throttle-scope`.
        scope: String,
        /// `x-ms-throttle-information`.
        information: &'static str,
    },
}

/// Buckets per app+tenant pair.
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(Uuid, Uuid), (Bucket, Bucket)>,
}

impl Throttle {
    /// Charges a request to the app+tenant pair (`tenant_users` sizes a new pair's quota), or
    /// refuses it. Refused requests are not
    /// charged, so waiting `Retry-After` is enough for the retry to pass.
    pub fn admit(
        &mut self,
        tenant: Uuid,
        app: Uuid,
        tenant_users: impl FnOnce() -> usize,
        cost: Cost,
        now: DateTime<Utc>,
    ) -> Admission {
        // The tenant is sized once, when its app's bucket is made.
        let (read, write) = self.buckets.entry((tenant, app)).or_insert_with(|| {
            (
                Bucket::new(read_quota(tenant_users()), READ_WINDOW_SECS, now),
                Bucket::new(WRITE_QUOTA, WRITE_WINDOW_SECS, now),
            )
        });
        read.drain(now);
        write.drain(now);
        let read_wait = read.wait_for(f64::from(cost.resource_units));
        let write_wait = if cost.write_units > 0 {
            write.wait_for(f64::from(cost.write_units))
        } else {
            0.0
        };
        if read_wait > 0.0 || write_wait > 0.0 {
            let (limit, information) = if write_wait > read_wait {
                ("Write", "WriteLimitExceeded")
            } else {
                ("ReadWrite", "ResourceUnitLimitExceeded")
            };
            return Admission::Throttled {
                retry_after_secs: read_wait.max(write_wait).ceil().max(1.0) as u64,
                scope: format!("Tenant_Application/{limit}/{app}/{tenant}"),
                information,
            };
        }
        read.used += f64::from(cost.resource_units);
        write.used += f64::from(cost.write_units);
        let share = read.used / read.capacity;
        Admission::Admitted {
            limit_percentage: (share > 0.8).then_some(share),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn inputs(route: &str) -> CostInputs<'_> {
        CostInputs {
            method: "GET",
            route,
            ..CostInputs::default()
        }
    }

    #[test]
    fn costs_follow_the_documented_table_and_modifiers() {
        assert_eq!(cost(inputs("/users")).resource_units, 2);
        assert_eq!(
            cost(CostInputs {
                select: true,
                top: Some(999),
                ..inputs("/users")
            })
            .resource_units,
            1
        );
        assert_eq!(
            cost(CostInputs {
                expand: true,
                ..inputs("/groups/{id}/transitiveMembers")
            })
            .resource_units,
            6
        );
        assert_eq!(
            cost(CostInputs {
                select: true,
                top: Some(5),
                ..inputs("/users/delta")
            })
            .resource_units,
            1
        );
        let write = cost(CostInputs {
            method: "POST",
            ..inputs("/users/{id}/assignLicense")
        });
        assert_eq!((write.resource_units, write.write_units), (1, 1));
    }

    #[test]
    fn a_burst_beyond_the_quota_is_refused_until_the_bucket_drains() {
        let mut throttle = Throttle::default();
        let (tenant, app) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let now = DateTime::<Utc>::default();
        let five = Cost {
            resource_units: 5,
            write_units: 0,
        };
        for _ in 0..700 {
            assert!(matches!(
                throttle.admit(tenant, app, || 10, five, now),
                Admission::Admitted { .. }
            ));
        }
        let Admission::Throttled {
            retry_after_secs,
            scope,
            ..
        } = throttle.admit(tenant, app, || 10, five, now)
        else {
            panic!("expected a 429");
        };
        assert_eq!(retry_after_secs, 1);
        assert!(scope.starts_with("Tenant_Application/ReadWrite/"));
        let later = now + Duration::seconds(retry_after_secs as i64);
        assert!(matches!(
            throttle.admit(tenant, app, || 10, five, later),
            Admission::Admitted { .. }
        ));
    }
}
