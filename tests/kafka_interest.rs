//! `[broker.kafka] consumption = "interest"` on Kafka (tansu), with two shards: the
//! gateway reads nothing until a client subscribes, then only that key's
//! partition (snapshot first, then live records from a back-end producer with
//! librdkafka's defaults); a subscriber on the other shard is served from the same
//! read; the last unsubscribe releases the partition after the grace period (seen
//! on `/metrics`); a client resuming across the release and a new read misses
//! nothing.

mod common;

use std::time::{Duration, Instant};

use common::http::{self, metric};
use common::tansu::Tansu;
use common::RawClient;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use sluice_core::partitioner::Partitioner;

const PARTITIONS: u32 = 8;
const SUBJECT: &str = "/fleet/truck-1";

/// A back-end record, written with librdkafka's default partitioner; its offset.
async fn produce(producer: &FutureProducer, key: &str, value: &str) -> i64 {
    producer
        .send(
            FutureRecord::<str, str>::to("fleet")
                .key(key)
                .payload(value),
            Duration::from_secs(10),
        )
        .await
        .expect("tansu accepts the record")
        .offset
}

async fn subscribe(url: &str, resume: Option<(&Value, i64)>) -> RawClient {
    let mut client = RawClient::connect(url, "sluice.v1.json").await;
    let mut subscribe = json!({"op":"subscribe","id":1,"subjects":[SUBJECT]});
    if let Some((epoch, seq)) = resume {
        subscribe["resume"] = json!({SUBJECT: {"epoch": epoch, "seq": seq}});
    }
    assert_eq!(
        client.request(&subscribe.to_string()).await,
        json!({"op":"ok","id":1})
    );
    client
}

async fn metrics(server: &sluice::server::Server) -> String {
    let (status, body) = http::get(server.admin_addr(), "/metrics").await;
    assert_eq!(status, 200);
    body
}

fn data_and_seq(message: &Value) -> (Value, Value) {
    (message["data"].clone(), message["seq"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interest_mode_reads_only_watched_partitions_and_releases_them() {
    let tansu = Tansu::start();
    tansu.create_topic("fleet", PARTITIONS, false);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    // Records on every partition; the subscriber's key shares its partition with
    // some of them, which the gateway reads too.
    let partition = |key: &str| Partitioner::Consistent.partition(Some(key.as_bytes()), PARTITIONS);
    let watched = partition("truck-1");
    let others: Vec<String> = (2..=40).map(|n| format!("truck-{n}")).collect();
    futures_util::future::join_all(others.iter().map(|key| produce(&producer, key, "other"))).await;
    let mut on_watched = others
        .iter()
        .filter(|key| partition(key) == watched)
        .count() as u64;
    let v1 = produce(&producer, "truck-1", "v1").await;
    on_watched += 1;

    let server = common::start(|c| {
        common::tansu::use_kafka(c, &tansu, &["fleet"]);
        c.gateway.partitioner = Partitioner::Consistent;
        c.broker.kafka.consumption = sluice_kafka::Consumption::Interest;
        c.broker.kafka.interest_grace_ms = 1_500;
        c.runtime.shards = 2;
        // Nothing here changes topics; a refresh (slow on tansu) holds consumption.
        c.broker.kafka.metadata_refresh_ms = 30_000;
    })
    .await;
    let (status, body) = http::get(server.admin_addr(), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let before = metrics(&server).await;
    assert_eq!(metric(&before, "sluice_kafka_partitions_assigned"), 0.0);
    assert_eq!(metric(&before, "sluice_kafka_records_consumed_total"), 0.0);

    // The first subscriber: its partition is read, then the snapshot comes.
    let url = server.url();
    let mut first = subscribe(&url, None).await;
    let snapshot = first.recv().await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(data_and_seq(&snapshot), (json!("v1"), json!(v1)));
    let epoch = snapshot["epoch"].clone();
    let read = metrics(&server).await;
    assert_eq!(metric(&read, "sluice_kafka_partitions_assigned"), 1.0);
    assert_eq!(
        metric(&read, "sluice_kafka_records_consumed_total"),
        on_watched as f64,
        "only the watched partition's records are read"
    );
    assert!(metric(&read, "sluice_kafka_consumed_bytes_total") > 0.0);

    // Live records, and a subscriber on the other shard served from the same read.
    let v2 = produce(&producer, "truck-1", "v2").await;
    assert_eq!(data_and_seq(&first.recv().await), (json!("v2"), json!(v2)));
    let mut second = subscribe(&url, None).await;
    assert_eq!(data_and_seq(&second.recv().await), (json!("v2"), json!(v2)));
    let clients: Vec<u64> = server
        .runtimes()
        .iter()
        .map(|shard| shard.stats().clients_connected)
        .collect();
    assert_eq!(clients, [1, 1], "one subscriber on each shard");

    // Both go: the partition is released once the grace period ends.
    drop((first, second));
    let deadline = Instant::now() + Duration::from_secs(20);
    let released = loop {
        let body = metrics(&server).await;
        if metric(&body, "sluice_kafka_partitions_assigned") == 0.0 {
            break body;
        }
        assert!(Instant::now() < deadline, "not released:\n{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(metric(&released, "sluice_partitions_watched"), 0.0);
    assert_eq!(metric(&released, "sluice_partition_releases_total"), 2.0);
    assert_eq!(
        metric(&released, "sluice_kafka_partition_unassignments_total"),
        1.0
    );
    assert_eq!(metric(&released, "sluice_snapshot_cache_entries"), 0.0);

    // Written while nobody read the partition; a client that saw v2 resumes.
    let v3 = produce(&producer, "truck-1", "v3").await;
    let mut back = subscribe(&url, Some((&epoch, v2))).await;
    let recovered = back.recv().await;
    assert_eq!(recovered["type"], "recovered", "{recovered}");
    assert_eq!(data_and_seq(&recovered), (json!("v3"), json!(v3)));
    assert_eq!(
        back.recv().await,
        json!({"op":"status","subject":SUBJECT,"status":"sync"})
    );
    let v4 = produce(&producer, "truck-1", "v4").await;
    let live = back.recv().await;
    assert_eq!(live["type"], "update", "{live}");
    assert_eq!(data_and_seq(&live), (json!("v4"), json!(v4)));
    let again = metrics(&server).await;
    assert_eq!(metric(&again, "sluice_kafka_partitions_assigned"), 1.0);
    assert_eq!(
        metric(&again, "sluice_kafka_partition_assignments_total"),
        2.0
    );
}
