//! What the consumer read, for `/metrics`: records and bytes handed to the cores,
//! and in interest mode the partitions assigned. Shared by the session (writer)
//! and the admin listener (reader). Cheap to clone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::interest::InterestStats;

#[derive(Debug, Clone, Default)]
pub struct ConsumptionStats {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records_total: AtomicU64,
    bytes_total: AtomicU64,
    interest: Mutex<InterestStats>,
}

/// A reading of [`ConsumptionStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consumed {
    /// Records the consumer handed to the cores.
    pub records_total: u64,
    /// Their keys, values and headers, in bytes: what the gateway fetched from
    /// Kafka, without the protocol's framing.
    pub bytes_total: u64,
    /// Interest mode: partitions assigned now, assignments and releases so far.
    pub interest: InterestStats,
}

impl ConsumptionStats {
    pub fn read(&self) -> Consumed {
        Consumed {
            records_total: self.inner.records_total.load(Ordering::Relaxed),
            bytes_total: self.inner.bytes_total.load(Ordering::Relaxed),
            interest: *self
                .inner
                .interest
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        }
    }

    pub(crate) fn add(&self, records: u64, bytes: u64) {
        self.inner
            .records_total
            .fetch_add(records, Ordering::Relaxed);
        self.inner.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn set_interest(&self, stats: InterestStats) {
        *self
            .inner
            .interest
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = stats;
    }
}
