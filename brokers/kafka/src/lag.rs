//! Consumer lag per partition: how many records the gateway has not handed to the
//! core yet, for the `sluice_kafka_consumer_lag_records` metric.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::StreamConsumer;

/// Lag of every assigned partition, refreshed by the session. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ConsumerLag {
    by_partition: Arc<Mutex<BTreeMap<(String, u32), u64>>>,
}

impl ConsumerLag {
    /// `(topic, partition) -> records behind the high watermark`, as last measured.
    pub fn snapshot(&self) -> BTreeMap<(String, u32), u64> {
        self.by_partition
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn replace(&self, lag: BTreeMap<(String, u32), u64>) {
        *self.by_partition.lock().unwrap_or_else(|p| p.into_inner()) = lag;
    }
}

/// The high watermark librdkafka last saw in a fetch response for this partition:
/// a local look-up, no request to the cluster. `None` before the first fetch.
#[cfg(not(madsim))]
pub(crate) fn cached_high_watermark(
    consumer: &StreamConsumer,
    topic: &str,
    partition: u32,
) -> Option<u64> {
    use rdkafka::consumer::Consumer;
    use rdkafka_sys::bindings as rd;
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; `topic` is a valid
    // NUL-terminated string for the call; librdkafka only writes the two out-params.
    let err = unsafe {
        rd::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition as i32,
            &mut low,
            &mut high,
        )
    };
    (err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high as u64)
}

/// The simulator's client keeps the last fetch answer's high watermark itself.
#[cfg(madsim)]
pub(crate) fn cached_high_watermark(
    consumer: &StreamConsumer,
    topic: &str,
    partition: u32,
) -> Option<u64> {
    consumer.cached_high_watermark(topic, partition)
}
