//! Kafka topic ids (the topic's UUID), which rdkafka's safe API does not expose. A
//! recreated topic gets a new id; Sluice derives its epochs from it, so clients
//! holding positions in the old log get `resync`, never wrong data.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka_sys::bindings as rd;

/// Asks broker `broker_id` (below 0: the controller) for the ids of `topics`. A topic that does not exist maps
/// to `None`; a broker that does not report ids (all-zero UUID) also maps to `None`.
///
/// Any broker answers (the request is a Metadata request), so the caller names one
/// it just heard from rather than librdkafka's default, the controller: a cluster
/// that advertises no reachable controller still has its topic ids read.
pub fn describe_topic_ids<C: ClientContext>(
    client: &Client<C>,
    topics: &[String],
    broker_id: i32,
    timeout: Duration,
) -> Result<HashMap<String, Option<u64>>, String> {
    if topics.is_empty() {
        return Ok(HashMap::new());
    }
    let names: Vec<CString> = topics
        .iter()
        .map(|t| {
            CString::new(t.as_str()).map_err(|_| format!("topic name {t:?} contains a NUL byte"))
        })
        .collect::<Result<_, _>>()?;
    let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: every pointer handed to librdkafka stays alive (owned above) until the
    // call returns, and every object created here is destroyed exactly once below.
    unsafe {
        let rk = client.native_ptr();
        let collection =
            rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len());
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        );
        let mut errstr = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        // Below 0 (no broker known yet): librdkafka's default, the controller.
        if broker_id >= 0 {
            rd::rd_kafka_AdminOptions_set_broker(
                options,
                broker_id,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
        }
        let queue = rd::rd_kafka_queue_new(rk);
        rd::rd_kafka_DescribeTopics(rk, collection, options, queue);
        // Generous poll: the request itself is bounded by the admin timeout.
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1000));
        let result = read_event(event);
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_TopicCollection_destroy(collection);
        result
    }
}

/// # Safety
/// `event` is null or a live event returned by `rd_kafka_queue_poll`.
unsafe fn read_event(
    event: *mut rd::rd_kafka_event_t,
) -> Result<HashMap<String, Option<u64>>, String> {
    if event.is_null() {
        return Err("DescribeTopics timed out".into());
    }
    if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(c_text(rd::rd_kafka_event_error_string(event)));
    }
    let result = rd::rd_kafka_event_DescribeTopics_result(event);
    if result.is_null() {
        return Err("unexpected event type for DescribeTopics".into());
    }
    let mut count = 0usize;
    let descriptions = rd::rd_kafka_DescribeTopics_result_topics(result, &mut count);
    let mut ids = HashMap::new();
    for i in 0..count {
        let description = *descriptions.add(i);
        let name = c_text(rd::rd_kafka_TopicDescription_name(description));
        let error = rd::rd_kafka_TopicDescription_error(description);
        let id = if error.is_null()
            || rd::rd_kafka_error_code(error) == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            let uuid = rd::rd_kafka_TopicDescription_topic_id(description);
            if uuid.is_null() {
                None
            } else {
                let most = rd::rd_kafka_Uuid_most_significant_bits(uuid) as u64;
                let least = rd::rd_kafka_Uuid_least_significant_bits(uuid) as u64;
                // Kafka's UUIDs are random; one half names an incarnation well enough
                // and keeps every message's epoch short.
                let id = most ^ least.rotate_left(32);
                (most != 0 || least != 0).then_some(id)
            }
        } else {
            None
        };
        ids.insert(name, id);
    }
    Ok(ids)
}

/// # Safety
/// `text` is null or a NUL-terminated string owned by librdkafka.
unsafe fn c_text(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}
