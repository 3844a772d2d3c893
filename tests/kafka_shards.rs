//! `[runtime] shards = 2` on Kafka (tansu): one consumer for the process, its records
//! reaching both shards' cores. Clients on either shard get the same snapshot (from
//! the bootstrap), the same live records (from a back-end producer with
//! librdkafka's defaults, and from a client's publish), and the same resumes; the
//! listener (and `/readyz`) wait for both shards to apply the bootstrap.

mod common;

use std::time::Duration;

use common::tansu::Tansu;
use common::{http, RawClient};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const SUBJECT: &str = "/fleet/truck-1";

/// A back-end record, written with librdkafka's default partitioner; its offset.
async fn produce(producer: &FutureProducer, value: &str) -> i64 {
    producer
        .send(
            FutureRecord::<str, str>::to("fleet")
                .key("truck-1")
                .payload(value),
            Duration::from_secs(10),
        )
        .await
        .expect("tansu accepts the record")
        .offset
}

async fn subscriber(url: &str) -> RawClient {
    let mut client = RawClient::connect(url, "sluice.v1.json").await;
    let subscribe = json!({"op":"subscribe","id":1,"subjects":[SUBJECT]}).to_string();
    assert_eq!(client.request(&subscribe).await, json!({"op":"ok","id":1}));
    client
}

fn data_and_seq(message: &Value) -> (Value, Value) {
    (message["data"].clone(), message["seq"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_on_kafka_share_one_consumer_and_agree() {
    let tansu = Tansu::start();
    tansu.create_topic("fleet", 2, false);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    let v1 = produce(&producer, "v1").await;
    let server = common::start(|c| {
        common::tansu::use_kafka(c, &tansu, &["fleet"]);
        // As docs/configuration.md advises for librdkafka-based producers.
        c.gateway.partitioner = sluice_core::partitioner::Partitioner::Consistent;
        c.runtime.shards = 2;
    })
    .await;
    assert_eq!(server.runtimes().len(), 2);
    // The listener opens only once both shards' cores applied the bootstrap, so
    // the gateway is ready the moment it listens.
    for shard in server.runtimes() {
        assert!(
            shard.broker_caught_up(),
            "listening before every shard caught up"
        );
    }
    let (status, body) = http::get(server.admin_addr(), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let url = server.url();

    // Four subscribers, dealt to the shards in turn: each gets the snapshot its own
    // shard rebuilt from Kafka.
    let mut subscribers = Vec::new();
    for _ in 0..4 {
        let mut client = subscriber(&url).await;
        let snapshot = client.recv().await;
        assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        assert_eq!(data_and_seq(&snapshot), (json!("v1"), json!(v1)));
        subscribers.push(client);
    }
    let clients: Vec<u64> = server
        .runtimes()
        .iter()
        .map(|shard| shard.stats().clients_connected)
        .collect();
    assert_eq!(clients, [2, 2], "four connections dealt in turn");

    // A back-end record and a client's publish reach the subscribers of both shards.
    let v2 = produce(&producer, "v2").await;
    let mut publisher = RawClient::connect(&url, "sluice.v1.json").await;
    let ack = publisher
        .request(&json!({"op":"publish","id":1,"subject":SUBJECT,"data":"v3"}).to_string())
        .await;
    assert_eq!(ack["op"], "ack", "{ack}");
    for client in &mut subscribers {
        assert_eq!(data_and_seq(&client.recv().await), (json!("v2"), json!(v2)));
        assert_eq!(
            data_and_seq(&client.recv().await),
            (json!("v3"), ack["seq"].clone())
        );
    }

    // A client that saw only v1 resumes on either shard: exactly v2 and v3, then sync.
    let epoch = ack["epoch"].clone();
    for id in 0..2 {
        let mut client = RawClient::connect(&url, "sluice.v1.json").await;
        let resume = json!({"op":"subscribe","id":id,"subjects":[SUBJECT],
            "resume":{SUBJECT:{"epoch":epoch,"seq":v1}}});
        assert_eq!(
            client.request(&resume.to_string()).await,
            json!({"op":"ok","id":id})
        );
        for (data, seq) in [(json!("v2"), json!(v2)), (json!("v3"), ack["seq"].clone())] {
            let recovered = client.recv().await;
            assert_eq!(recovered["type"], "recovered", "{recovered}");
            assert_eq!(data_and_seq(&recovered), (data, seq));
        }
        assert_eq!(
            client.recv().await,
            json!({"op":"status","subject":SUBJECT,"status":"sync"})
        );
    }
}
