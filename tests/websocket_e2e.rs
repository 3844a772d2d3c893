//! Protocol v1 end to end over real WebSockets on loopback, frame by frame.

mod common;

use common::RawClient;
use serde_json::{json, Value};

async fn publish(client: &mut RawClient, id: u64, subject: &str, data: &str) -> Value {
    let ack = client
        .request(&json!({"op":"publish","id":id,"subject":subject,"data":data}).to_string())
        .await;
    assert_eq!(ack["op"], "ack", "{ack}");
    assert_eq!(ack["id"], id);
    ack
}

#[tokio::test]
async fn two_clients_snapshot_live_ack_unsubscribe() {
    let server = common::start(|_| {}).await;
    let mut alice = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let mut bob = RawClient::connect(&server.url(), "sluice.v1.json").await;

    // Alice sets a value before anyone listens: it becomes the snapshot.
    let first = publish(&mut alice, 1, "/demo/room", "v1").await;

    assert_eq!(
        bob.request(r#"{"op":"subscribe","id":1,"subjects":["/demo/room"]}"#)
            .await,
        json!({"op":"ok","id":1})
    );
    let snapshot = bob.recv().await;
    assert_eq!(
        snapshot,
        json!({"op":"message","subject":"/demo/room","data":"v1","seq":first["seq"],"epoch":first["epoch"],"type":"snapshot"})
    );

    // Live: the update Bob receives carries the seq of Alice's ack.
    let second = publish(&mut alice, 2, "/demo/room", "v2").await;
    let update = bob.recv().await;
    assert_eq!(
        update,
        json!({"op":"message","subject":"/demo/room","data":"v2","seq":second["seq"],"epoch":second["epoch"],"type":"update"})
    );
    assert!(second["seq"].as_u64() > first["seq"].as_u64());

    // A non-retained message is delivered but does not replace the snapshot.
    let transient = alice
        .request(
            r#"{"op":"publish","id":3,"subject":"/demo/room","data":"typing","retained":false}"#,
        )
        .await;
    assert_eq!(transient["op"], "ack");
    assert_eq!(bob.recv().await["data"], "typing");

    // A late subscriber gets the latest retained value.
    let mut carol = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        carol
            .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/room"]}"#)
            .await["op"],
        "ok"
    );
    let snap = carol.recv().await;
    assert_eq!(
        (snap["type"].as_str(), snap["data"].as_str()),
        (Some("snapshot"), Some("v2"))
    );

    // After the unsubscribe ok, nothing more arrives for that subject.
    assert_eq!(
        bob.request(r#"{"op":"unsubscribe","id":4,"subjects":["/demo/room"]}"#)
            .await,
        json!({"op":"ok","id":4})
    );
    publish(&mut alice, 5, "/demo/room", "v3").await;
    assert_eq!(carol.recv().await["data"], "v3");
    assert_eq!(
        bob.request(r#"{"op":"ping","id":6}"#).await,
        json!({"op":"ok","id":6}),
        "bob got a message after unsubscribing"
    );
}

#[tokio::test]
async fn resume_after_a_lost_connection_gets_exactly_the_missed_messages_then_sync() {
    let server = common::start(|_| {}).await;
    let mut publisher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let mut reader = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        reader
            .request(r#"{"op":"subscribe","id":1,"subjects":["/chat/lobby"]}"#)
            .await["op"],
        "ok"
    );
    let ack = publish(&mut publisher, 1, "/chat/lobby", "before").await;
    let seen = reader.recv().await;
    assert_eq!(seen["seq"], ack["seq"]);
    let (epoch, last) = (seen["epoch"].clone(), seen["seq"].as_u64().unwrap());
    drop(reader); // the connection dies

    let mut expected = Vec::new();
    for i in 0..100u64 {
        let ack = publish(&mut publisher, 100 + i, "/chat/lobby", &format!("m{i}")).await;
        expected.push((ack["seq"].as_u64().unwrap(), format!("m{i}")));
        // Noise on other subjects of the same topic must not leak in.
        publish(
            &mut publisher,
            1000 + i,
            &format!("/chat/other{}", i % 7),
            "noise",
        )
        .await;
    }

    let mut reader = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let resume = json!({"op":"subscribe","id":2,"subjects":["/chat/lobby"],"resume":{"/chat/lobby":{"epoch":epoch,"seq":last}}});
    assert_eq!(
        reader.request(&resume.to_string()).await,
        json!({"op":"ok","id":2})
    );
    for (seq, data) in &expected {
        let m = reader.recv().await;
        assert_eq!(
            m,
            json!({"op":"message","subject":"/chat/lobby","data":data,"seq":seq,"epoch":epoch,"type":"recovered"})
        );
    }
    assert_eq!(
        reader.recv().await,
        json!({"op":"status","subject":"/chat/lobby","status":"sync"})
    );
    // Then live, with no duplicate.
    let ack = publish(&mut publisher, 9999, "/chat/lobby", "live").await;
    let m = reader.recv().await;
    assert_eq!(
        (m["type"].as_str(), &m["seq"]),
        (Some("update"), &ack["seq"])
    );
}

#[tokio::test]
async fn resume_older_than_the_cache_is_read_back_from_the_broker() {
    // A cache of 4 messages per subject: a resume 50 messages back must come from the log.
    let server = common::start(|c| c.gateway.message_cache_messages_per_subject_max = 4).await;
    let mut publisher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let first = publish(&mut publisher, 1, "/demo/deep", "m0").await;
    let mut expected = Vec::new();
    for i in 1..=50u64 {
        let ack = publish(&mut publisher, 1 + i, "/demo/deep", &format!("m{i}")).await;
        expected.push(ack["seq"].as_u64().unwrap());
    }
    let mut reader = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let resume = json!({"op":"subscribe","id":1,"subjects":["/demo/deep"],"resume":{"/demo/deep":{"epoch":first["epoch"],"seq":first["seq"]}}});
    assert_eq!(reader.request(&resume.to_string()).await["op"], "ok");
    let mut got = Vec::new();
    loop {
        let frame = reader.recv().await;
        if frame["op"] == "status" {
            assert_eq!(frame["status"], "sync");
            break;
        }
        assert_eq!(frame["type"], "recovered");
        got.push(frame["seq"].as_u64().unwrap());
    }
    assert_eq!(got, expected);
    assert!(server.runtime().stats().resumes_fetched_total >= 1);
}

#[tokio::test]
async fn resume_with_a_foreign_epoch_gets_resync_then_snapshot() {
    let server = common::start(|_| {}).await;
    let mut publisher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let ack = publish(&mut publisher, 1, "/demo/e", "value").await;
    let mut reader = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let resume = r#"{"op":"subscribe","id":1,"subjects":["/demo/e"],"resume":{"/demo/e":{"epoch":"gone-0","seq":3}}}"#;
    assert_eq!(reader.request(resume).await["op"], "ok");
    assert_eq!(
        reader.recv().await,
        json!({"op":"status","subject":"/demo/e","status":"resync"})
    );
    let snap = reader.recv().await;
    assert_eq!(
        (snap["type"].as_str(), &snap["seq"]),
        (Some("snapshot"), &ack["seq"])
    );
}

#[tokio::test]
async fn history_tombstones_and_binary_payloads() {
    let server = common::start(|_| {}).await;
    let mut c = RawClient::connect(&server.url(), "sluice.v1.json").await;
    for i in 0..5 {
        publish(&mut c, i, "/demo/h", &format!("h{i}")).await;
    }
    assert_eq!(
        c.request(r#"{"op":"subscribe","id":10,"subjects":["/demo/h"],"history":3}"#)
            .await["op"],
        "ok"
    );
    for i in 2..5 {
        let m = c.recv().await;
        assert_eq!(
            (m["type"].as_str(), m["data"].as_str()),
            (Some("history"), Some(format!("h{i}").as_str()))
        );
    }
    // Non-UTF-8 payloads travel as base64.
    let ack = c
        .request(r#"{"op":"publish","id":11,"subject":"/demo/h","data":"/w==","b64":true}"#)
        .await;
    assert_eq!(ack["op"], "ack");
    let m = c.recv().await;
    assert_eq!(
        (m["data"].as_str(), m["b64"].as_bool()),
        (Some("/w=="), Some(true))
    );

    // A tombstone written to the log deletes the snapshot and reaches subscribers as null data.
    let broker = server.broker().unwrap();
    broker
        .produce_keyed(
            "demo",
            Some(bytes::Bytes::from_static(b"h")),
            None,
            Vec::new(),
        )
        .unwrap();
    let m = c.recv().await;
    assert_eq!(
        (m["type"].as_str(), &m["data"]),
        (Some("update"), &Value::Null)
    );
    let mut late = RawClient::connect(&server.url(), "sluice.v1.json").await;
    assert_eq!(
        late.request(r#"{"op":"subscribe","id":1,"subjects":["/demo/h"]}"#)
            .await["op"],
        "ok"
    );
    assert_eq!(
        late.request(r#"{"op":"ping","id":2}"#).await,
        json!({"op":"ok","id":2}),
        "no snapshot after a tombstone"
    );
}

#[tokio::test]
async fn slow_consumer_is_disconnected_and_others_go_on() {
    let server = common::start(|c| {
        c.gateway.client_queue_bytes_max = 64 * 1024;
        c.gateway.frame_bytes_max = 32 * 1024;
    })
    .await;
    let url = server.url();
    let mut slow = RawClient::connect(&url, "sluice.v1.json").await;
    assert_eq!(
        slow.request(r#"{"op":"subscribe","id":1,"subjects":["/demo/firehose"]}"#)
            .await["op"],
        "ok"
    );
    let mut fast = RawClient::connect(&url, "sluice.v1.json").await;
    assert_eq!(
        fast.request(r#"{"op":"subscribe","id":1,"subjects":["/demo/firehose"]}"#)
            .await["op"],
        "ok"
    );

    // The slow client never reads; the broker writes far more than its queue and the
    // socket buffers hold, while the fast client keeps up.
    let payload = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
    let mut closed = false;
    for i in 0..2000 {
        server
            .broker()
            .unwrap()
            .produce_keyed(
                "demo",
                Some(bytes::Bytes::from_static(b"firehose")),
                Some(payload.clone()),
                Vec::new(),
            )
            .unwrap();
        let m = fast.recv().await;
        assert_eq!(m["type"], "update", "message {i}");
        if server.runtime().stats().slow_consumer_disconnects_total > 0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow consumer was never disconnected");
    // Its socket still holds what was written before the close; the close frame follows.
    loop {
        let next = tokio::time::timeout(common::HANG_GUARD, slow.recv_frame())
            .await
            .expect("close within the hang guard");
        match next {
            Some(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                let frame = frame.expect("a close frame with a reason");
                assert_eq!(
                    (u16::from(frame.code), frame.reason.as_str()),
                    (1008, "slow_consumer")
                );
                break;
            }
            Some(_) => continue,
            None => panic!("connection ended without a close frame"),
        }
    }
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_pong_timeout() {
    let server = common::start(|c| {
        c.websocket.ping_interval_ms = 50;
        c.websocket.pong_timeout_ms = 200;
    })
    .await;
    // A bare socket that completes the upgrade and then never answers anything
    // (a WebSocket library would answer pings on its own).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut silent = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let upgrade = "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    silent.write_all(upgrade.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(common::HANG_GUARD, silent.read_to_end(&mut bytes))
        .await
        .expect("the gateway ends the connection")
        .unwrap();
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    // Server frames are unmasked and small here: opcode, length, payload.
    let mut frames = &bytes[head_end..];
    let mut close = None;
    while frames.len() >= 2 {
        let (opcode, len) = (frames[0] & 0x0f, usize::from(frames[1] & 0x7f));
        let payload = &frames[2..2 + len];
        if opcode == 0x8 {
            close = Some((
                u16::from_be_bytes([payload[0], payload[1]]),
                String::from_utf8_lossy(&payload[2..]).into_owned(),
            ));
        }
        frames = &frames[2 + len..];
    }
    assert_eq!(close, Some((1008, "ping timeout".to_owned())));

    // A client that keeps reading answers the pings and stays.
    let mut lively = RawClient::connect(&server.url(), "sluice.v1.json").await;
    for id in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        let ping = json!({"op":"ping","id":id}).to_string();
        assert_eq!(lively.request(&ping).await, json!({"op":"ok","id":id}));
    }
}

/// Without a span exporter the gateway makes no spans, and a client's
/// `traceparent` reaches the record as the client sent it.
#[tokio::test]
async fn a_client_traceparent_reaches_the_record_unchanged_without_an_exporter() {
    let server = common::start(|_| {}).await;
    let mut publisher = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let publish = json!({"op":"publish","id":1,"subject":"/demo/traced","data":"x",
        "traceparent":traceparent});
    let ack = publisher.request(&publish.to_string()).await;
    assert_eq!(ack["op"], "ack", "{ack}");
    let broker = server.broker().expect("the embedded broker");
    let records: Vec<_> = (0..4)
        .flat_map(|partition| broker.read("demo", partition, 0, 10))
        .collect();
    assert_eq!(records.len(), 1);
    let header = records[0]
        .header(sluice_core::broker::header::TRACEPARENT)
        .expect("the record carries the traceparent");
    assert_eq!(&header[..], traceparent.as_bytes());
}
