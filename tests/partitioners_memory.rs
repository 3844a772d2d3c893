//! On the embedded broker: a record a back-end wrote to any partition reaches the
//! key's subscribers, and an app's publish to that key lands on the same partition
//! (the broker's `produce_keyed` partitions with murmur2; a back-end may not).

mod common;

use bytes::Bytes;
use common::{assert_quiet, RawClient};
use serde_json::json;
use sluice_core::partitioner::Partitioner;

#[tokio::test]
async fn a_publish_lands_on_the_partition_the_keys_records_are_on() {
    let server = common::start(|c| c.broker.embedded.partitions = 4).await;
    let broker = server.broker().expect("the embedded broker");
    let key = "sensor/7";
    let murmur2 = Partitioner::Murmur2.partition(Some(key.as_bytes()), 4);
    let elsewhere = (murmur2 + 1) % 4;
    let mut watcher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    common::subscribe_ok(&mut watcher, 1, &["/demo/sensor/7"]).await;
    let offset = broker
        .produce(
            "demo",
            elsewhere,
            Some(Bytes::from_static(key.as_bytes())),
            Some(Bytes::from_static(b"21.5")),
            Vec::new(),
        )
        .unwrap();
    let update = watcher.recv().await;
    assert_eq!(
        (&update["type"], &update["data"], &update["seq"]),
        (&json!("update"), &json!("21.5"), &json!(offset))
    );

    let mut app = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let ack = app
        .request(r#"{"op":"publish","id":1,"subject":"/demo/sensor/7","data":"22.0"}"#)
        .await;
    assert_eq!(ack["epoch"], update["epoch"], "{ack}");
    let seq = ack["seq"].as_u64().unwrap();
    let stored = broker.read("demo", elsewhere, seq, 1);
    assert_eq!(
        stored.first().map(|r| (r.key.clone(), r.payload.clone())),
        Some((
            Some(Bytes::from_static(key.as_bytes())),
            Some(Bytes::from_static(b"22.0"))
        )),
        "the app's record is on the back-end's partition"
    );
    let echo = watcher.recv().await;
    assert_eq!(
        (&echo["type"], &echo["seq"]),
        (&json!("update"), &json!(seq))
    );
    assert_quiet(&mut watcher).await;
    let stats = server.runtime().stats();
    assert_eq!(
        (
            stats.records_unroutable_total,
            stats.subject_partition_moves_total
        ),
        (0, 0)
    );
}
