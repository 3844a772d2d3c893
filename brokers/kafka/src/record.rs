//! Kafka messages as broker records.

use std::sync::Arc;

use bytes::Bytes;
use rdkafka::message::{Headers, Message};
use sluice_core::{BrokerRecord, Header};

/// `message` as a record of `topic`, stamped with `handed_over_unix_us` (when the
/// consumer gave it to us: where the gateway's share of its latency starts).
pub fn to_record(
    message: &impl Message,
    topic: &Arc<str>,
    handed_over_unix_us: i64,
) -> BrokerRecord {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| Header {
                    name: h.key.to_owned(),
                    value: Bytes::copy_from_slice(h.value.unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    BrokerRecord {
        topic: topic.clone(),
        partition: message.partition().max(0) as u32,
        offset: message.offset().max(0) as u64,
        key: message.key().map(Bytes::copy_from_slice),
        payload: message.payload().map(Bytes::copy_from_slice),
        headers,
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
        handed_over_unix_us,
    }
}

/// Wall-clock microseconds since the Unix epoch, for [`to_record`]'s stamp.
pub fn unix_now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
