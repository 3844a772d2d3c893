//! The Portal on Kafka (tansu): an exposure made through one gateway's admin API
//! reaches the other gateways of the cluster through the compacted topic, within
//! seconds (metadata refreshes are 30 s apart here, so only the Portal's change can
//! make it that quick); records then flow; a gateway started later has it from the
//! start; stopping it tells the subscribers of every gateway. The same for a
//! pattern.

mod common;

use std::time::Duration;

use common::admin_api::Admin;
use common::tansu::Tansu;
use common::RawClient;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use sluice::server::Server;

async fn gateway(tansu: &Tansu) -> Server {
    common::start(|c| {
        common::tansu::use_kafka(c, tansu, &["fixed"]);
        // Only the Portal's change may make a new topic appear within seconds.
        c.broker.kafka.metadata_refresh_ms = 30_000;
    })
    .await
}

async fn subscribe(client: &mut RawClient, id: u64, subject: &str) -> Value {
    client
        .request(&json!({"op":"subscribe","id":id,"subjects":[subject]}).to_string())
        .await
}

/// Subscribes until the answer is `ok` (each refusal is followed by its `ok`);
/// bounded by the tests' hang guard.
async fn subscribe_once_exposed(client: &mut RawClient, subject: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut id = 1;
    loop {
        let answer = subscribe(client, id, subject).await;
        if answer == json!({"op":"ok","id":id}) {
            return;
        }
        assert_eq!(answer["code"], "not_exposed", "{answer}");
        assert_eq!(client.recv().await, json!({"op":"ok","id":id}));
        assert!(
            tokio::time::Instant::now() < deadline,
            "{subject} was never exposed on this gateway"
        );
        id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposure_through_one_gateway_reaches_the_others() {
    let tansu = Tansu::start();
    tansu.create_topic("fixed", 1, false);
    tansu.create_topic("orders", 2, false);
    let a = gateway(&tansu).await;
    let b = gateway(&tansu).await;
    let admin_a = Admin::new(a.admin_addr());

    let (status, answer) = admin_a.put("/api/v1/topics/nowhere", None).await;
    assert_eq!(
        (status, &answer["error"]),
        (404, &json!("unknown_topic")),
        "{answer}"
    );

    let mut client_b = RawClient::connect(&b.url(), "sluice.v1.json").await;
    let refused = subscribe(&mut client_b, 100, "/orders/k").await;
    assert_eq!(refused["code"], "not_exposed");
    assert_eq!(client_b.recv().await, json!({"op":"ok","id":100}));

    let (status, answer) = admin_a.put("/api/v1/topics/orders", None).await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    subscribe_once_exposed(&mut client_b, "/orders/k").await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let delivery = producer
        .send(
            FutureRecord::to("orders").key("k").payload("first"),
            Duration::from_secs(10),
        )
        .await
        .expect("tansu takes the record");
    let message = client_b.recv().await;
    assert_eq!(
        (message["data"].as_str(), message["seq"].as_i64()),
        (Some("first"), Some(delivery.offset))
    );

    // A gateway started now reads the change with the compacted topic, and has
    // the topic (and its snapshot) from its start.
    let c = gateway(&tansu).await;
    let mut client_c = RawClient::connect(&c.url(), "sluice.v1.json").await;
    assert_eq!(
        subscribe(&mut client_c, 1, "/orders/k").await,
        json!({"op":"ok","id":1})
    );
    assert_eq!(client_c.recv().await["data"], "first");

    // Stopping it on A tells the subscribers of B and C.
    let (status, answer) = admin_a.delete("/api/v1/topics/orders").await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    for client in [&mut client_b, &mut client_c] {
        let told = client.recv().await;
        assert_eq!(
            (&told["code"], &told["subject"]),
            (&json!("not_exposed"), &json!("/orders/k")),
            "{told}"
        );
    }

    let (status, broker) = Admin::new(b.admin_addr()).get("/api/v1/broker").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&broker["kind"], &broker["reachable"]),
        (&json!("kafka"), &json!(true)),
        "{broker}"
    );
    assert_eq!(
        broker["bootstrap_servers"][0],
        json!({"server": tansu.bootstrap(), "reachable": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_exposed_through_one_gateway_exposes_matching_topics_on_the_others() {
    let tansu = Tansu::start();
    tansu.create_topic("fixed", 1, false);
    tansu.create_topic("metrics.cpu", 1, false);
    let a = gateway(&tansu).await;
    let b = gateway(&tansu).await;
    let admin_a = Admin::new(a.admin_addr());

    let (status, answer) = admin_a
        .put("/api/v1/patterns", Some(r#"{"regex":"metrics\\..*"}"#))
        .await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    let mut client_b = RawClient::connect(&b.url(), "sluice.v1.json").await;
    subscribe_once_exposed(&mut client_b, "/metrics.cpu/h1").await;
    let refused = subscribe(&mut client_b, 1000, "/fixedx/h1").await;
    assert_eq!(refused["code"], "not_exposed", "{refused}");
    assert_eq!(client_b.recv().await, json!({"op":"ok","id":1000}));

    let (_, patterns) = Admin::new(b.admin_addr()).get("/api/v1/patterns").await;
    assert_eq!(
        patterns["patterns"][0],
        json!({"regex": "metrics\\..*", "topics": ["metrics.cpu"]})
    );
    let (status, _) = admin_a
        .delete("/api/v1/patterns?regex=metrics%5C..%2A")
        .await;
    assert!(status == 200 || status == 202);
    let told = client_b.recv().await;
    assert_eq!(
        (&told["code"], &told["subject"]),
        (&json!("not_exposed"), &json!("/metrics.cpu/h1")),
        "{told}"
    );
}

/// An expose waits until the topic was read to its end before the cores apply it;
/// a stop that comes while it waits must not be undone when the wait ends. The
/// two changes are written to the Portal's compacted topic back to back, as two
/// operators on two gateways could, so every gateway reads the stop while its
/// expose still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_right_behind_an_expose_stays_stopped_on_every_gateway() {
    let tansu = Tansu::start();
    tansu.create_topic("fixed", 1, false);
    tansu.create_topic("flash", 2, false);
    let a = gateway(&tansu).await;
    let b = gateway(&tansu).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    for exposed in [true, false] {
        let change = json!({
            "change": {"kind": "topic", "name": "flash", "exposed": exposed},
            "by": "a test, as another gateway's API",
            "at_ms": 0,
        })
        .to_string();
        producer
            .send(
                FutureRecord::to("_sluice_portal")
                    .key("topic:flash")
                    .payload(&change),
                Duration::from_secs(10),
            )
            .await
            .expect("tansu takes the change");
    }

    // After the stop the gateways no longer read the topic, so the expose's wait
    // runs to its 60 s cap (src/portal_wiring.rs, CATCH_UP_WAIT_MAX): a
    // superseded expose would have landed 5 s after that.
    tokio::time::sleep(Duration::from_secs(65)).await;
    for gateway in [&a, &b] {
        let mut client = RawClient::connect(&gateway.url(), "sluice.v1.json").await;
        let answer = subscribe(&mut client, 1, "/flash/k").await;
        assert_eq!(answer["code"], "not_exposed", "{answer}");
    }
}
