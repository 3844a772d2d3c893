//! Counters of a [`crate::Client`]'s connections, for dashboards and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a client's connections have done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Connections established, the first one included. A QUIC connection that
    /// migrates to a new local address stays one connection.
    pub connections_total: u64,
    /// QUIC connections that started in 0-RTT, with the restoring subscribes sent
    /// as early data (a session ticket from an earlier connection was at hand).
    pub quic_zero_rtt_attempted_total: u64,
    /// Of those, the ones whose early data the gateway accepted.
    pub quic_zero_rtt_accepted_total: u64,
    /// Of those, the ones whose early data the gateway refused (it restarted, say);
    /// the client then restores its subscriptions again on the same connection.
    pub quic_zero_rtt_rejected_total: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_total: AtomicU64,
    pub(crate) quic_zero_rtt_attempted_total: AtomicU64,
    pub(crate) quic_zero_rtt_accepted_total: AtomicU64,
    pub(crate) quic_zero_rtt_rejected_total: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClientStats {
            connections_total: get(&self.connections_total),
            quic_zero_rtt_attempted_total: get(&self.quic_zero_rtt_attempted_total),
            quic_zero_rtt_accepted_total: get(&self.quic_zero_rtt_accepted_total),
            quic_zero_rtt_rejected_total: get(&self.quic_zero_rtt_rejected_total),
        }
    }
}
