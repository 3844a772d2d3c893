//! The admin listener's `/metrics`, checked by the real Prometheus tools: `promtool
//! check metrics` accepts the exposition, and a Prometheus server scraping a running
//! gateway finds the series operators rely on once traffic has flowed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::http;
use common::prometheus::{promtool, Prometheus};
use common::RawClient;
use serde_json::json;
use sluice::server::Server;

/// A subscriber, a publisher and a slow consumer: every family gets a series. The
/// subscriber is returned, still connected.
async fn traffic(server: &Server) -> RawClient {
    let url = server.url();
    let mut subscriber = RawClient::connect(&url, "sluice.v1.json").await;
    let subscribe = r#"{"op":"subscribe","id":1,"subjects":["/demo/firehose"]}"#;
    assert_eq!(subscriber.request(subscribe).await["op"], "ok");
    let mut publisher = RawClient::connect(&url, "sluice.v1.json").await;
    let publish = json!({"op":"publish","id":1,"subject":"/demo/firehose","data":"hello"});
    assert_eq!(publisher.request(&publish.to_string()).await["op"], "ack");
    assert_eq!(subscriber.recv().await["data"], "hello");

    // A client that never reads, behind a small queue, is closed as `slow_consumer`
    // while the subscriber keeps up.
    let mut never_reads = RawClient::connect(&url, "sluice.v1.json").await;
    assert_eq!(never_reads.request(subscribe).await["op"], "ok");
    let broker = server.broker().expect("embedded broker");
    let payload = Bytes::from(vec![b'x'; 16 * 1024]);
    while server.runtime().stats().slow_consumer_disconnects_total == 0 {
        let key = Some(Bytes::from_static(b"firehose"));
        broker
            .produce_keyed("demo", key, Some(payload.clone()), Vec::new())
            .unwrap();
        assert_eq!(subscriber.recv().await["type"], "update");
    }
    // Once it reads again, what was written before the close drains and the close
    // frame follows.
    while let Some(frame) = never_reads.recv_frame().await {
        if frame.is_close() {
            break;
        }
    }
    // The publisher leaves; its disconnect is counted as `client_closed`.
    publisher.close().await;
    subscriber
}

fn small_queues(config: &mut sluice::config::Config) {
    config.gateway.client_queue_bytes_max = 64 * 1024;
    config.gateway.frame_bytes_max = 32 * 1024;
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let server = common::start(small_queues).await;
    let _subscriber = traffic(&server).await;
    let admin = server.admin_addr();
    let slow_consumer =
        "sluice_disconnects_total{reason=\"slow_consumer\",transport=\"websocket\"} 1";
    common::eventually("the slow consumer's disconnect is counted", || async {
        http::get(admin, "/metrics")
            .await
            .1
            .contains(slow_consumer)
            .then_some(())
    })
    .await;
    let (status, body) = http::get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for family in [
        "sluice_connections{transport=\"websocket\"}",
        "sluice_delivery_latency_seconds_bucket",
        "sluice_publishes_total{result=\"acked\"} 1",
        "sluice_build_info{",
    ] {
        assert!(body.contains(family), "/metrics lacks {family}:\n{body}");
    }
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package `prometheus`; the README's test command, `cargo xtask test`, installs it)");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_gateway_after_traffic() {
    let server = common::start(small_queues).await;
    let prometheus = Prometheus::start(&[server.admin_addr()]).await;
    prometheus
        .wait_for("up{job=\"sluice\"}", |v| v == 1.0)
        .await;
    let _subscriber = traffic(&server).await;

    // Each query waits for a scrape after the traffic; none relies on its timing.
    let at_least_one = |v: f64| v >= 1.0;
    for (promql, check) in [
        (
            "sluice_build_info{broker=\"memory\"}",
            &at_least_one as &dyn Fn(f64) -> bool,
        ),
        ("sluice_ready", &at_least_one),
        ("sluice_broker_reachable", &at_least_one),
        ("sluice_connects_total{transport=\"websocket\"}", &|v| {
            v >= 3.0
        }),
        ("sluice_connections{transport=\"websocket\"}", &at_least_one),
        (
            "sluice_disconnects_total{transport=\"websocket\",reason=\"slow_consumer\"}",
            &at_least_one,
        ),
        (
            "sluice_disconnects_total{transport=\"websocket\",reason=\"client_closed\"}",
            &at_least_one,
        ),
        ("sluice_subscriptions", &at_least_one),
        ("sluice_subjects", &at_least_one),
        (
            "sluice_messages_in_total{source=\"client_publish\"}",
            &at_least_one,
        ),
        ("sluice_messages_in_total{source=\"broker\"}", &|v| v >= 2.0),
        ("sluice_messages_in_bytes_total{source=\"broker\"}", &|v| {
            v >= 16384.0
        }),
        ("sluice_messages_out_total", &|v| v >= 2.0),
        ("sluice_messages_out_bytes_total", &at_least_one),
        ("sluice_publishes_total{result=\"acked\"}", &at_least_one),
        (
            "sluice_delivery_latency_seconds_count{transport=\"websocket\"}",
            &|v| v >= 2.0,
        ),
        (
            "sluice_delivery_latency_seconds_bucket{le=\"+Inf\"}",
            &|v| v >= 2.0,
        ),
        ("sluice_snapshot_cache_entries", &at_least_one),
        ("sluice_snapshot_cache_bytes", &at_least_one),
        ("sluice_client_queue_limit_bytes", &|v| v == 65536.0),
    ] {
        prometheus.wait_for(promql, check).await;
    }
}
