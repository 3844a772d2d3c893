//! The Portal's own metrics, on the gateway's `/metrics`.

use prometheus::{IntCounterVec, Opts, Registry};

pub struct PortalMetrics {
    /// Admin API requests by result: `ok`, or the error code answered.
    pub requests: IntCounterVec,
    /// Changes made through the admin API, by action.
    pub changes: IntCounterVec,
}

impl PortalMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "sluice_admin_requests_total",
                "Admin API requests by result: ok, or the error code answered \
                 (unauthorized, forbidden_origin, forbidden_host, bad_request, invalid_topic, invalid_pattern, unknown_topic, \
                 not_exposed, exposed_by_pattern, body_too_large, not_found, \
                 method_not_allowed, no_signing_key, unavailable).",
            ),
            &["result"],
        )?;
        let changes = IntCounterVec::new(
            Opts::new(
                "sluice_admin_changes_total",
                "Changes made through the admin API: expose_topic, unexpose_topic, \
                 expose_pattern, unexpose_pattern, issue_token.",
            ),
            &["action"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(changes.clone()))?;
        // The series exist, at zero, from the start.
        for result in ["ok", "unauthorized"] {
            requests.with_label_values(&[result]);
        }
        for action in [
            "expose_topic",
            "unexpose_topic",
            "expose_pattern",
            "unexpose_pattern",
            "issue_token",
        ] {
            changes.with_label_values(&[action]);
        }
        Ok(PortalMetrics { requests, changes })
    }
}
