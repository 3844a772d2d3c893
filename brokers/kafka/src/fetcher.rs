//! Resume beyond the cache: read a partition back from an old offset, keep the
//! records of one key. Each fetch runs on its own short-lived consumer on a blocking
//! thread, so it never holds up live consumption or other clients.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_core::{BrokerError, FetchRequest, Fetched};

use crate::producer::broker_error;
use crate::record::to_record;
use crate::topology::Topology;
use crate::{client_config, KafkaConfig};

/// Blocking: call from `spawn_blocking`.
pub fn fetch(
    config: &KafkaConfig,
    topology: &Topology,
    request: FetchRequest,
) -> Result<Fetched, BrokerError> {
    let FetchRequest {
        topic,
        partition,
        epoch,
        key,
        from_offset,
        to_offset,
        from_log_start,
        ..
    } = request;
    let layout = topology.get(&topic).ok_or(BrokerError::UnknownTopic)?;
    if partition >= layout.partitions {
        return Err(BrokerError::UnknownTopic);
    }
    if layout.epoch(&topic, partition) != epoch {
        return Err(BrokerError::EpochChanged);
    }
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let consumer: BaseConsumer = client_config::consumer(config)
        .create()
        .map_err(|e| BrokerError::Unavailable(e.to_string()))?;
    let (low, high) = consumer
        .fetch_watermarks(&topic, partition as i32, timeout)
        .map_err(broker_error)?;
    let (low, high) = (low.max(0) as u64, high.max(0) as u64);
    let from_offset = match from_offset < low {
        true if from_log_start => low,
        true => return Err(BrokerError::OffsetOutOfRange),
        false => from_offset,
    };
    let first_offset = from_offset;
    let complete = to_offset.saturating_add(1);
    if high == 0 || from_offset >= high {
        return Ok(Fetched {
            records: Vec::new(),
            first_offset,
            next_offset: complete,
        });
    }
    let last = to_offset.min(high - 1);
    #[cfg(feature = "testing")]
    let from_offset = from_offset
        + u64::from(crate::testing::injected(
            crate::testing::KafkaBug::FetchSkipsFirst,
        ));
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, partition as i32, Offset::Offset(from_offset as i64))
        .map_err(broker_error)?;
    consumer.assign(&assignment).map_err(broker_error)?;

    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    let mut examined = 0usize;
    let mut next_offset = from_offset;
    while Instant::now() < deadline {
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = polled.map_err(broker_error)?;
        let offset = message.offset().max(0) as u64;
        if offset < next_offset {
            continue; // a repeat (seen after compaction); already examined
        }
        if offset > last {
            return Ok(Fetched {
                records,
                first_offset,
                next_offset: complete,
            });
        }
        examined += 1;
        next_offset = offset + 1;
        // Read back for a resume or a history, not live: not timed.
        let record = to_record(&message, &topic, 0);
        if record.key.as_deref() == key.as_deref() {
            records.push(record);
        }
        if offset == last {
            return Ok(Fetched {
                records,
                first_offset,
                next_offset: complete,
            });
        }
        if examined >= config.fetch_records_max.max(1) {
            return Ok(Fetched {
                records,
                first_offset,
                next_offset,
            });
        }
    }
    if examined > 0 {
        // Partial progress; the core asks again from `next_offset`.
        Ok(Fetched {
            records,
            first_offset,
            next_offset,
        })
    } else {
        Err(BrokerError::Unavailable(format!(
            "no records from {topic}/{partition} within {} ms",
            config.request_timeout_ms
        )))
    }
}
