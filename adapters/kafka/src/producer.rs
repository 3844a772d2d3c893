//! Client publishes to Kafka through one idempotent producer.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use sluice_core::{BrokerError, Header};

/// Writes one record to `topic`/`partition`; answers the offset Kafka gave it.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: u32,
    key: Option<&[u8]>,
    payload: &[u8],
    headers: &[Header],
    queue_timeout: Duration,
) -> Result<u64, BrokerError> {
    let mut kafka_headers = OwnedHeaders::new_with_capacity(headers.len());
    for h in headers {
        kafka_headers = kafka_headers.insert(KafkaHeader {
            key: &h.name,
            value: Some(&h.value[..]),
        });
    }
    let mut record = FutureRecord::<[u8], [u8]>::to(topic)
        .partition(partition as i32)
        .payload(payload)
        .headers(kafka_headers);
    if let Some(key) = key {
        record = record.key(key);
    }
    match producer.send(record, queue_timeout).await {
        Ok(delivery) => Ok(delivery.offset.max(0) as u64),
        Err((err, _)) => Err(broker_error(err)),
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
        Some(RDKafkaErrorCode::OffsetOutOfRange) => BrokerError::OffsetOutOfRange,
        _ => BrokerError::Unavailable(err.to_string()),
    }
}
