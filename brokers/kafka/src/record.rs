//! Kafka messages as broker records.

use std::sync::Arc;

use bytes::Bytes;
use rdkafka::message::{Headers, Message};
use sluice_core::{BrokerRecord, Header};

pub fn to_record(message: &impl Message, topic: &Arc<str>) -> BrokerRecord {
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
    }
}
