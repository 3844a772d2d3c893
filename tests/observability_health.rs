//! `/healthz` and `/readyz` on the admin listener: not ready until the snapshot
//! bootstrap has caught up, not ready while the broker is away, ready again when it
//! returns; the body says why. On the embedded broker and on a real Kafka-protocol
//! broker (tansu).

mod common;

use std::net::SocketAddr;

use common::http;
use common::tansu::Tansu;
use sluice::server::Server;

/// Waits until `/readyz` answers `status` with a body containing `reason`.
async fn readyz_becomes(admin: SocketAddr, status: u16, reason: &str) -> String {
    common::eventually(&format!("/readyz {status} {reason:?}"), || async move {
        let (got, body) = http::get(admin, "/readyz").await;
        (got == status && body.contains(reason)).then_some(body)
    })
    .await
}

/// The value of an unlabelled gauge in `/metrics`.
async fn gauge(admin: SocketAddr, name: &str) -> Option<f64> {
    let (_, body) = http::get(admin, "/metrics").await;
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} "))?.parse().ok())
}

#[tokio::test]
async fn readyz_follows_the_embedded_brokers_availability() {
    let server = common::start(|_| {}).await;
    let admin = server.admin_addr();
    assert_eq!(http::get(admin, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(http::get(admin, "/readyz").await, (200, "ready\n".into()));
    assert_eq!(gauge(admin, "sluice_ready").await, Some(1.0));
    // The transport's series exist before the first client, at zero.
    let (_, metrics) = http::get(admin, "/metrics").await;
    for series in [
        "sluice_connections{transport=\"websocket\"} 0",
        "sluice_connects_total{transport=\"websocket\"} 0",
        "sluice_delivery_latency_seconds_count{transport=\"websocket\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }

    server.broker().unwrap().set_available(false);
    let body = readyz_becomes(admin, 503, "the embedded broker is unavailable").await;
    assert!(body.starts_with("not ready\n"), "{body}");
    assert_eq!(gauge(admin, "sluice_broker_reachable").await, Some(0.0));
    assert_eq!(gauge(admin, "sluice_ready").await, Some(0.0));
    // Alive all along: liveness does not depend on the broker.
    assert_eq!(http::get(admin, "/healthz").await.0, 200);

    server.broker().unwrap().set_available(true);
    readyz_becomes(admin, 200, "ready").await;
    assert_eq!(gauge(admin, "sluice_broker_reachable").await, Some(1.0));
    assert_eq!(http::get(admin, "/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_kafka_bootstrap_and_follows_the_broker() {
    let mut tansu = Tansu::start();
    let config = common::config(|c| {
        common::tansu::use_kafka(c, &tansu, &["orders"]);
        c.broker.kafka.metadata_refresh_ms = 300;
        c.broker.kafka.request_timeout_ms = 2_000;
    });
    let launched = Server::launch(config, None)
        .await
        .expect("gateway launches");
    let admin = launched.admin_addr();

    // The exposed topic does not exist yet: the bootstrap cannot complete.
    let body = readyz_becomes(admin, 503, "exposed topics not in Kafka yet: orders").await;
    assert!(body.contains("bootstrap"), "{body}");
    assert_eq!(gauge(admin, "sluice_bootstrap_complete").await, Some(0.0));
    let listening = tokio::spawn(launched.listen());

    tansu.create_topic("orders", 2, false);
    let server = listening
        .await
        .unwrap()
        .expect("gateway listens after the bootstrap");
    assert_eq!(http::get(admin, "/readyz").await, (200, "ready\n".into()));
    // Lag is measured for every partition of the exposed topic.
    common::eventually("consumer lag series for both partitions", || async {
        let (_, body) = http::get(admin, "/metrics").await;
        (0..2)
            .all(|p| {
                body.contains(&format!(
                    "sluice_kafka_consumer_lag_records{{topic=\"orders\",partition=\"{p}\"}}"
                ))
            })
            .then_some(())
    })
    .await;

    tansu.stop();
    readyz_becomes(admin, 503, "Kafka metadata request failed").await;
    assert_eq!(gauge(admin, "sluice_broker_reachable").await, Some(0.0));
    assert_eq!(gauge(admin, "sluice_bootstrap_complete").await, Some(1.0));

    tansu.restart();
    readyz_becomes(admin, 200, "ready").await;
    assert_eq!(gauge(admin, "sluice_broker_reachable").await, Some(1.0));
    drop(server);
}
