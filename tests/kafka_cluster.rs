//! Several gateways on one Kafka, and Kafka itself going away: the SDK fails over
//! with no gap and no duplicate; an outage loses no acknowledged publish.

mod common;

use std::time::Duration;

use common::process::GatewayProcess;
use common::tansu::Tansu;
use common::RawClient;
use serde_json::json;
use sluice::config::BrokerKind;
use sluice_client::{Client, ClientConfig, Event, Events, PublishOptions, SyncStatus};

fn gateway_config(tansu: &Tansu, topic: &str) -> String {
    format!(
        r#"
[gateway]
exposed_topics = ["{topic}"]
publish_timeout_ms = 5000

[broker]
kind = "kafka"

[broker.kafka]
bootstrap_servers = "{}"
metadata_refresh_ms = 500
produce_timeout_ms = 3000
"#,
        tansu.bootstrap()
    )
}

async fn next_event(events: &mut Events) -> Event {
    tokio::time::timeout(common::HANG_GUARD, events.next())
        .await
        .expect("an event within the hang guard")
        .expect("events open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_kafka_and_the_sdk_fails_over_without_gap_or_duplicate() {
    let tansu = Tansu::start();
    tansu.create_topic("fleet", 2, false);
    let config = gateway_config(&tansu, "fleet");
    let mut gateway_a = GatewayProcess::start(Some(&config));
    let gateway_b = GatewayProcess::start(Some(&config));

    let (reader, mut events) = Client::connect(ClientConfig::with_servers([
        gateway_a.url.clone(),
        gateway_b.url.clone(),
    ]))
    .await
    .unwrap();
    let (writer, mut writer_events) =
        Client::connect(ClientConfig::with_servers([gateway_b.url.clone()]))
            .await
            .unwrap();
    tokio::spawn(async move { while writer_events.next().await.is_some() {} });
    assert!(
        matches!(next_event(&mut events).await, Event::Connected { server } if server == gateway_a.url)
    );
    let subscribe = tokio::spawn({
        let reader = reader.clone();
        async move { reader.subscribe(&["/fleet/truck-7"]).await }
    });

    // Published through B, received on A: Kafka carries it between the gateways.
    let first = writer
        .publish("/fleet/truck-7", "p0", PublishOptions::default())
        .await
        .unwrap();
    let Event::Message(m) = next_event(&mut events).await else {
        panic!("expected the message")
    };
    assert_eq!((m.seq, &m.epoch), (first.seq, &first.epoch));
    assert!(subscribe.await.unwrap().unwrap().all_accepted());

    // A dies; meanwhile B takes more publishes.
    gateway_a.kill();
    let mut acked = Vec::new();
    for i in 1..=20 {
        acked.push(
            writer
                .publish("/fleet/truck-7", format!("p{i}"), PublishOptions::default())
                .await
                .unwrap()
                .seq,
        );
    }
    let mut received = Vec::new();
    let mut synced = false;
    while received.len() < acked.len() || !synced {
        match next_event(&mut events).await {
            Event::Message(m) => received.push(m.seq),
            Event::Status { status, .. } => {
                assert_eq!(
                    status,
                    SyncStatus::Sync,
                    "both gateways read one log: resume must not resync"
                );
                synced = true;
            }
            Event::Connected { server } => assert_eq!(server, gateway_b.url),
            Event::Disconnected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        received, acked,
        "no gap and no duplicate across the failover"
    );
}

async fn publish(publisher: &mut RawClient, id: u64) -> serde_json::Value {
    let frame = json!({"op":"publish","id":id,"subject":"/ops/x","data":format!("m{id}")});
    publisher.request(&frame.to_string()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_outage_keeps_clients_connected_and_loses_no_acknowledged_publish() {
    let mut tansu = Tansu::start();
    tansu.create_topic("ops", 1, false);
    let server = common::start(|c| {
        c.gateway.exposed_topics = vec!["ops".into()];
        c.gateway.publish_timeout_ms = 5_000;
        c.broker.kind = BrokerKind::Kafka;
        c.broker.kafka = sluice_kafka::KafkaConfig {
            bootstrap_servers: tansu.bootstrap(),
            metadata_refresh_ms: 500,
            produce_timeout_ms: 2_000,
            ..sluice_kafka::KafkaConfig::default()
        };
    })
    .await;
    let mut subscriber = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        subscriber
            .request(r#"{"op":"subscribe","id":1,"subjects":["/ops/x"]}"#)
            .await["op"],
        "ok"
    );
    let mut publisher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let mut acked = Vec::new();
    let mut next_id = 0u64;
    for _ in 0..5 {
        next_id += 1;
        let (id, answer) = (next_id, publish(&mut publisher, next_id).await);
        assert_eq!(answer["op"], "ack", "{answer}");
        acked.push((id, answer["seq"].as_u64().unwrap()));
    }

    tansu.stop();
    let mut refused = 0;
    for _ in 0..3 {
        next_id += 1;
        let (id, answer) = (next_id, publish(&mut publisher, next_id).await);
        match answer["op"].as_str() {
            Some("ack") => acked.push((id, answer["seq"].as_u64().unwrap())),
            _ => {
                assert_eq!(
                    (answer["op"].as_str(), answer["code"].as_str()),
                    (Some("error"), Some("unavailable")),
                    "{answer}"
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "publishes succeeded with Kafka down");
    // Both clients are still connected and served.
    assert_eq!(
        subscriber.request(r#"{"op":"ping","id":2}"#).await["op"],
        "ok"
    );

    tansu.restart();
    let mut after = 0;
    for _ in 0..200 {
        next_id += 1;
        let (id, answer) = (next_id, publish(&mut publisher, next_id).await);
        if answer["op"] == "ack" {
            acked.push((id, answer["seq"].as_u64().unwrap()));
            after += 1;
            if after == 5 {
                break;
            }
        } else {
            assert_eq!(answer["code"], "unavailable", "{answer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(
        after, 5,
        "Kafka came back but publishes were not acknowledged"
    );

    // The subscriber receives every acknowledged publish exactly once, in order.
    let mut seen = Vec::new();
    while seen.len() < acked.len() {
        let m = subscriber.recv().await;
        assert_eq!(m["op"], "message", "{m}");
        seen.push((
            m["data"].as_str().unwrap().to_owned(),
            m["seq"].as_u64().unwrap(),
        ));
    }
    let expected: Vec<(String, u64)> = acked
        .iter()
        .map(|(id, seq)| (format!("m{id}"), *seq))
        .collect();
    assert_eq!(seen, expected);
}
