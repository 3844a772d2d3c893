use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the QUIC listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicStats {
    /// Connections up now (bounded by `connections_max`).
    pub connections_open: u64,
    /// Connections accepted since start (counted when the handshake starts, so a
    /// client that then refuses the certificate counts too). A migrating client
    /// does not add to it.
    pub connections_accepted_total: u64,
    /// Handshakes refused because `connections_max` connections were open.
    pub connections_refused_total: u64,
    /// Times a connection's client address changed (QUIC connection migration).
    pub migrations_total: u64,
    /// Sessions whose first non-idempotent frame (a publish) arrived before the
    /// handshake completed, i.e. as 0-RTT data, and was held, with every frame
    /// after it, until the handshake completed, so a replay cannot repeat it.
    pub early_frames_held_total: u64,
}

/// Reads a listener's counters; cheap to clone, and alive as long as any clone is,
/// so a metrics endpoint can hold one without owning the listener.
#[derive(Debug, Clone)]
pub struct QuicStatsReader(pub(crate) std::sync::Arc<Counters>);

impl QuicStatsReader {
    pub fn read(&self) -> QuicStats {
        self.0.snapshot()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections_open: AtomicU64,
    pub connections_accepted_total: AtomicU64,
    pub connections_refused_total: AtomicU64,
    pub migrations_total: AtomicU64,
    pub early_frames_held_total: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> QuicStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        QuicStats {
            connections_open: get(&self.connections_open),
            connections_accepted_total: get(&self.connections_accepted_total),
            connections_refused_total: get(&self.connections_refused_total),
            migrations_total: get(&self.migrations_total),
            early_frames_held_total: get(&self.early_frames_held_total),
        }
    }
}
