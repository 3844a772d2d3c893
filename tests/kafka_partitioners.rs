//! Every Kafka record reaches its subscribers whatever partitioner its producer
//! used (tansu, 8 partitions): librdkafka's default (`consistent_random`, CRC32),
//! producers of one key with different partitioners (the subject moves: `resync`),
//! and app publishes that land where the key's back-end records are.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::tansu::Tansu;
use common::{assert_quiet, RawClient};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use sluice::server::Server;
use sluice_core::partitioner::Partitioner;

const PARTITIONS: u32 = 8;

/// A librdkafka producer with its defaults, as a Python, Go or .NET back-end has:
/// `partitioner` is not set (librdkafka's default is `consistent_random`).
fn default_producer(tansu: &Tansu) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap()
}

/// A producer that partitions like Kafka's Java client.
fn murmur2_producer(tansu: &Tansu) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap()
}

/// Writes a record; returns (partition, offset).
async fn produce(p: &FutureProducer, topic: &str, key: &str, payload: &str) -> (u32, u64) {
    let delivery = p
        .send(
            FutureRecord::<str, str>::to(topic)
                .key(key)
                .payload(payload),
            Duration::from_secs(10),
        )
        .await
        .expect("tansu accepts the record");
    (delivery.partition as u32, delivery.offset as u64)
}

async fn start(tansu: &Tansu, topic: &str, partitioner: Option<Partitioner>) -> Server {
    start_with(tansu, topic, partitioner, |_| {}).await
}

async fn start_with(
    tansu: &Tansu,
    topic: &str,
    partitioner: Option<Partitioner>,
    tweak: impl FnOnce(&mut sluice::config::Config),
) -> Server {
    common::start(|c| {
        common::tansu::use_kafka(c, tansu, &[topic]);
        if let Some(partitioner) = partitioner {
            c.gateway
                .topic_partitioners
                .insert(topic.to_string(), partitioner);
        }
        tweak(c);
    })
    .await
}

async fn subscribe(client: &mut RawClient, id: u64, subjects: &[String]) {
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    common::subscribe_ok(client, id, &subjects).await;
}

/// A key whose CRC32 partition differs from its murmur2 one.
fn key_where_partitioners_differ(prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| {
            Partitioner::Consistent.partition(Some(k.as_bytes()), PARTITIONS)
                != Partitioner::Murmur2.partition(Some(k.as_bytes()), PARTITIONS)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_default_partitioner_records_all_arrive_and_resume_exactly_elsewhere() {
    let tansu = Tansu::start();
    tansu.create_topic("devices", PARTITIONS, false);
    let gateway = start(&tansu, "devices", None).await;
    let keys: Vec<String> = (0..16).map(|i| format!("d{i}/temp")).collect();
    let subjects: Vec<String> = keys.iter().map(|k| format!("/devices/{k}")).collect();
    let mut client = RawClient::connect(&gateway.url(), "sluice.v1.json").await;
    subscribe(&mut client, 1, &subjects).await;

    let producer = default_producer(&tansu);
    let mut written = BTreeSet::new();
    let mut partitions = BTreeMap::new();
    for round in 0..3 {
        for key in &keys {
            let (partition, offset) = produce(&producer, "devices", key, &format!("{round}")).await;
            written.insert((format!("/devices/{key}"), offset, round.to_string()));
            partitions.insert(key.clone(), partition);
        }
    }
    // librdkafka put each key where CRC32 says, and most keys are not where murmur2
    // would put them: those were the records dropped before.
    for (key, partition) in &partitions {
        assert_eq!(
            *partition,
            Partitioner::Consistent.partition(Some(key.as_bytes()), PARTITIONS)
        );
    }
    let off_murmur2 = partitions
        .iter()
        .filter(|(k, p)| **p != Partitioner::Murmur2.partition(Some(k.as_bytes()), PARTITIONS))
        .count();
    assert!(
        off_murmur2 >= 8,
        "only {off_murmur2} of 16 keys off murmur2's partition"
    );

    let mut received = BTreeSet::new();
    let mut epochs = BTreeMap::new();
    while received.len() < written.len() {
        let m = client.recv().await;
        assert_eq!(m["type"], "update", "{m}");
        let subject = m["subject"].as_str().unwrap().to_string();
        epochs
            .entry(subject.clone())
            .or_insert_with(|| m["epoch"].clone());
        assert_eq!(epochs[&subject], m["epoch"], "one log per subject");
        received.insert((
            subject,
            m["seq"].as_u64().unwrap(),
            m["data"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(received, written, "every record reached its subscriber");
    assert_quiet(&mut client).await;

    // A second gateway, caching one message per subject: each resume from the
    // subject's first record is read back from the partition its epoch names.
    let second = start_with(&tansu, "devices", None, |c| {
        c.gateway.message_cache_messages_per_subject_max = 1;
    })
    .await;
    for subject in &subjects {
        let mine: Vec<u64> = written
            .iter()
            .filter(|(s, _, _)| s == subject)
            .map(|(_, seq, _)| *seq)
            .collect();
        let mut resumer = RawClient::connect(&second.url(), "sluice.v1.json").await;
        let resume = json!({"op":"subscribe","id":1,"subjects":[subject],
            "resume":{subject.as_str():{"epoch":epochs[subject],"seq":mine[0]}}});
        assert_eq!(resumer.request(&resume.to_string()).await["op"], "ok");
        let mut got = Vec::new();
        loop {
            let frame = resumer.recv().await;
            if frame["op"] == "status" {
                assert_eq!(frame["status"], "sync", "{frame}");
                break;
            }
            assert_eq!(
                (frame["type"].as_str(), &frame["epoch"]),
                (Some("recovered"), &epochs[subject])
            );
            got.push(frame["seq"].as_u64().unwrap());
        }
        assert_eq!(got, mine[1..], "resume of {subject} on the second gateway");
    }
    for server in [&gateway, &second] {
        let stats = server.runtime().stats();
        assert_eq!(stats.records_unroutable_total, 0);
        assert_eq!(stats.subject_partition_moves_total, 0);
        assert_eq!(stats.subject_partitions, 16);
    }
    assert_eq!(second.runtime().stats().resumes_fetched_total, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_of_one_key_with_different_partitioners_resync_at_each_move() {
    let tansu = Tansu::start();
    tansu.create_topic("mixed", PARTITIONS, false);
    let gateway = start(&tansu, "mixed", None).await;
    let key = key_where_partitioners_differ("k");
    let subject = format!("/mixed/{key}");
    let mut client = RawClient::connect(&gateway.url(), "sluice.v1.json").await;
    subscribe(&mut client, 1, std::slice::from_ref(&subject)).await;

    let librdkafka = default_producer(&tansu);
    let java_like = murmur2_producer(&tansu);
    let update = |m: &Value| {
        (
            m["type"].as_str().map(str::to_string),
            m["data"].as_str().map(str::to_string),
            m["seq"].as_u64(),
        )
    };
    let (p1, a) = produce(&librdkafka, "mixed", &key, "a").await;
    assert_eq!(
        update(&client.recv().await),
        (Some("update".into()), Some("a".into()), Some(a))
    );
    // The Java-like producer puts the key on another partition: a move.
    let (p2, b) = produce(&java_like, "mixed", &key, "b").await;
    assert_ne!(p1, p2);
    assert_eq!(
        client.recv().await,
        json!({"op":"status","subject":subject,"status":"resync"})
    );
    let snapshot = client.recv().await;
    assert_eq!(
        update(&snapshot),
        (Some("snapshot".into()), Some("b".into()), Some(b))
    );
    let (_, c) = produce(&java_like, "mixed", &key, "c").await;
    assert_eq!(
        update(&client.recv().await),
        (Some("update".into()), Some("c".into()), Some(c))
    );
    // And back.
    let (_, d) = produce(&librdkafka, "mixed", &key, "d").await;
    assert_eq!(
        client.recv().await,
        json!({"op":"status","subject":subject,"status":"resync"})
    );
    assert_eq!(
        update(&client.recv().await),
        (Some("snapshot".into()), Some("d".into()), Some(d))
    );
    let (_, e) = produce(&librdkafka, "mixed", &key, "e").await;
    assert_eq!(
        update(&client.recv().await),
        (Some("update".into()), Some("e".into()), Some(e))
    );
    assert_quiet(&mut client).await;
    let stats = gateway.runtime().stats();
    assert_eq!(
        (
            stats.subject_partition_moves_total,
            stats.records_unroutable_total
        ),
        (2, 0)
    );
    // A resume from before the moves cannot be exact: resync, then the latest value.
    let mut late = common::resume_expecting_resync(
        &gateway.url(),
        &subject,
        snapshot["epoch"].as_str().unwrap(),
        b,
    )
    .await;
    assert_eq!(
        update(&late.recv().await),
        (Some("snapshot".into()), Some("e".into()), Some(e))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_publishes_land_on_the_partition_of_the_back_ends_records() {
    let tansu = Tansu::start();
    tansu.create_topic("orders", PARTITIONS, false);
    // A topic written by librdkafka back-ends: `consistent` for keys not seen yet.
    let gateway = start(&tansu, "orders", Some(Partitioner::Consistent)).await;
    let backend = default_producer(&tansu);
    let fresh = key_where_partitioners_differ("fresh");
    let seen = key_where_partitioners_differ("seen");
    let mut watcher = RawClient::connect(&gateway.url(), "sluice.v1.json").await;
    let subjects = [format!("/orders/{fresh}"), format!("/orders/{seen}")];
    subscribe(&mut watcher, 1, &subjects).await;
    let mut app = RawClient::connect(&gateway.url(), "sluice.v1.json").await;

    // A key no one wrote yet: the app publishes first, the back-end after.
    let publish = json!({"op":"publish","id":5,"subject":subjects[0],"data":"from the app"});
    let ack = app.request(&publish.to_string()).await;
    assert_eq!(ack["op"], "ack", "{ack}");
    let (partition, offset) = produce(&backend, "orders", &fresh, "from the back-end").await;
    assert_eq!(
        partition,
        Partitioner::Consistent.partition(Some(fresh.as_bytes()), PARTITIONS)
    );
    let first = watcher.recv().await;
    let second = watcher.recv().await;
    assert_eq!(
        (&first["data"], &first["seq"], &first["epoch"]),
        (&json!("from the app"), &ack["seq"], &ack["epoch"])
    );
    assert_eq!(
        (&second["type"], &second["seq"], &second["epoch"]),
        (&json!("update"), &json!(offset), &ack["epoch"]),
        "the back-end's record is on the app's partition: one log, no resync"
    );

    // A key the back-end wrote: the publish goes where its records are.
    let (_, offset) = produce(&backend, "orders", &seen, "b0").await;
    let m = watcher.recv().await;
    assert_eq!((&m["data"], &m["seq"]), (&json!("b0"), &json!(offset)));
    let publish = json!({"op":"publish","id":6,"subject":subjects[1],"data":"a1"});
    let ack = app.request(&publish.to_string()).await;
    assert_eq!(ack["epoch"], m["epoch"], "{ack}");
    let echo = watcher.recv().await;
    assert_eq!(
        (&echo["type"], &echo["data"], &echo["seq"]),
        (&json!("update"), &json!("a1"), &ack["seq"])
    );
    assert_quiet(&mut watcher).await;
    assert_eq!(gateway.runtime().stats().subject_partition_moves_total, 0);
}

/// With the default partitioner (murmur2), a publish to a key the gateway has seen
/// from a librdkafka back-end still lands on that key's partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_to_a_seen_key_follows_its_records_whatever_the_partitioner() {
    let tansu = Tansu::start();
    tansu.create_topic("rooms", PARTITIONS, false);
    let gateway = start(&tansu, "rooms", None).await;
    let key = key_where_partitioners_differ("room");
    let subject = format!("/rooms/{key}");
    let (_, offset) = produce(&default_producer(&tansu), "rooms", &key, "hello").await;
    let (mut watcher, snapshot) = common::subscribe_new_client(&gateway.url(), &subject).await;
    assert_eq!(snapshot["seq"], json!(offset));
    let mut app = RawClient::connect(&gateway.url(), "sluice.v1.json").await;
    let publish = json!({"op":"publish","id":1,"subject":subject,"data":"hi"});
    let ack = app.request(&publish.to_string()).await;
    assert_eq!(ack["epoch"], snapshot["epoch"], "{ack}");
    let m = watcher.recv().await;
    assert_eq!((&m["type"], &m["seq"]), (&json!("update"), &ack["seq"]));
    assert_eq!(gateway.runtime().stats().subject_partition_moves_total, 0);
}
