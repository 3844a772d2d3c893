//! What the observability side reads from a running gateway, at scrape or probe
//! time. The `sluice` binary implements it over its runtime and broker.

use sluice_core::GatewayStats;

/// Whether the gateway can serve clients, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `Err(why)` until the broker's snapshot bootstrap has caught up.
    pub bootstrap: Result<(), String>,
    /// `Err(why)` while the broker does not answer.
    pub broker: Result<(), String>,
}

impl Health {
    pub fn is_ready(&self) -> bool {
        self.bootstrap.is_ok() && self.broker.is_ok()
    }

    /// Why the gateway is not ready: one line per cause, empty when ready.
    pub fn reasons(&self) -> Vec<String> {
        [&self.bootstrap, &self.broker]
            .into_iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect()
    }
}

/// Records a gateway has not read yet on one partition of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: u32,
    pub records: u64,
}

/// What only the QUIC listener counts (its connections are in the transport
/// metrics with every other transport's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicCounters {
    pub handshakes_refused_total: u64,
    pub migrations_total: u64,
    pub early_frames_held_total: u64,
}

/// A running gateway, as metrics and health checks see it.
pub trait GatewayProbe: Send + Sync + 'static {
    fn stats(&self) -> GatewayStats;
    fn health(&self) -> Health;
    /// Consumer lag per partition; empty for brokers without one (the embedded broker).
    fn consumer_lag(&self) -> Vec<PartitionLag>;
    /// The QUIC listener's counters; `None` while no QUIC listener runs.
    fn quic(&self) -> Option<QuicCounters> {
        None
    }
    /// The embedded broker's log; `None` on Kafka.
    fn embedded_log(&self) -> Option<EmbeddedLogStats> {
        None
    }
    /// What the Kafka consumer read; `None` on the embedded broker.
    fn kafka_consumption(&self) -> Option<KafkaConsumption> {
        None
    }
}

/// What a gateway's Kafka consumer read, and in interest mode what it is assigned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KafkaConsumption {
    pub records_total: u64,
    pub bytes_total: u64,
    pub partitions_assigned: u64,
    pub assignments_total: u64,
    pub releases_total: u64,
}

/// What the embedded broker's log holds and what keeping it on disk costs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EmbeddedLogStats {
    pub records: u64,
    pub records_bytes: u64,
    pub segments: u64,
    pub syncs_total: u64,
    pub sync_seconds_total: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_bootstrapped_and_reachable_and_every_reason_is_told() {
        let ready = Health {
            bootstrap: Ok(()),
            broker: Ok(()),
        };
        assert!(ready.is_ready());
        assert!(ready.reasons().is_empty());
        let both = Health {
            bootstrap: Err("bootstrap: 1/2 records read".into()),
            broker: Err("Kafka metadata request failed".into()),
        };
        assert!(!both.is_ready());
        assert_eq!(
            both.reasons(),
            [
                "bootstrap: 1/2 records read",
                "Kafka metadata request failed"
            ]
        );
    }
}
