//! W5's broker and producer: librdkafka's mock cluster, a real Kafka-protocol broker
//! run in the harness's process (on the generator's CPU, not the gateway's), and a
//! back-end producer writing timestamped records across the keys of a topic at a
//! fixed rate, with librdkafka's default settings but `linger.ms`.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use rdkafka::ClientConfig;
use tokio::sync::watch;

use crate::load::payload;

/// The topic W5 writes and the gateway exposes; keys are `s0`, `s1`, ... so that
/// subject `/bench/s{i}` is key `s{i}`, as in the other scenarios.
pub const TOPIC: &str = "bench";

/// The Portal's topic (`portal.kafka_topic`'s default).
const PORTAL_TOPIC: &str = "_sluice_portal";

/// A mock cluster with a topic and the Portal's topic created; dropping it takes
/// the cluster down.
pub struct MockCluster {
    /// Owns the cluster: librdkafka runs it inside this client.
    _owner: BaseProducer,
    pub bootstrap: String,
}

impl MockCluster {
    /// `topic` with `partitions` partitions, and the Portal's topic.
    pub fn start(topic: &str, partitions: i32) -> anyhow::Result<MockCluster> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .create()
            .context("starting librdkafka's mock cluster")?;
        let bootstrap = {
            let cluster = owner
                .client()
                .mock_cluster()
                .context("librdkafka made no mock cluster")?;
            cluster.create_topic(topic, partitions, 1)?;
            // The Portal's topic, as an operator's cluster has it: the mock cluster
            // times out the gateway's CreateTopics, and a gateway retrying it is
            // not the gateway being measured.
            cluster.create_topic(PORTAL_TOPIC, 1, 1)?;
            cluster.bootstrap_servers()
        };
        Ok(MockCluster {
            _owner: owner,
            bootstrap,
        })
    }
}

/// Writes `rate_per_s` records a second of `payload_bytes` (the send time first, as
/// every scenario's payloads) round robin over keys `s0..s{keys}`, until `stop`.
/// Returns the records handed to librdkafka. Runs on a thread of its own: the
/// producer's `send` never waits, and a full queue is retried a moment later.
pub fn produce(
    bootstrap: &str,
    keys: usize,
    rate_per_s: f64,
    payload_bytes: usize,
    origin: Instant,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<u64>>> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // librdkafka's default is 5 ms; a back-end publishing live values would not
        // hold each one back that long.
        .set("linger.ms", "1")
        .create()
        .context("creating the W5 producer")?;
    let keys: Vec<String> = (0..keys.max(1)).map(|i| format!("s{i}")).collect();
    Ok(std::thread::Builder::new()
        .name("w5-producer".into())
        .spawn(move || {
            let tick = Duration::from_millis(2);
            let started = Instant::now();
            let mut sent: u64 = 0;
            while !*stop.borrow() {
                let due = (started.elapsed().as_secs_f64() * rate_per_s) as u64;
                while sent < due && !*stop.borrow() {
                    let key = &keys[sent as usize % keys.len()];
                    let value = payload(origin, payload_bytes);
                    match producer.send(BaseRecord::<str, [u8]>::to(TOPIC).key(key).payload(&value))
                    {
                        Ok(()) => sent += 1,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err((err, _)) => {
                            return Err(anyhow::anyhow!("producing to the mock cluster: {err}"))
                        }
                    }
                }
                std::thread::sleep(tick);
            }
            producer
                .flush(Duration::from_secs(10))
                .context("flushing the W5 producer")?;
            Ok(sent)
        })?)
}
