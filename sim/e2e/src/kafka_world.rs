//! Tier 2 on Kafka (`--broker kafka`): the simulated Kafka cluster (`sim/kafka`)
//! in place of the log server, the real Kafka adapter (`brokers/kafka`) in every
//! gateway, and the checker's answer key filled from every append — kept whole,
//! while the cluster's retention may delete records nobody has read.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_core::Header;
use sluice_driver::BrokerLink;
use sluice_kafka::{Consumption, KafkaConfig};
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig};
use sluice_sim_kafka::cluster::{Faults, SimCluster, SimClusterConfig};
use sluice_sim_kafka::message::Headers;

use crate::ledger::Ledger;
use crate::plan::{E2ePlan, TOPIC};

/// Where the gateways find the cluster (`bootstrap.servers`).
const SERVERS: &str = "kafka:9092";

/// How hard the fault periods hit while on.
const FETCH_LOSS_PER_MILLE: u32 = 300;
const ACK_LOSS_PER_MILLE: u32 = 500;

/// The `client.id` of gateway `index`'s Kafka clients: how the cluster knows whom
/// a network fault cuts off.
pub fn client_id(index: usize) -> String {
    format!("gateway-{index}")
}

/// Starts the cluster with the plan's topic. Every record appended is copied to
/// the incarnation of `ledger` its topic id names: the checker's answer key, with
/// the epochs the adapter derives from the id.
pub fn start(plan: &E2ePlan, ledger: &Ledger) -> SimCluster {
    let cluster = SimCluster::start(
        SERVERS,
        SimClusterConfig {
            seed: plan.seed,
            retention_records_max: plan.kafka.retention_records_max.unwrap_or(usize::MAX),
            fence_producers_on_restart: plan.kafka.fence_producers_on_restart,
            ..SimClusterConfig::default()
        },
    );
    let copies = ledger.clone();
    cluster.on_append(Box::new(move |topic, id, partition, record| {
        let log = copies
            .incarnation(&incarnation(id))
            .expect("every topic id the cluster gives is in the ledger");
        let headers = record
            .headers
            .iter()
            .map(|h| Header {
                name: h.key.to_owned(),
                value: Bytes::copy_from_slice(h.value.unwrap_or_default()),
            })
            .collect();
        let key = record.key.clone().map(Bytes::from);
        let payload = record.payload.clone().map(Bytes::from);
        tracing::trace!(
            id = incarnation(id),
            partition,
            offset = record.offset,
            ?payload,
            "appended"
        );
        let copied = log.produce(topic, partition, key, payload, headers);
        assert!(
            copied.as_ref().ok() == Some(&(record.offset as u64)),
            "the answer key and the simulated cluster diverged: {copied:?}, cluster offset {}",
            record.offset
        );
    }));
    create_topic(&cluster, plan, ledger);
    cluster
}

/// Creates the plan's topic (again, after a deletion: with a new id, hence new
/// epochs) and its incarnation in the ledger.
pub fn create_topic(cluster: &SimCluster, plan: &E2ePlan, ledger: &Ledger) {
    let Some(id) = cluster.create_topic(TOPIC, plan.partitions) else {
        return; // it exists
    };
    let log = MemoryBroker::new(MemoryBrokerConfig {
        topics: Vec::new(),
        retention_records_max: usize::MAX,
        retention_bytes_max: usize::MAX,
        ..MemoryBrokerConfig::default()
    })
    .expect("an in-memory log starts");
    log.restore_topic(TOPIC, plan.partitions, &incarnation(id))
        .expect("a new log has no topics");
    tracing::debug!(id = incarnation(id), "topic created");
    ledger.set(&incarnation(id), log);
}

/// The adapter's epoch of partition p is "{id:016x}-{p}"; the ledger's is
/// "{incarnation}-{p}".
fn incarnation(topic_id: u64) -> String {
    format!("{topic_id:016x}")
}

/// A gateway's broker link: the Kafka adapter, as `sluice serve` starts it.
pub fn connect(plan: &E2ePlan, index: usize) -> Option<BrokerLink> {
    let config = KafkaConfig {
        bootstrap_servers: SERVERS.to_owned(),
        metadata_refresh_ms: plan.kafka.metadata_refresh_ms,
        request_timeout_ms: plan.kafka.request_timeout_ms,
        produce_timeout_ms: plan.kafka.produce_timeout_ms,
        properties: BTreeMap::from([("client.id".to_owned(), client_id(index))]),
        consumption: match plan.kafka.interest_grace_ms {
            Some(_) => Consumption::Interest,
            None => Consumption::All,
        },
        interest_grace_ms: plan.kafka.interest_grace_ms.unwrap_or(0),
        ..KafkaConfig::default()
    };
    match sluice_kafka::connect(config, vec![TOPIC.to_owned()]) {
        Ok(link) => Some(BrokerLink {
            commands: link.commands,
            events: link.events,
        }),
        Err(error) => {
            tracing::warn!(%error, "gateway: cannot start the Kafka adapter");
            None
        }
    }
}

/// The fault periods in force (they may overlap), and what they add up to.
#[derive(Debug, Default)]
pub struct FaultPeriods {
    pub slow: u32,
    pub lost: u32,
    pub acks: u32,
}

/// One kind of fault period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    SlowFetches,
    LostFetches,
    LostAcks,
}

impl FaultPeriods {
    /// Starts (`+1`) or ends (`-1`) a period and tells the cluster.
    pub fn change(&mut self, cluster: &SimCluster, plan: &E2ePlan, period: Period, on: bool) {
        let count = match period {
            Period::SlowFetches => &mut self.slow,
            Period::LostFetches => &mut self.lost,
            Period::LostAcks => &mut self.acks,
        };
        *count = if on {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
        let slow_ms = plan.kafka.slow_fetches.map_or(0, |r| r.size_max);
        cluster.set_faults(Faults {
            fetch_delay_ms_max: if self.slow > 0 { slow_ms } else { 0 },
            fetch_loss_per_mille: if self.lost > 0 {
                FETCH_LOSS_PER_MILLE
            } else {
                0
            },
            produce_ack_loss_per_mille: if self.acks > 0 { ACK_LOSS_PER_MILLE } else { 0 },
        });
    }
}

/// The first retained offset of each partition: records before it are gone, so
/// no subscriber can be owed them. (While the topic is deleted, nothing is
/// retained: every partition starts at infinity.)
pub fn log_starts(cluster: &SimCluster, partitions: u32) -> Vec<u64> {
    (0..partitions)
        .map(|p| cluster.log_start(TOPIC, p).unwrap_or(u64::MAX))
        .collect()
}
