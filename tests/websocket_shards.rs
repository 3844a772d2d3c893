//! `[runtime] shards = 2` end to end over real WebSockets: connections are dealt to
//! both shards, each shard's core reads every record of the shared embedded broker
//! (snapshots, live updates and resumes agree across shards), and the admin
//! listener adds the shards' stats up.

mod common;

use common::{http, RawClient};
use serde_json::{json, Value};

async fn publish(client: &mut RawClient, id: u64, data: &str) -> Value {
    let ack = client
        .request(&json!({"op":"publish","id":id,"subject":"/demo/sharded","data":data}).to_string())
        .await;
    assert_eq!(ack["op"], "ack", "{ack}");
    ack
}

async fn subscriber(url: &str) -> RawClient {
    let mut client = RawClient::connect(url, "sluice.v1.json").await;
    let subscribe = r#"{"op":"subscribe","id":1,"subjects":["/demo/sharded"]}"#;
    assert_eq!(client.request(subscribe).await, json!({"op":"ok","id":1}));
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_serve_one_gateway() {
    let server = common::start(|config| config.runtime.shards = 2).await;
    let url = server.url();
    let mut publisher = RawClient::connect(&url, "sluice.v1.json").await;
    let first = publish(&mut publisher, 1, "v1").await;

    // Four subscribers, dealt to the shards in turn after the publisher: each
    // gets the snapshot its own shard built from the log.
    let mut subscribers = Vec::new();
    for _ in 0..4 {
        let mut client = subscriber(&url).await;
        let snapshot = client.recv().await;
        assert_eq!(
            snapshot,
            json!({"op":"message","subject":"/demo/sharded","data":"v1","seq":first["seq"],"epoch":first["epoch"],"type":"snapshot"})
        );
        subscribers.push(client);
    }
    let shards = server.runtimes();
    assert_eq!(shards.len(), 2);
    let clients: Vec<u64> = shards
        .iter()
        .map(|shard| shard.stats().clients_connected)
        .collect();
    assert_eq!(clients, [3, 2], "five connections dealt in turn");

    // A publish on one shard reaches the subscribers of both.
    let second = publish(&mut publisher, 2, "v2").await;
    for client in &mut subscribers {
        let update = client.recv().await;
        assert_eq!(
            (&update["data"], &update["seq"]),
            (&json!("v2"), &second["seq"])
        );
    }

    // A client that saw only v1 resumes on whichever shard it lands: exactly v2,
    // then sync. Two resumes, so both shards serve one.
    for id in 0..2 {
        let mut client = RawClient::connect(&url, "sluice.v1.json").await;
        let resume = json!({"op":"subscribe","id":id,"subjects":["/demo/sharded"],
            "resume":{"/demo/sharded":{"epoch":first["epoch"],"seq":first["seq"]}}});
        assert_eq!(
            client.request(&resume.to_string()).await,
            json!({"op":"ok","id":id})
        );
        let recovered = client.recv().await;
        assert_eq!(
            (&recovered["type"], &recovered["seq"]),
            (&json!("recovered"), &second["seq"])
        );
        assert_eq!(
            client.recv().await,
            json!({"op":"status","subject":"/demo/sharded","status":"sync"})
        );
    }

    // The admin listener shows the gateway, not one shard: the publisher and the
    // four subscribers (the resumed clients are gone).
    let (status, body) = http::get(server.admin_addr(), "/metrics").await;
    assert_eq!(status, 200);
    let connected = body
        .lines()
        .find_map(|line| line.strip_prefix("sluice_clients "))
        .expect("sluice_clients on /metrics");
    assert_eq!(connected.trim(), "5", "{body}");
}
