//! Counters of what transports refuse before a connection reaches the core.

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_core::GatewayStats;

/// Why a transport refused or dropped a connection before the core saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `connections_max` were open.
    ConnectionsMax,
    /// The source address had `connections_per_ip_max` open.
    ConnectionsPerIpMax,
    /// The `Origin` is not on the allow-list.
    Origin,
    /// The token of the header or query did not verify.
    Token,
    /// The handshake did not finish in time.
    HandshakeTimeout,
}

/// Shared by every transport of a runtime; merged into [`GatewayStats`].
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    connections_max: AtomicU64,
    connections_per_ip_max: AtomicU64,
    origin: AtomicU64,
    token: AtomicU64,
    handshake_timeout: AtomicU64,
}

impl TransportCounters {
    pub fn count(&self, refusal: Refusal) {
        let counter = match refusal {
            Refusal::ConnectionsMax => &self.connections_max,
            Refusal::ConnectionsPerIpMax => &self.connections_per_ip_max,
            Refusal::Origin => &self.origin,
            Refusal::Token => &self.token,
            Refusal::HandshakeTimeout => &self.handshake_timeout,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_to(&self, stats: &mut GatewayStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.connections_refused_limit_total = get(&self.connections_max);
        stats.connections_refused_per_ip_total = get(&self.connections_per_ip_max);
        stats.handshakes_refused_origin_total = get(&self.origin);
        stats.handshakes_refused_token_total = get(&self.token);
        stats.handshake_timeouts_total = get(&self.handshake_timeout);
    }
}
