//! Several gateways on one Kafka, and Kafka itself going away: the SDK fails over
//! with no gap and no duplicate; an outage loses no acknowledged publish.

mod common;

use std::time::Duration;

use common::process::GatewayProcess;
use common::tansu::Tansu;
use common::RawClient;
use serde_json::json;
use sluice::config::BrokerKind;
use sluice::server::Server;
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

/// The next SDK event. Kafka carries records between gateway processes, which on a
/// loaded machine (these tests run beside the rest of the suite) can take longer
/// than the usual hang guard: a guard, not a speed goal.
async fn next_event(events: &mut Events) -> Event {
    common::sdk::next_event_within(events, common::SLOW_HANG_GUARD).await
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
    let (writer, writer_events) =
        Client::connect(ClientConfig::with_servers([gateway_b.url.clone()]))
            .await
            .unwrap();
    common::sdk::drain_in_background(writer_events);
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
    assert!(matches!(
        next_event(&mut events).await,
        Event::Subscribed { .. }
    ));
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

/// Publishes until `count` more are acknowledged (Kafka may still be reconnecting:
/// those answers are `unavailable`), recording `(id, seq)` of each ack.
async fn publish_acked(
    publisher: &mut RawClient,
    next_id: &mut u64,
    count: usize,
    acked: &mut Vec<(u64, u64)>,
) {
    let mut done = 0;
    for _ in 0..200 {
        *next_id += 1;
        let answer = publish(publisher, *next_id).await;
        if answer["op"] == "ack" {
            acked.push((*next_id, answer["seq"].as_u64().unwrap()));
            done += 1;
            if done == count {
                return;
            }
        } else {
            assert_eq!(answer["code"], "unavailable", "{answer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    panic!("Kafka is up but publishes were not acknowledged");
}

/// A ping the subscriber still answers; the messages that reach it first are
/// kept in `early` (acknowledged publishes may be on their way).
async fn ping_keeping_messages(subscriber: &mut RawClient, early: &mut Vec<serde_json::Value>) {
    subscriber.send_text(r#"{"op":"ping","id":2}"#).await;
    loop {
        let frame = subscriber.recv().await;
        if frame["op"] == "message" {
            early.push(frame);
            continue;
        }
        assert_eq!(frame["op"], "ok", "{frame}");
        return;
    }
}

/// The subscriber receives every acknowledged publish exactly once, in order.
/// `early` holds messages that arrived while waiting for another answer.
async fn assert_received_exactly(
    subscriber: &mut RawClient,
    acked: &[(u64, u64)],
    early: Vec<serde_json::Value>,
) {
    let mut early = early.into_iter();
    let mut seen = Vec::new();
    while seen.len() < acked.len() {
        let m = match early.next() {
            Some(m) => m,
            None => subscriber.recv().await,
        };
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
    assert_eq!(
        subscriber.request(r#"{"op":"ping","id":99999}"#).await["op"],
        "ok",
        "nothing more"
    );
}

async fn connect_pair(server: &Server) -> (RawClient, RawClient) {
    // Reconnecting to a broker that came back can take librdkafka tens of seconds
    // on a loaded machine.
    let mut subscriber = RawClient::connect(&server.url(), "sluice.v1.json")
        .await
        .with_guard(Duration::from_secs(120));
    assert_eq!(
        subscriber
            .request(r#"{"op":"subscribe","id":1,"subjects":["/ops/x"]}"#)
            .await["op"],
        "ok"
    );
    let publisher = RawClient::connect(&server.url(), "sluice.v1.json")
        .await
        .with_guard(Duration::from_secs(120));
    (subscriber, publisher)
}

fn kafka_gateway(bootstrap: String) -> impl FnOnce(&mut sluice::config::Config) {
    move |c| {
        c.gateway.exposed_topics = vec!["ops".into()];
        c.gateway.publish_timeout_ms = 5_000;
        c.broker.kind = BrokerKind::Kafka;
        c.broker.kafka = sluice_kafka::KafkaConfig {
            bootstrap_servers: bootstrap,
            metadata_refresh_ms: 500,
            produce_timeout_ms: 2_000,
            request_timeout_ms: 1_000,
            ..sluice_kafka::KafkaConfig::default()
        };
    }
}

/// tansu restarted mid-stream: clients stay connected and consumption and
/// publishing resume with no gap. (No publish is made while tansu is down: tansu
/// 0.6.0's storage task panics when an idempotent producer's timed-out writes are
/// retried after a restart — lite.rs "more or less than one row" — and then serves
/// no produce at all. The outage-with-publishes case runs on librdkafka's mock
/// cluster below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tansu_restart_mid_stream_keeps_clients_connected_with_no_gap() {
    let mut tansu = Tansu::start();
    tansu.create_topic("ops", 1, false);
    let server = common::start(kafka_gateway(tansu.bootstrap())).await;
    let (mut subscriber, mut publisher) = connect_pair(&server).await;
    let (mut next_id, mut acked) = (0, Vec::new());
    publish_acked(&mut publisher, &mut next_id, 5, &mut acked).await;

    tansu.stop();
    let mut early = Vec::new();
    ping_keeping_messages(&mut subscriber, &mut early).await;
    assert_eq!(
        publisher.request(r#"{"op":"ping","id":2}"#).await["op"],
        "ok"
    );
    tansu.restart();
    publish_acked(&mut publisher, &mut next_id, 5, &mut acked).await;
    assert_received_exactly(&mut subscriber, &acked, early).await;
}

/// All brokers down: publishes fail with `unavailable`, clients stay connected;
/// brokers back: publishing and delivery resume, and every acknowledged publish
/// arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_outage_fails_publishes_cleanly_and_loses_no_acknowledged_one() {
    let cluster = rdkafka::mocking::MockCluster::new(3).unwrap();
    cluster.create_topic("ops", 1, 3).unwrap();
    let server = common::start(kafka_gateway(cluster.bootstrap_servers())).await;
    let (mut subscriber, mut publisher) = connect_pair(&server).await;
    let (mut next_id, mut acked) = (0, Vec::new());
    publish_acked(&mut publisher, &mut next_id, 5, &mut acked).await;

    for broker in 1..=3 {
        cluster.broker_down(broker).unwrap();
    }
    let mut refused = 0;
    for _ in 0..3 {
        next_id += 1;
        let answer = publish(&mut publisher, next_id).await;
        match answer["op"].as_str() {
            Some("ack") => acked.push((next_id, answer["seq"].as_u64().unwrap())),
            _ => {
                assert_eq!(answer["code"], "unavailable", "{answer}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "publishes succeeded with every broker down");
    let mut early = Vec::new();
    ping_keeping_messages(&mut subscriber, &mut early).await;

    for broker in 1..=3 {
        cluster.broker_up(broker).unwrap();
    }
    publish_acked(&mut publisher, &mut next_id, 5, &mut acked).await;
    assert_received_exactly(&mut subscriber, &acked, early).await;
}

/// What one subscriber received of the stream, per subject: the `seq`s of the
/// messages after its snapshot.
#[derive(Debug, Default)]
struct Received {
    backend: Vec<u64>,
    published: Vec<u64>,
    failovers: usize,
}

/// Reads a subscriber's events until it has `count` messages of each subject after
/// their snapshots, saying on `warmed` when it has the first of each (from then on
/// it has a position to resume from). A resume that is refused (`resync`) fails the
/// test: every gateway reads the same log.
async fn receive_stream(
    mut events: Events,
    count: usize,
    warmed: tokio::sync::mpsc::Sender<()>,
) -> Received {
    let mut received = Received::default();
    let mut warm = false;
    while received.backend.len() < count || received.published.len() < count {
        if !warm && !received.backend.is_empty() && !received.published.is_empty() {
            warm = true;
            warmed.send(()).await.unwrap();
        }
        match common::sdk::next_event_within(&mut events, common::SLOW_HANG_GUARD).await {
            Event::Message(m) if m.kind == sluice_client::MessageKind::Snapshot => {}
            Event::Message(m) if &*m.subject == "/fleet/backend" => received.backend.push(m.seq),
            Event::Message(m) if &*m.subject == "/fleet/app" => received.published.push(m.seq),
            Event::Status { status, subject } => {
                assert_eq!(status, SyncStatus::Sync, "{subject}: resume refused")
            }
            Event::Disconnected { .. } => received.failovers += 1,
            Event::Connected { .. } | Event::Subscribed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    received
}

/// `GET path` on a gateway process's admin listener.
async fn admin_get(gateway: &GatewayProcess, path: &str) -> (u16, String) {
    let addr = gateway
        .admin_url
        .trim_start_matches("http://")
        .parse()
        .expect("the admin listener's address");
    common::http::get(addr, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_one_killed_mid_stream_lose_nothing_and_readyz_shows_the_bootstrap() {
    const SEED_RECORDS: usize = 2_000;
    const STREAM: usize = 24;
    let tansu = Tansu::start();
    tansu.create_topic("fleet", 4, false);
    // Back-end records with librdkafka's defaults, one record per batch, so that a
    // gateway fetching one batch at a time reads them one by one.
    let backend: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    let produce = |key: String, value: String| {
        let backend = backend.clone();
        async move {
            backend
                .send(
                    rdkafka::producer::FutureRecord::<str, str>::to("fleet")
                        .key(&key)
                        .payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .expect("tansu accepts the record")
                .offset as u64
        }
    };
    let seeds: Vec<_> = (0..SEED_RECORDS)
        .map(|i| produce(format!("seed-{}", i % 50), format!("s{i}")))
        .collect();
    futures_util::future::join_all(seeds).await;
    let config = gateway_config(&tansu, "fleet")
        .replace("[gateway]\n", "[gateway]\npartitioner = \"consistent\"\n");
    // The third gateway asks for at most one byte per partition and fetch:
    // librdkafka starts there and grows the size until a batch (here one record)
    // fits, so its bootstrap of the seed records takes seconds, and /readyz says so.
    // (How long is up to librdkafka; the check below only needs one answer
    // during it, and the admin listener answers from before the bootstrap starts.)
    let slow_config =
        format!("{config}[broker.kafka.properties]\n\"max.partition.fetch.bytes\" = \"1\"\n");
    let mut gateways = vec![
        GatewayProcess::start(Some(&config)),
        GatewayProcess::start(Some(&config)),
    ];
    // While the third reads its partitions, its admin listener is up (its client
    // listener is not): /readyz says it is bootstrapping, and how far it got.
    let (admin_tx, admin_rx) = std::sync::mpsc::channel();
    let starting = tokio::task::spawn_blocking(move || {
        GatewayProcess::start_reporting_admin(Some(&slow_config), admin_tx)
    });
    let admin: std::net::SocketAddr = tokio::task::spawn_blocking(move || admin_rx.recv())
        .await
        .unwrap()
        .expect("the gateway prints its admin listener")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut bootstrapping = Vec::new();
    while !starting.is_finished() {
        let (status, body) = common::http::get(admin, "/readyz").await;
        if status != 200 {
            assert!(
                body.contains("bootstrap"),
                "not ready for another reason: {body}"
            );
            bootstrapping.push(body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateways.push(starting.await.unwrap());
    assert!(
        bootstrapping.iter().any(|b| b.contains("records read")),
        "/readyz never showed the bootstrap's progress: {bootstrapping:?}"
    );
    eprintln!(
        "/readyz while bootstrapping ({} answers), first: {:?}, last: {:?}",
        bootstrapping.len(),
        bootstrapping.first(),
        bootstrapping.last()
    );
    for gateway in &gateways {
        assert_eq!(admin_get(gateway, "/readyz").await.0, 200);
    }

    // Six subscribers, two per gateway: each lists all three, starting at its own.
    let urls: Vec<String> = gateways.iter().map(|g| g.url.clone()).collect();
    let (warmed_tx, mut warmed) = tokio::sync::mpsc::channel(6);
    let mut subscribers = Vec::new();
    for i in 0..6 {
        let mut servers = urls.clone();
        servers.rotate_left(i % 3);
        let (client, mut events) = Client::connect(ClientConfig::with_servers(servers))
            .await
            .unwrap();
        let subscribe = client.subscribe(&["/fleet/backend", "/fleet/app"]);
        let (accepted, ()) = tokio::join!(subscribe, async {
            // Both subjects' starts come before the stream does.
            let mut started = 0;
            while started < 2 {
                if let Event::Subscribed { .. } = next_event(&mut events).await {
                    started += 1;
                }
            }
        });
        assert!(accepted.unwrap().all_accepted());
        let receiving = receive_stream(events, STREAM + 1, warmed_tx.clone());
        subscribers.push((client, tokio::spawn(receiving)));
    }
    // The app publishes through the second gateway, which stays up.
    let (writer, writer_events) = Client::connect(ClientConfig::with_servers([urls[1].clone()]))
        .await
        .unwrap();
    common::sdk::drain_in_background(writer_events);

    // One of each first, received by everyone: all then resume from a position.
    let (mut produced, mut acked) = (Vec::new(), Vec::new());
    produced.push(produce("backend".into(), "warm".into()).await);
    let ack = writer
        .publish("/fleet/app", "warm", PublishOptions::default())
        .await
        .unwrap();
    acked.push(ack.seq);
    for _ in 0..6 {
        tokio::time::timeout(common::SLOW_HANG_GUARD, warmed.recv())
            .await
            .expect("every subscriber receives the first messages")
            .unwrap();
    }

    // The stream: back-end records and acknowledged publishes, interleaved; the
    // first gateway is killed halfway.
    for i in 0..STREAM {
        if i == STREAM / 2 {
            gateways[0].kill();
        }
        produced.push(produce("backend".into(), format!("b{i}")).await);
        let ack = writer
            .publish("/fleet/app", format!("p{i}"), PublishOptions::default())
            .await
            .unwrap();
        acked.push(ack.seq);
    }
    let mut failovers = 0;
    for (_client, receiving) in subscribers {
        let received = receiving.await.unwrap();
        assert_eq!(
            received.backend, produced,
            "back-end records: once, in order"
        );
        assert_eq!(
            received.published, acked,
            "acknowledged publishes: once, in order"
        );
        failovers += received.failovers;
    }
    assert_eq!(
        failovers, 2,
        "the killed gateway's two subscribers failed over"
    );
}
