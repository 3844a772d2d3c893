//! A recreated topic: the same name with a new Kafka topic id and a new log. Clients
//! holding positions in the old log get `resync` and the new log's data, never a
//! position from the old log applied to the new one.
//!
//! tansu 0.6.0 cannot show this: after a delete it answers Fetch with an all-zero
//! topic id plus a leader tag, on which librdkafka 2.12 crashes (`strcmp(NULL)` in
//! `rd_kafka_metadata_update_op`). librdkafka's mock cluster gives every topic a
//! random id but cannot delete one, so the topic is re-created by replacing the
//! cluster behind one broker address (a forwarder both clusters advertise).

mod common;

use common::forwarder::Forwarder;
use common::message_fields;
use common::mock_kafka::{produce, producer, start_gateway, MockKafka};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_gives_resync_and_the_new_log_never_the_old_position() {
    let forwarder = Forwarder::start(String::new()).await;
    let old = MockKafka::start();
    old.advertise(forwarder.port());
    old.create_topic("fleet", 1);
    forwarder.switch(old.listener());
    let p = producer(&forwarder.addr());
    for i in 0..3 {
        produce(&p, "fleet", "truck", format!("old{i}").as_bytes()).await;
    }
    let server = start_gateway(forwarder.addr(), "fleet", |_| {}).await;
    let (mut live, snapshot) = common::subscribe_new_client(&server.url(), "/fleet/truck").await;
    assert_eq!(
        message_fields(&snapshot),
        (Some("snapshot"), Some("old2"), Some(2))
    );
    let old_epoch = snapshot["epoch"].as_str().unwrap().to_owned();

    // The topic is re-created: a new id, a new log from offset 0.
    let new = MockKafka::start();
    new.advertise(forwarder.port());
    new.create_topic("fleet", 1);
    drop(old);
    forwarder.switch(new.listener());
    produce(&p, "fleet", "truck", b"new0").await;

    assert_eq!(
        live.recv().await,
        json!({"op":"status","subject":"/fleet/truck","status":"resync"})
    );
    // The new log's record follows: as the snapshot if the gateway had read it by
    // the time of the resync, else as a live update.
    let first = live.recv().await;
    assert!(
        matches!(first["type"].as_str(), Some("snapshot" | "update")),
        "{first}"
    );
    assert_eq!(
        (first["data"].as_str(), first["seq"].as_u64()),
        (Some("new0"), Some(0))
    );
    let new_epoch = first["epoch"].as_str().unwrap().to_owned();
    assert_ne!(new_epoch, old_epoch, "a recreated topic is a new log");

    // A client resuming from the old log's position gets resync and the new
    // snapshot: seq 2 of the old log says nothing about the new one.
    let mut returning =
        common::resume_expecting_resync(&server.url(), "/fleet/truck", &old_epoch, 2).await;
    let snapshot = returning.recv().await;
    assert_eq!(
        message_fields(&snapshot),
        (Some("snapshot"), Some("new0"), Some(0))
    );
    assert_eq!(snapshot["epoch"].as_str(), Some(new_epoch.as_str()));

    // Live records of the new log follow, with the new epoch, to both.
    let offset = produce(&p, "fleet", "truck", b"new1").await;
    for client in [&mut live, &mut returning] {
        let update = client.recv().await;
        assert_eq!(
            message_fields(&update),
            (Some("update"), Some("new1"), Some(offset as u64))
        );
        assert_eq!(update["epoch"].as_str(), Some(new_epoch.as_str()));
    }
}
