//! # sluice-kafka
//!
//! Kafka behind the broker boundary. Each gateway reads **every partition** of every
//! exposed topic by manual assignment (no consumer group, no rebalances), first from
//! the bootstrap start point to the high watermark (rebuilding snapshots), then live;
//! or, with `consumption = "interest"`, only the partitions its cores watch, each
//! read the same way when first watched (`interest.rs`).
//! Publishes go through an idempotent producer with `acks=all`. Resumes older than
//! the gateway's cache are read back from the log by short-lived fetch consumers.
//! `seq` is the record offset; the epoch is derived from the topic's UUID and the
//! partition, so a recreated topic yields new epochs.
//!
//! The simulator builds this crate unchanged with `--cfg madsim`, against a
//! simulated client with rdkafka's API (`sim/kafka`), where `spawn_blocking`
//! (deprecated there: nothing may block a simulation) runs the call inline.
#![cfg_attr(madsim, allow(deprecated))]

mod client_config;
mod config;
mod consumption_stats;
mod exposure_log;
mod fetcher;
mod incarnation_check;
mod interest;
mod lag;
mod producer;
mod record;
mod session;
mod shard_events;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(not(madsim))]
mod topic_id;
#[cfg(madsim)]
#[path = "topic_id_simulated.rs"]
mod topic_id;
mod topology;

use std::sync::Arc;

use rdkafka::consumer::StreamConsumer;
use sluice_core::{BrokerCommand, BrokerEvent};
use tokio::sync::{mpsc, watch};

pub use config::{Consumption, KafkaConfig};
pub use consumption_stats::{Consumed, ConsumptionStats};
pub use exposure_log::{ExposureLog, ExposureLogRecord};
pub use interest::InterestStats;
pub use lag::ConsumerLag;
pub use session::Bootstrap;

/// The gateway's end of a Kafka session.
pub struct KafkaLink {
    pub commands: mpsc::Sender<BrokerCommand>,
    pub events: mpsc::Receiver<BrokerEvent>,
    /// Bootstrap progress; `Bootstrap::Ready` once the snapshots are rebuilt.
    pub bootstrap: watch::Receiver<Bootstrap>,
    /// `Err(why)` while the cluster does not answer metadata requests (checked every
    /// `metadata_refresh_ms`).
    pub reachable: watch::Receiver<Result<(), String>>,
    /// Records not yet read, per partition.
    pub lag: ConsumerLag,
    /// Records and bytes read; in interest mode, the partitions assigned.
    pub consumed: ConsumptionStats,
    /// Changes what the session reads (the Portal); takes effect at once.
    pub exposure: ExposureHandle,
    /// The ends of the gateway's other shards, if it has more than one: the same
    /// records, from the one consumer.
    pub shards: Vec<ShardLink>,
}

/// Another shard's end of the session: the same records as the first shard's,
/// from the same consumer, and answers to its own commands. Call
/// [`ShardLink::start`] on the shard's runtime.
pub struct ShardLink {
    events: mpsc::Receiver<BrokerEvent>,
    commands: CommandRunner,
}

impl ShardLink {
    /// Starts executing the shard's commands on the current runtime, and returns
    /// its command sender and event receiver.
    pub fn start(self) -> (mpsc::Sender<BrokerCommand>, mpsc::Receiver<BrokerEvent>) {
        (self.commands.start(), self.events)
    }
}

/// What a shard's command task shares with the others, and its events sender.
pub(crate) struct CommandRunner {
    config: KafkaConfig,
    topology: Arc<topology::Topology>,
    producers: Arc<producer::Producers>,
    check: Arc<incarnation_check::IncarnationCheck>,
    events: mpsc::Sender<BrokerEvent>,
    /// Which shard this is, for the session's answers to its watches.
    shard: usize,
    watches: mpsc::Sender<interest::WatchRequest>,
}

impl CommandRunner {
    fn start(self) -> mpsc::Sender<BrokerCommand> {
        let (command_tx, command_rx) = mpsc::channel(self.config.events_queue_max.max(1));
        tokio::spawn(session::run_commands(self, command_rx));
        command_tx
    }
}

/// The session's exposure rule, shared with the Portal. Cheap to clone.
#[derive(Clone)]
pub struct ExposureHandle {
    shared: Arc<(std::sync::Mutex<topology::Exposure>, tokio::sync::Notify)>,
}

impl ExposureHandle {
    fn new(exposure: topology::Exposure) -> Self {
        ExposureHandle {
            shared: Arc::new((std::sync::Mutex::new(exposure), tokio::sync::Notify::new())),
        }
    }

    /// Reads a newly exposed topic (its partitions are announced to the core and read
    /// from the bootstrap start point) or stops reading one, at the next metadata
    /// refresh, which this triggers at once.
    pub fn apply(&self, change: &sluice_core::ExposureChange) {
        self.lock().apply(change);
        self.shared.1.notify_one();
    }

    pub(crate) fn exposes(&self, topic: &str) -> bool {
        self.lock().exposes(topic)
    }

    pub(crate) fn listed(&self) -> Vec<String> {
        self.lock().listed().cloned().collect()
    }

    pub(crate) async fn changed(&self) {
        self.shared.1.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, topology::Exposure> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("kafka.exposed_topic_pattern is not a valid regex: {0}")]
    Pattern(#[from] regex::Error),
    #[error("cannot create the Kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
}

/// Starts a session on the current tokio runtime. `exposed_topics` are the
/// gateway's listed topics; `config.exposed_topic_pattern` adds more.
pub fn connect(
    config: KafkaConfig,
    exposed_topics: Vec<String>,
) -> Result<KafkaLink, KafkaSetupError> {
    connect_with(config, exposed_topics, &[])
}

/// [`connect`], with the Portal's stored changes applied before the first metadata
/// refresh, so their topics are part of the snapshot bootstrap.
pub fn connect_with(
    config: KafkaConfig,
    exposed_topics: Vec<String>,
    changes: &[sluice_core::ExposureChange],
) -> Result<KafkaLink, KafkaSetupError> {
    connect_sharded(config, exposed_topics, changes, 1)
}

/// [`connect_with`] for a gateway of `shards` shards: one consumer and one
/// producer for the process, the records sent to every shard (the first shard's
/// end is the link itself, the others' are [`KafkaLink::shards`]).
pub fn connect_sharded(
    config: KafkaConfig,
    exposed_topics: Vec<String>,
    changes: &[sluice_core::ExposureChange],
    shards: usize,
) -> Result<KafkaLink, KafkaSetupError> {
    let mut exposure =
        topology::Exposure::new(exposed_topics, config.exposed_topic_pattern.as_deref())?;
    for change in changes {
        exposure.apply(change);
    }
    let exposure = ExposureHandle::new(exposure);
    let consumer: StreamConsumer = client_config::consumer(&config).create()?;
    let producers = Arc::new(producer::Producers::new(config.clone())?);
    let (bootstrap_tx, bootstrap_rx) = watch::channel(Bootstrap::Connecting("starting".into()));
    let (reachable_tx, reachable_rx) = watch::channel(Err("not connected yet".to_string()));
    let lag = ConsumerLag::default();
    let topology = Arc::new(topology::Topology::default());
    let consumer = Arc::new(consumer);
    let check = incarnation_check::IncarnationCheck::new(
        consumer.clone(),
        topology.clone(),
        std::time::Duration::from_millis(config.request_timeout_ms),
    );
    let mut senders = Vec::new();
    let mut ends = Vec::new();
    let (watch_tx, watch_rx) = mpsc::channel(config.events_queue_max.max(1));
    for shard in 0..shards.max(1) {
        let (event_tx, event_rx) = mpsc::channel(config.events_queue_max.max(1));
        senders.push(event_tx.clone());
        ends.push(ShardLink {
            events: event_rx,
            commands: CommandRunner {
                config: config.clone(),
                topology: topology.clone(),
                producers: producers.clone(),
                check: check.clone(),
                events: event_tx,
                shard,
                watches: watch_tx.clone(),
            },
        });
    }
    let mut ends = ends.into_iter();
    let (commands, events) = ends.next().expect("at least one shard").start();
    let consumed = ConsumptionStats::default();
    let session = session::Session {
        interest: config.consumption == Consumption::Interest,
        watch_requests: Some(watch_rx),
        assignments: Default::default(),
        consumed: consumed.clone(),
        config,
        exposure: exposure.clone(),
        topology,
        consumer,
        events: shard_events::ShardEvents::new(senders),
        bootstrap: bootstrap_tx,
        reachable: reachable_tx,
        lag: lag.clone(),
        id_failures: Default::default(),
        refresh_soon: Default::default(),
    };
    tokio::spawn(session.run());
    Ok(KafkaLink {
        commands,
        events,
        bootstrap: bootstrap_rx,
        reachable: reachable_rx,
        lag,
        consumed,
        exposure,
        shards: ends.collect(),
    })
}
