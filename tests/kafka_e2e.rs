//! The gateway on a real Kafka-protocol broker (tansu): records in, publishes out,
//! snapshots rebuilt at start, tombstones, and resume from the log.

mod common;

use std::time::Duration;

use common::tansu::Tansu;
use common::{assert_quiet, RawClient};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sluice::config::Config;
use sluice::server::Server;

/// A producer that partitions like Kafka's Java client (murmur2), as other
/// applications writing to the exposed topics would.
fn producer(tansu: &Tansu) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap()
}

/// Writes a record and returns (partition, offset).
async fn produce(
    p: &FutureProducer,
    topic: &str,
    key: &str,
    payload: Option<&str>,
    headers: &[(&str, &str)],
) -> (i32, i64) {
    let mut h = OwnedHeaders::new();
    for (k, v) in headers {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    let mut record = FutureRecord::<str, str>::to(topic).key(key).headers(h);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    let delivery = p
        .send(record, Duration::from_secs(10))
        .await
        .expect("tansu accepts the record");
    (delivery.partition, delivery.offset)
}

pub async fn start_on_kafka(
    tansu: &Tansu,
    topics: &[&str],
    tweak: impl FnOnce(&mut Config),
) -> Server {
    common::start(|c| {
        common::tansu::use_kafka(c, tansu, topics);
        tweak(c);
    })
    .await
}

async fn subscribe(client: &mut RawClient, id: u64, subject: &str) {
    common::subscribe_ok(client, id, &[subject]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_records_reach_subscribers_with_seq_equal_to_offset() {
    let tansu = Tansu::start();
    tansu.create_topic("vehicles", 4, false);
    let server = start_on_kafka(&tansu, &["vehicles"], |_| {}).await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    subscribe(&mut client, 1, "/vehicles/1/speed").await;
    let p = producer(&tansu);
    produce(&p, "vehicles", "2/speed", Some("other"), &[]).await;
    let (_, offset) = produce(&p, "vehicles", "1/speed", Some("42"), &[]).await;
    let m = client.recv().await;
    assert_eq!(
        (m["type"].as_str(), m["data"].as_str(), m["seq"].as_i64()),
        (Some("update"), Some("42"), Some(offset))
    );
    assert_quiet(&mut client).await;
    // The one delivery is timed from the consumer's hand-over too: the gateway's
    // own share of its latency.
    let (_, metrics) = common::http::get(server.admin_addr(), "/metrics").await;
    assert!(
        metrics.contains("sluice_gateway_latency_seconds_count{transport=\"websocket\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_publish_lands_in_kafka_with_key_and_headers() {
    let tansu = Tansu::start();
    tansu.create_topic("chat", 3, false);
    let server = start_on_kafka(&tansu, &["chat"], |_| {}).await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let publish = r#"{"op":"publish","id":7,"subject":"/chat/room/1","data":"hi","retained":false,"qos":"guaranteed","reply_to":"/chat/replies/9","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#;
    let ack = client.request(publish).await;
    assert_eq!(ack["op"], "ack", "{ack}");
    let seq = ack["seq"].as_i64().unwrap();

    let partition = sluice_core::partitioner::partition_for_key(Some(b"room/1"), 3) as i32;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("group.id", "test-reader")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("chat", partition, Offset::Offset(seq))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let message = match consumer.poll(Duration::from_secs(10)) {
        Some(Ok(m)) => m,
        Some(Err(e)) => panic!("{e}"),
        None => panic!("the published record is not in Kafka"),
    };
    assert_eq!(
        (message.offset(), message.key(), message.payload()),
        (seq, Some(&b"room/1"[..]), Some(&b"hi"[..]))
    );
    let headers: Vec<(String, String)> = message
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
            )
        })
        .collect();
    for expected in [
        ("retained", "false"),
        ("qos", "guaranteed"),
        ("reply_to", "/chat/replies/9"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
    ] {
        assert!(
            headers.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {headers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_rebuilt_from_kafka_at_start_and_tombstones_delete_them() {
    let tansu = Tansu::start();
    tansu.create_topic("state", 2, true);
    let p = producer(&tansu);
    produce(&p, "state", "a", Some("a1"), &[]).await;
    let (_, a2) = produce(&p, "state", "a", Some("a2"), &[]).await;
    produce(&p, "state", "a", Some("typing"), &[("retained", "false")]).await;
    produce(&p, "state", "b", Some("b1"), &[]).await;
    produce(&p, "state", "b", None, &[]).await; // tombstone

    let server = start_on_kafka(&tansu, &["state"], |_| {}).await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    subscribe(&mut client, 1, "/state/a").await;
    let snapshot = client.recv().await;
    assert_eq!(
        (
            snapshot["type"].as_str(),
            snapshot["data"].as_str(),
            snapshot["seq"].as_i64()
        ),
        (Some("snapshot"), Some("a2"), Some(a2))
    );
    subscribe(&mut client, 2, "/state/b").await;
    assert_quiet(&mut client).await;

    // A live tombstone reaches subscribers as null data and removes the snapshot.
    produce(&p, "state", "a", None, &[]).await;
    let m = client.recv().await;
    assert_eq!(
        (m["type"].as_str(), &m["data"]),
        (Some("update"), &Value::Null)
    );
    let mut late = RawClient::connect(&server.url(), "sluice.v1.json").await;
    subscribe(&mut late, 1, "/state/a").await;
    assert_quiet(&mut late).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_older_than_the_cache_replay_exactly_the_missed_records_of_the_key() {
    let tansu = Tansu::start();
    tansu.create_topic("events", 2, false);
    let p = producer(&tansu);
    let (_, first) = produce(&p, "events", "k", Some("e0"), &[]).await;
    let mut expected = Vec::new();
    for i in 1..30 {
        let (_, offset) = produce(&p, "events", "k", Some(&format!("e{i}")), &[]).await;
        expected.push(offset);
        produce(&p, "events", "other", Some("noise"), &[]).await;
    }
    // One read-back at a time, each examining at most 10 records: several clients'
    // resumes take turns through the one slot, each in several rounds.
    let server = start_on_kafka(&tansu, &["events"], |c| {
        c.gateway.message_cache_messages_per_subject_max = 2;
        c.broker.kafka.fetch_concurrency_max = 1;
        c.broker.kafka.fetch_records_max = 10;
    })
    .await;
    let epoch = {
        let mut probe = RawClient::connect(&server.url(), "sluice.v1.json").await;
        subscribe(&mut probe, 1, "/events/k").await;
        probe.recv().await["epoch"].clone()
    };
    let resumes = (0..3).map(|_| {
        let url = server.url();
        let epoch = epoch.clone();
        async move {
            let mut client = RawClient::connect(&url, "sluice.v1.json").await;
            let resume = json!({"op":"subscribe","id":1,"subjects":["/events/k"],"resume":{"/events/k":{"epoch":epoch,"seq":first}}});
            assert_eq!(client.request(&resume.to_string()).await["op"], "ok");
            let mut got = Vec::new();
            loop {
                let frame = client.recv().await;
                if frame["op"] == "status" {
                    assert_eq!(frame["status"], "sync", "{frame}");
                    return got;
                }
                assert_eq!(frame["type"], "recovered", "{frame}");
                got.push(frame["seq"].as_i64().unwrap());
            }
        }
    });
    for got in futures_util::future::join_all(resumes).await {
        assert_eq!(got, expected);
    }
    assert!(server.runtime().stats().resumes_fetched_total >= 3);
}

/// `bootstrap_lookback_ms`: the snapshots are rebuilt from the records of that
/// window only, found by timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookback_bootstrap_rebuilds_snapshots_from_recent_records_only() {
    let tansu = Tansu::start();
    tansu.create_topic("recent", 1, false);
    let p = producer(&tansu);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let two_hours_ago = FutureRecord::<str, str>::to("recent")
        .key("stale")
        .payload("old")
        .timestamp(now_ms - 2 * 3_600_000);
    p.send(two_hours_ago, Duration::from_secs(10))
        .await
        .unwrap();
    let (_, fresh) = produce(&p, "recent", "fresh", Some("new"), &[]).await;
    let server = start_on_kafka(&tansu, &["recent"], |c| {
        c.broker.kafka.bootstrap_lookback_ms = Some(3_600_000);
    })
    .await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    subscribe(&mut client, 1, "/recent/stale").await;
    subscribe(&mut client, 2, "/recent/fresh").await;
    let snapshot = client.recv().await;
    assert_eq!(
        (snapshot["data"].as_str(), snapshot["seq"].as_i64()),
        (Some("new"), Some(fresh)),
        "only the record inside the lookback has a snapshot"
    );
    assert_quiet(&mut client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_matching_the_pattern_appear_without_a_restart() {
    let tansu = Tansu::start();
    tansu.create_topic("fixed", 1, false);
    let server = start_on_kafka(&tansu, &["fixed"], |c| {
        c.broker.kafka.exposed_topic_pattern = Some("metrics\\..*".into());
    })
    .await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let refused = client
        .request(r#"{"op":"subscribe","id":1,"subjects":["/metrics.cpu/host1"]}"#)
        .await;
    assert_eq!(refused["code"], "not_exposed", "{refused}");
    assert_eq!(client.recv().await["op"], "ok");

    tansu.create_topic("metrics.cpu", 2, false);
    // The next metadata refresh exposes it; until then subscribes are refused.
    let mut id = 2;
    loop {
        let answer = client
            .request(
                &json!({"op":"subscribe","id":id,"subjects":["/metrics.cpu/host1"]}).to_string(),
            )
            .await;
        if answer == json!({"op":"ok","id":id}) {
            break;
        }
        assert_eq!(client.recv().await["op"], "ok");
        id += 1;
        assert!(id < 200, "the new topic was never exposed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = producer(&tansu);
    let (_, offset) = produce(&p, "metrics.cpu", "host1", Some("0.93"), &[]).await;
    let m = client.recv().await;
    assert_eq!(
        (m["data"].as_str(), m["seq"].as_i64()),
        (Some("0.93"), Some(offset))
    );
}

/// Readiness must mean the core has the snapshots, not that they are in flight: the
/// session sends `CaughtUp` behind every bootstrap record (the server waits for the
/// core to apply it), then says Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caught_up_follows_every_bootstrap_record_and_precedes_ready() {
    use sluice_core::BrokerEvent;
    let tansu = Tansu::start();
    tansu.create_topic("boot", 3, false);
    let p = producer(&tansu);
    let mut written = std::collections::BTreeSet::new();
    for i in 0..300 {
        let (partition, offset) = produce(&p, "boot", &format!("k{i}"), Some("v"), &[]).await;
        written.insert((partition as u32, offset as u64));
    }
    let mut config = Config::default();
    common::tansu::use_kafka(&mut config, &tansu, &["boot"]);
    let mut link = sluice_kafka::connect(config.broker.kafka.clone(), vec!["boot".into()])
        .expect("the session starts");
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), link.events.recv())
            .await
            .expect("the bootstrap ends")
            .expect("the session runs");
        match event {
            BrokerEvent::Records(records) => {
                seen.extend(records.iter().map(|r| (r.partition, r.offset)));
            }
            BrokerEvent::CaughtUp => break,
            _ => {}
        }
    }
    assert_eq!(seen, written, "every bootstrap record precedes CaughtUp");
    tokio::time::timeout(
        Duration::from_secs(10),
        link.bootstrap
            .wait_for(|b| *b == sluice_kafka::Bootstrap::Ready),
    )
    .await
    .expect("Ready follows CaughtUp")
    .expect("the session runs");
}

/// Protocol 1.1: the headers a back-end producer sets on its Kafka records reach
/// the subscriptions that ask (`"headers": true`) on the snapshot, live, and on a
/// resume read back from the log; others get v1 messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_headers_from_a_kafka_producer_reach_subscribers_that_ask_for_them() {
    let tansu = Tansu::start();
    tansu.create_topic("events", 2, false);
    let p = producer(&tansu);
    let headers = [("content-type", "application/json"), ("tenant", "acme")];
    let (_, first) = produce(&p, "events", "k", Some("e0"), &headers).await;
    for i in 1..6 {
        produce(&p, "events", "k", Some(&format!("e{i}")), &headers).await;
    }
    // Two messages cached per subject: the resume below is read back from Kafka.
    let server = start_on_kafka(&tansu, &["events"], |c| {
        c.gateway.message_cache_messages_per_subject_max = 2;
    })
    .await;
    let expected = json!({"content-type": "application/json", "tenant": "acme"});

    let mut with = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let subscribe = r#"{"op":"subscribe","id":1,"subjects":["/events/k"],"headers":true}"#;
    assert_eq!(with.request(subscribe).await["op"], "ok");
    let snapshot = with.recv().await;
    assert_eq!(
        (&snapshot["type"], &snapshot["data"], &snapshot["headers"]),
        (&json!("snapshot"), &json!("e5"), &expected),
        "{snapshot}"
    );
    let mut without = RawClient::connect(&server.url(), "sluice.v1.json").await;
    subscribe_plain(&mut without).await;

    produce(&p, "events", "k", Some("live"), &[("trace", "t-1")]).await;
    let live = with.recv().await;
    assert_eq!(live["headers"], json!({"trace": "t-1"}), "{live}");
    let plain = without.recv().await;
    assert_eq!(plain["data"], "live");
    assert!(plain.get("headers").is_none(), "{plain}");

    let epoch = snapshot["epoch"].clone();
    let mut resumer = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let resume = json!({"op":"subscribe","id":1,"subjects":["/events/k"],"headers":true,
        "resume":{"/events/k":{"epoch":epoch,"seq":first}}});
    assert_eq!(resumer.request(&resume.to_string()).await["op"], "ok");
    let mut recovered = 0;
    loop {
        let frame = resumer.recv().await;
        if frame["op"] == "status" {
            assert_eq!(frame["status"], "sync", "{frame}");
            break;
        }
        assert_eq!(frame["type"], "recovered", "{frame}");
        let want = if frame["data"] == "live" {
            json!({"trace": "t-1"})
        } else {
            expected.clone()
        };
        assert_eq!(frame["headers"], want, "{frame}");
        recovered += 1;
    }
    assert_eq!(recovered, 6, "e1..e5 and live");
    assert!(server.runtime().stats().resumes_fetched_total >= 1);
}

async fn subscribe_plain(client: &mut RawClient) {
    subscribe(client, 1, "/events/k").await;
    let snapshot = client.recv().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(snapshot.get("headers").is_none(), "{snapshot}");
}

/// Protocol 1.1 history from Kafka, as a client written from `docs/protocol.md`
/// asks it: 500 past records of a key, among other keys' records, where the cache
/// keeps 128 per subject; read back from the log in windows, complete, in order,
/// then `history_end`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_longer_than_the_cache_is_read_back_from_kafka() {
    let tansu = Tansu::start();
    tansu.create_topic("events", 1, false);
    let p = producer(&tansu);
    let sends = (0..780).map(|i| {
        let p = p.clone();
        async move {
            let (key, value) = if i % 3 == 2 {
                ("other", format!("noise{i}"))
            } else {
                ("k", format!("e{i}"))
            };
            let (_, offset) = produce(&p, "events", key, Some(&value), &[]).await;
            (offset, key)
        }
    });
    let mut written = futures_util::future::join_all(sends).await;
    written.sort();
    let of_k: Vec<i64> = written
        .iter()
        .filter(|(_, key)| *key == "k")
        .map(|(offset, _)| *offset)
        .collect();
    let server = start_on_kafka(&tansu, &["events"], |c| {
        c.gateway.message_cache_messages_per_subject_max = 128;
        c.gateway.history_scan_offsets = 200;
    })
    .await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let request =
        r#"{"op":"subscribe","id":1,"subjects":["/events/k"],"history":500,"history_end":true}"#;
    assert_eq!(client.request(request).await["op"], "ok");
    let mut got = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame["op"] == "status" {
            assert_eq!(frame["status"], "history_end", "{frame}");
            assert_eq!(frame["complete"], true, "{frame}");
            break;
        }
        assert_eq!(frame["type"], "history", "{frame}");
        got.push(frame["seq"].as_i64().unwrap());
    }
    assert_eq!(got, of_k[of_k.len() - 500..]);
}
