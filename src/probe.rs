//! The gateway as the admin listener sees it: the core's stats, the broker's health
//! Kafka's consumer lag and the QUIC listener's counters.

use std::sync::{Arc, OnceLock};

use sluice_core::GatewayStats;
use sluice_driver::Runtime;
use sluice_kafka::{Bootstrap, ConsumerLag, ConsumptionStats};
use sluice_memory_broker::MemoryBroker;
use sluice_observability::{
    EmbeddedLogStats, GatewayProbe, Health, KafkaConsumption, PartitionLag, QuicCounters,
};
use sluice_quic::QuicStatsReader;
use tokio::sync::watch;

/// Where a broker's health comes from.
pub enum BrokerProbe {
    /// The embedded broker: always bootstrapped; reachable unless an outage is
    /// being simulated.
    Memory(MemoryBroker),
    Kafka {
        bootstrap: watch::Receiver<Bootstrap>,
        reachable: watch::Receiver<Result<(), String>>,
        lag: ConsumerLag,
        consumed: ConsumptionStats,
    },
}

pub struct ServerProbe {
    /// The first shard's runtime.
    pub runtime: Runtime,
    /// The other shards' (`[runtime] shards`); their stats are added in.
    pub extra_shards: Vec<Runtime>,
    pub broker: BrokerProbe,
    /// Set once the QUIC listener is bound, after the admin listener started.
    pub quic: Arc<OnceLock<QuicStatsReader>>,
}

impl GatewayProbe for ServerProbe {
    fn stats(&self) -> GatewayStats {
        let mut stats = self.runtime.stats();
        for shard in &self.extra_shards {
            stats.merge(&shard.stats());
        }
        stats
    }

    fn health(&self) -> Health {
        match &self.broker {
            BrokerProbe::Memory(broker) => Health {
                bootstrap: Ok(()),
                broker: if broker.is_available() {
                    Ok(())
                } else {
                    Err("the embedded broker is unavailable".into())
                },
            },
            BrokerProbe::Kafka {
                bootstrap,
                reachable,
                ..
            } => Health {
                bootstrap: match &*bootstrap.borrow() {
                    // Every shard's core applies the bootstrap's records on its own.
                    Bootstrap::Ready
                        if std::iter::once(&self.runtime)
                            .chain(&self.extra_shards)
                            .all(Runtime::broker_caught_up) =>
                    {
                        Ok(())
                    }
                    Bootstrap::Ready => Err("bootstrap: applying the records read".into()),
                    Bootstrap::Connecting(why) => {
                        Err(format!("bootstrap: waiting for Kafka: {why}"))
                    }
                    Bootstrap::Reading {
                        records_done,
                        records_total,
                    } => Err(format!(
                        "bootstrap: {records_done}/{records_total} records read"
                    )),
                },
                broker: reachable.borrow().clone(),
            },
        }
    }

    fn quic(&self) -> Option<QuicCounters> {
        let stats = self.quic.get()?.read();
        Some(QuicCounters {
            handshakes_refused_total: stats.connections_refused_total,
            migrations_total: stats.migrations_total,
            early_frames_held_total: stats.early_frames_held_total,
        })
    }

    fn embedded_log(&self) -> Option<EmbeddedLogStats> {
        let BrokerProbe::Memory(broker) = &self.broker else {
            return None;
        };
        let stats = broker.log_stats();
        Some(EmbeddedLogStats {
            records: stats.records,
            records_bytes: stats.records_bytes,
            segments: stats.segments,
            syncs_total: stats.syncs_total,
            sync_seconds_total: stats.sync_seconds_total,
        })
    }

    fn kafka_consumption(&self) -> Option<KafkaConsumption> {
        let BrokerProbe::Kafka { consumed, .. } = &self.broker else {
            return None;
        };
        let read = consumed.read();
        Some(KafkaConsumption {
            records_total: read.records_total,
            bytes_total: read.bytes_total,
            partitions_assigned: read.interest.partitions_assigned,
            assignments_total: read.interest.watches_total,
            releases_total: read.interest.releases_total,
        })
    }

    fn consumer_lag(&self) -> Vec<PartitionLag> {
        match &self.broker {
            BrokerProbe::Memory(_) => Vec::new(),
            BrokerProbe::Kafka { lag, .. } => lag
                .snapshot()
                .into_iter()
                .map(|((topic, partition), records)| PartitionLag {
                    topic,
                    partition,
                    records,
                })
                .collect(),
        }
    }
}
