//! The Portal on the embedded broker: a topic exposed through the admin API is
//! usable at once, stopping it tells its subscribers (`not_exposed`) and nobody
//! else, every shard gets the change, and the change survives a restart of the
//! gateway process (the state file under `portal.data_dir`).

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use common::admin_api::Admin;
use common::process::GatewayProcess;
use common::{assert_quiet, RawClient};
use serde_json::{json, Value};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-portal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn subscribe(client: &mut RawClient, id: u64, subject: &str) -> Value {
    client
        .request(&json!({"op":"subscribe","id":id,"subjects":[subject]}).to_string())
        .await
}

fn topic<'a>(topics: &'a Value, name: &str) -> Option<&'a Value> {
    topics["topics"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_exposed_live_is_usable_and_stopping_it_ends_only_its_subscriptions() {
    let dir = temp_dir("live");
    let server = common::start(|c| c.portal.data_dir = Some(dir.clone())).await;
    let admin = Admin::new(server.admin_addr());
    let broker = server.broker().unwrap().clone();

    let mut early = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let refused = subscribe(&mut early, 1, "/news/x").await;
    assert_eq!(refused["code"], "not_exposed", "{refused}");
    assert_eq!(early.recv().await, json!({"op":"ok","id":1}));

    let (status, answer) = admin.put("/api/v1/topics/news", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["exposed"], &answer["applied"]),
        (&json!(true), &json!(true))
    );

    let mut reader = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        subscribe(&mut reader, 1, "/news/x").await,
        json!({"op":"ok","id":1})
    );
    let mut bystander = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        subscribe(&mut bystander, 1, "/demo/y").await,
        json!({"op":"ok","id":1})
    );

    let (_, offset) = broker
        .produce_keyed(
            "news",
            Some(Bytes::from("x")),
            Some(Bytes::from("hello")),
            vec![],
        )
        .unwrap();
    let message = reader.recv().await;
    assert_eq!(
        (message["data"].as_str(), message["seq"].as_u64()),
        (Some("hello"), Some(offset))
    );

    let (status, topics) = admin.get("/api/v1/topics").await;
    assert_eq!(status, 200);
    let news = topic(&topics, "news").expect("news is listed");
    assert_eq!(
        (
            &news["subscribers"],
            &news["subjects_with_snapshot"],
            &news["partitions"]
        ),
        (&json!(1), &json!(1), &json!(4))
    );

    let (status, stats) = admin.get("/api/v1/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &stats["connections"]["websocket"],
            &stats["clients"],
            &stats["subscriptions"],
            &stats["deliveries_total"]
        ),
        (&json!(3), &json!(3), &json!(2), &json!(1)),
        "{stats}"
    );
    assert!(stats["history"].as_array().is_some_and(|h| !h.is_empty()));

    let (status, broker_view) = admin.get("/api/v1/broker").await;
    assert_eq!(status, 200);
    let partitions = broker_view["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "news")
        .expect("news in the broker view")["partitions"]
        .clone();
    let written = partitions
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["log_end"] == json!(offset + 1))
        .expect("the partition written to");
    assert_eq!(written["lag_records"], 0, "{broker_view}");

    let (status, page) = admin.get("/api/v1/topics/news/subjects").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["subjects"][0]["subject"], "/news/x");
    assert_eq!(page["subjects"][0]["snapshot_preview"], "hello");
    assert_eq!(page["subjects"][0]["seq"], json!(offset));
    assert_eq!(page["subjects"][0]["subscribers"], 1);
    assert_eq!(page["next_cursor"], Value::Null);

    let (status, answer) = admin.delete("/api/v1/topics/news").await;
    assert_eq!(status, 200, "{answer}");
    let told = reader.recv().await;
    assert_eq!(
        (&told["op"], &told["code"], &told["subject"]),
        (&json!("error"), &json!("not_exposed"), &json!("/news/x")),
        "{told}"
    );
    // Its subscription ended: a later record is not delivered.
    broker
        .produce_keyed(
            "news",
            Some(Bytes::from("x")),
            Some(Bytes::from("after")),
            vec![],
        )
        .unwrap();
    assert_quiet(&mut reader).await;
    let refused = subscribe(&mut reader, 2, "/news/x").await;
    assert_eq!(refused["code"], "not_exposed", "{refused}");

    // Nobody else was disturbed.
    broker
        .produce_keyed(
            "demo",
            Some(Bytes::from("y")),
            Some(Bytes::from("still here")),
            vec![],
        )
        .unwrap();
    assert_eq!(bystander.recv().await["data"], "still here");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shard_gets_the_change() {
    // Without `portal.data_dir` changes last as long as the process.
    let server = common::start(|c| c.runtime.shards = 2).await;
    let admin = Admin::new(server.admin_addr());
    let (_, info) = admin.get("/api/v1/info").await;
    assert_eq!(
        (&info["changes_durable"], &info["shards"]),
        (&json!(false), &json!(2))
    );
    assert_eq!(admin.put("/api/v1/topics/news", None).await.0, 200);
    // Connections are dealt to the two shards in turn.
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
        assert_eq!(
            subscribe(&mut client, 1, "/news/a").await,
            json!({"op":"ok","id":1})
        );
        clients.push(client);
    }
    let per_shard: Vec<u64> = server
        .runtimes()
        .iter()
        .map(|r| r.stats().subscriptions_active)
        .collect();
    assert_eq!(per_shard, [1, 1]);
    let (_, topics) = admin.get("/api/v1/topics").await;
    assert_eq!(topic(&topics, "news").unwrap()["subscribers"], 2);

    assert_eq!(admin.delete("/api/v1/topics/news").await.0, 200);
    for client in &mut clients {
        assert_eq!(client.recv().await["code"], "not_exposed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_changes_survive_a_restart() {
    let dir = temp_dir("restart");
    let config = format!(
        "[gateway]\nexposed_topics = [\"demo\", \"chat\"]\n\n[portal]\ndata_dir = {:?}\n",
        dir.display().to_string()
    );
    let mut gateway = GatewayProcess::start(Some(&config));
    let admin = Admin::from_url(&gateway.admin_url);
    assert_eq!(admin.put("/api/v1/topics/news", None).await.0, 200);
    assert_eq!(admin.delete("/api/v1/topics/chat").await.0, 200);
    let (status, _) = admin
        .put("/api/v1/patterns", Some(r#"{"regex":"metrics\\..*"}"#))
        .await;
    assert_eq!(status, 200);
    assert!(dir.join("portal-state.json").exists());
    gateway.kill();

    let gateway = GatewayProcess::start(Some(&config));
    let mut client = RawClient::connect(&gateway.url, "sluice.v1.json").await;
    assert_eq!(
        subscribe(&mut client, 1, "/news/x").await,
        json!({"op":"ok","id":1})
    );
    let refused = subscribe(&mut client, 2, "/chat/x").await;
    assert_eq!(
        refused["code"], "not_exposed",
        "a topic stopped through the Portal stays stopped: {refused}"
    );
    let admin = Admin::from_url(&gateway.admin_url);
    let (_, patterns) = admin.get("/api/v1/patterns").await;
    assert_eq!(patterns["patterns"][0]["regex"], "metrics\\..*");
    let _ = std::fs::remove_dir_all(&dir);
}
