//! Retention deletes records a gateway has not read yet: its subscribers get
//! `resync` (never a silent gap), consumption goes on from the new log start, and a
//! resume from before that start gets `resync` too.
//!
//! tansu 0.6.0 cannot delete records (its SQLite `delete_records` is `todo!()`), so
//! this runs on librdkafka's mock cluster, whose partition logs keep at most 5 MiB:
//! writing more deletes the oldest record batches, as retention would. The gateway
//! is held back meanwhile by answering its Fetch requests late.

mod common;

use std::time::Duration;

use common::message_fields;
use common::mock_kafka::{produce, producer, start_gateway, MockKafka};
use serde_json::json;

/// More than the mock cluster keeps per partition (5 MiB).
const FILLER_BYTES: usize = 7 << 20;
const FILLER_RECORD_BYTES: usize = 64 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_before_the_gateway_read_them_give_resync_not_a_gap() {
    let kafka = MockKafka::start();
    kafka.create_topic("feed", 1);
    let p = producer(&kafka.listener());
    for i in 0..3 {
        produce(&p, "feed", "k", format!("v{i}").as_bytes()).await;
    }
    let server = start_gateway(kafka.listener(), "feed", |k| {
        // Longer than the delayed Fetch answers below, so they are not timeouts.
        k.request_timeout_ms = 20_000;
    })
    .await;
    let (mut live, snapshot) = common::subscribe_new_client(&server.url(), "/feed/k").await;
    assert_eq!(
        message_fields(&snapshot),
        (Some("snapshot"), Some("v2"), Some(2))
    );
    let epoch = snapshot["epoch"].as_str().unwrap().to_owned();

    // Hold the gateway back while more than the log keeps is written: the records
    // after v2 it has not read yet are deleted.
    kafka.delay_fetches(2, 5_000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let filler = vec![b'x'; FILLER_RECORD_BYTES];
    let writes: Vec<_> = (0..FILLER_BYTES / FILLER_RECORD_BYTES)
        .map(|_| produce(&p, "feed", "filler", &filler))
        .collect();
    futures_util::future::join_all(writes).await;
    let after = produce(&p, "feed", "k", b"after").await;

    assert_eq!(
        live.recv().await,
        json!({"op":"status","subject":"/feed/k","status":"resync"})
    );
    // The snapshot, if any, follows the resync; then live records from the new start.
    let mut next = live.recv().await;
    if next["type"] == "snapshot" {
        assert_eq!(
            message_fields(&next),
            (Some("snapshot"), Some("v2"), Some(2))
        );
        next = live.recv().await;
    }
    assert_eq!(
        message_fields(&next),
        (Some("update"), Some("after"), Some(after as u64))
    );
    assert_eq!(next["epoch"].as_str(), Some(epoch.as_str()));

    // Resuming from v2 would need records that are gone: resync, then the snapshot.
    let mut returning = common::resume_expecting_resync(&server.url(), "/feed/k", &epoch, 2).await;
    let snapshot = returning.recv().await;
    assert_eq!(
        message_fields(&snapshot),
        (Some("snapshot"), Some("after"), Some(after as u64))
    );
}
