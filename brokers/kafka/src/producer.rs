//! Client publishes to Kafka through one idempotent producer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use sluice_core::{BrokerError, ProduceRequest};

use crate::{client_config, KafkaConfig};

/// The idempotent producer, replaced when its session with the cluster is beyond
/// repair: after a broker restart that lost the producer's id and sequence state,
/// some brokers answer every later write with an error, and only a new producer (a
/// new producer id) gets through. Publishes in flight at that moment are reported
/// as failed; none is acknowledged without being written.
pub struct Producers {
    config: KafkaConfig,
    current: Mutex<(u64, FutureProducer, Instant)>,
}

/// How often at most the producer is replaced, so a real outage does not churn it.
const RESET_INTERVAL: Duration = Duration::from_secs(2);

impl Producers {
    pub fn new(config: KafkaConfig) -> Result<Self, KafkaError> {
        let producer = client_config::producer(&config).create()?;
        Ok(Producers {
            config,
            current: Mutex::new((0, producer, Instant::now())),
        })
    }

    /// The producer to use, and its generation.
    pub fn get(&self) -> (u64, FutureProducer) {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (current.0, current.1.clone())
    }

    /// Replaces the producer of generation `generation` after a write failed in a
    /// way retrying the same producer cannot fix.
    pub fn replace(&self, generation: u64, why: &KafkaError) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.0 != generation || current.2.elapsed() < RESET_INTERVAL {
            return;
        }
        match client_config::producer(&self.config).create::<FutureProducer>() {
            Ok(producer) => {
                tracing::warn!(%why, "replacing the Kafka producer");
                *current = (generation + 1, producer, Instant::now());
            }
            Err(err) => tracing::error!(%err, "cannot create a new Kafka producer"),
        }
    }
}

/// Whether a failed write points at a broken producer session rather than a
/// broker that is merely down.
pub fn needs_new_producer(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Unknown
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::DuplicateSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::Fatal
        )
    )
}

/// Writes one record to its topic and partition; answers the offset Kafka gave it.
pub async fn produce(
    producers: &Producers,
    request: &ProduceRequest,
    queue_timeout: Duration,
) -> Result<u64, BrokerError> {
    let mut kafka_headers = OwnedHeaders::new_with_capacity(request.headers.len());
    for h in &request.headers {
        kafka_headers = kafka_headers.insert(KafkaHeader {
            key: &h.name,
            value: Some(&h.value[..]),
        });
    }
    let mut record = FutureRecord::<[u8], [u8]>::to(&request.topic)
        .partition(request.partition as i32)
        .payload(&request.payload[..])
        .headers(kafka_headers);
    if let Some(key) = &request.key {
        record = record.key(&key[..]);
    }
    let (generation, producer) = producers.get();
    match producer.send(record, queue_timeout).await {
        Ok(delivery) => Ok(delivery.offset.max(0) as u64),
        Err((err, _)) => {
            if needs_new_producer(&err) {
                producers.replace(generation, &err);
            }
            Err(broker_error(err))
        }
    }
}

/// Maps Kafka's failures to the broker boundary's, which the core turns into the
/// documented client error codes (`too_large`, `unavailable`).
pub fn broker_error(err: KafkaError) -> BrokerError {
    let code = err.rdkafka_error_code();
    match code {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            BrokerError::TooLarge
        }
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition,
        ) => BrokerError::UnknownTopic,
        Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset) => {
            BrokerError::OffsetOutOfRange
        }
        _ => BrokerError::Unavailable(err.to_string()),
    }
}
