//! The QUIC transport end to end on loopback, through the Rust SDK: snapshot, live,
//! acks, resume with no gap, 0-RTT reconnects, connection migration, and the same
//! sequences as over WebSocket.

mod common;

use common::sdk::{is_bookkeeping, next_event, next_message, recovered_until_sync};
use sluice::server::Server;
use sluice_client::{
    Client, ClientConfig, Event, Events, MessageKind, PublishOptions, SubscribeOptions, SyncStatus,
};

/// A client of `servers` that trusts the gateway's dev certificate by its pin.
async fn connect(server: &Server, servers: Vec<String>) -> (Client, Events) {
    let mut config = ClientConfig::with_servers(servers);
    config.tls_pins_sha256 = vec![server.tls_fingerprint().unwrap().to_string()];
    let (client, mut events) = Client::connect(config).await.expect("connects");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Connected { .. }
    ));
    (client, events)
}

fn quic_url(server: &Server) -> String {
    server.quic_url().expect("QUIC is on")
}

/// A publisher whose events nobody needs.
async fn publisher(server: &Server, url: String) -> Client {
    let (client, events) = connect(server, vec![url]).await;
    common::sdk::drain_in_background(events);
    client
}

/// Subscribes and waits for the answer. The events queue has room for it, so
/// the test need not read events meanwhile.
async fn subscribe(client: &Client, subject: &str) {
    let outcome = client.subscribe(&[subject]).await.unwrap();
    assert!(outcome.all_accepted());
}

#[tokio::test]
async fn snapshot_live_ack_and_resume_over_quic_with_0rtt() {
    let server = common::start_tls_and_quic().await;
    let publisher = publisher(&server, quic_url(&server)).await;
    let first = publisher
        .publish("/demo/quic", "first", PublishOptions::default())
        .await
        .unwrap();

    let (reader, mut events) = connect(&server, vec![quic_url(&server)]).await;
    subscribe(&reader, "/demo/quic").await;
    let snapshot = next_message(&mut events).await;
    assert_eq!(
        (snapshot.kind, snapshot.seq, &snapshot.epoch),
        (MessageKind::Snapshot, first.seq, &first.epoch)
    );
    let live = publisher
        .publish("/demo/quic", "live", PublishOptions::default())
        .await
        .unwrap();
    let update = next_message(&mut events).await;
    assert_eq!(
        (update.kind, update.seq, update.data.as_deref()),
        (MessageKind::Update, live.seq, Some(&b"live"[..]))
    );
    assert_eq!(reader.stats().quic_zero_rtt_attempted_total, 0);

    // Lost connection: the SDK reconnects (in 0-RTT, holding the ticket of the first
    // connection) and resumes from the last message it saw.
    reader.kill_connection().await;
    let mut expected = Vec::new();
    for i in 0..50 {
        let ack = publisher
            .publish("/demo/quic", format!("m{i}"), PublishOptions::default())
            .await
            .unwrap();
        expected.push(ack.seq);
    }
    // What it missed comes as `recovered` up to `sync`; publishes after the
    // reconnect come live. Together: every message once, in order.
    let got = common::sdk::resumed_then_live(&mut events, expected.len()).await;
    assert_eq!(got, expected, "exactly the missed messages, in order");

    // A publish after the 0-RTT start waits for the handshake, then is acked.
    let after = reader
        .publish("/demo/quic", "after", PublishOptions::default())
        .await
        .unwrap();
    let echoed = next_message(&mut events).await;
    assert_eq!((echoed.kind, echoed.seq), (MessageKind::Update, after.seq));

    let stats = reader.stats();
    println!(
        "client: {stats:?}\ngateway: {:?}",
        server.quic_stats().unwrap()
    );
    assert_eq!(stats.connections_total, 2);
    assert_eq!(
        (
            stats.quic_zero_rtt_attempted_total,
            stats.quic_zero_rtt_accepted_total
        ),
        (1, 1),
        "the second connection started in 0-RTT and the gateway took the early data"
    );
    let quic = server.quic_stats().unwrap();
    assert_eq!(quic.connections_accepted_total, 3, "{quic:?}");
}

#[tokio::test]
async fn websocket_and_quic_subscribers_receive_identical_sequences() {
    let server = common::start_tls_and_quic().await;
    let (over_wss, mut wss_events) = connect(&server, vec![server.url()]).await;
    let (over_quic, mut quic_events) = connect(&server, vec![quic_url(&server)]).await;
    assert!(server.url().starts_with("wss://"));
    subscribe(&over_wss, "/chat/mixed").await;
    subscribe(&over_quic, "/chat/mixed").await;
    let publisher = publisher(&server, server.url()).await;
    let mut acks = Vec::new();
    for i in 0..100 {
        let ack = publisher
            .publish("/chat/mixed", format!("m{i}"), PublishOptions::default())
            .await
            .unwrap();
        acks.push((ack.seq, format!("m{i}")));
    }
    let mut sequences = Vec::new();
    for events in [&mut wss_events, &mut quic_events] {
        let mut got = Vec::new();
        while got.len() < acks.len() {
            let m = next_message(events).await;
            assert_eq!(m.kind, MessageKind::Update);
            let data = String::from_utf8(m.data.unwrap().to_vec()).unwrap();
            got.push((m.seq, data));
        }
        sequences.push(got);
    }
    assert_eq!(sequences[0], acks, "WebSocket subscriber");
    assert_eq!(sequences[1], acks, "QUIC subscriber");
}

#[tokio::test]
async fn failover_moves_between_websocket_and_quic() {
    let server = common::start_tls_and_quic().await;
    let servers = vec![server.url(), quic_url(&server)];
    let (reader, mut events) = connect(&server, servers).await;
    subscribe(&reader, "/demo/failover").await;
    let publisher = publisher(&server, server.url()).await;
    let before = publisher
        .publish("/demo/failover", "before", PublishOptions::default())
        .await
        .unwrap();
    let seen = next_message(&mut events).await;
    assert_eq!((seen.kind, seen.seq), (MessageKind::Update, before.seq));

    reader.kill_connection().await;
    let missed = publisher
        .publish("/demo/failover", "missed", PublishOptions::default())
        .await
        .unwrap();
    let mut reconnected_to = None;
    let mut recovered = Vec::new();
    loop {
        match next_event(&mut events).await {
            Event::Connected { server } => reconnected_to = Some(server),
            Event::Message(m) => recovered.push(m.seq),
            Event::Status { status, .. } => {
                assert_eq!(status, SyncStatus::Sync);
                break;
            }
            other if is_bookkeeping(&other) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        reconnected_to.as_deref().unwrap().starts_with("quic://"),
        "{reconnected_to:?}"
    );
    assert_eq!(recovered, vec![missed.seq]);
}

#[tokio::test]
async fn migration_to_a_new_local_port_keeps_the_session() {
    let server = common::start_tls_and_quic().await;
    let (reader, mut events) = connect(&server, vec![quic_url(&server)]).await;
    subscribe(&reader, "/demo/migrate").await;
    // The publisher speaks WebSocket, so the reader is the QUIC listener's only client.
    let publisher = publisher(&server, server.url()).await;
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for round in 0..2 {
        for i in 0..25 {
            let ack = publisher
                .publish(
                    "/demo/migrate",
                    format!("{round}-{i}"),
                    PublishOptions::default(),
                )
                .await
                .unwrap();
            expected.push(ack.seq);
        }
        if round == 0 {
            // Mid-stream, with messages in flight: the phone changes networks.
            let old = reader.quic_local_addr().unwrap();
            let new = reader.rebind_quic("127.0.0.1:0".parse().unwrap()).unwrap();
            assert_ne!(old.port(), new.port());
            // The gateway learns the new address from the next packet it gets.
            reader.ping().await.unwrap();
        }
    }
    while got.len() < expected.len() {
        got.push(next_message(&mut events).await.seq);
    }
    assert_eq!(got, expected, "no message lost or repeated");
    assert_eq!(reader.stats().connections_total, 1, "no reconnect");
    let quic = server.quic_stats().unwrap();
    println!("client: {:?}\ngateway: {quic:?}", reader.stats());
    assert_eq!(
        quic.connections_accepted_total, 1,
        "one connection: {quic:?}"
    );
    assert_eq!(
        quic.migrations_total, 1,
        "the gateway saw it move: {quic:?}"
    );
    // And so does Prometheus.
    let (_, metrics) = common::http::get(server.admin_addr(), "/metrics").await;
    for line in [
        "sluice_quic_migrations_total 1",
        "sluice_quic_handshakes_refused_total 0",
        "sluice_quic_early_frames_held_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing");
    }
}

#[tokio::test]
async fn the_sdk_sends_only_its_resuming_subscribes_as_0rtt_data() {
    let server = common::start_tls_and_quic().await;
    let gateway = quic_url(&server)["quic://".len()..].parse().unwrap();
    let relay = common::quic::HandshakeRelay::start(gateway).await;
    let (reader, mut events) = connect(&server, vec![format!("quic://{}", relay.addr)]).await;
    subscribe(&reader, "/demo/early").await;
    let publisher = publisher(&server, server.url()).await;
    let seen = publisher
        .publish("/demo/early", "seen", PublishOptions::default())
        .await
        .unwrap();
    assert_eq!(next_message(&mut events).await.seq, seen.seq);

    // The next handshake stays incomplete at the gateway until released, while a
    // publish waits in the SDK and the subscription resumes in 0-RTT.
    relay.hold_next_handshake();
    reader.kill_connection().await;
    let publish = tokio::spawn({
        let reader = reader.clone();
        async move {
            reader
                .publish("/demo/early", "not early", PublishOptions::default())
                .await
        }
    });
    assert!(recovered_until_sync(&mut events).await.is_empty());
    let quic = server.quic_stats().unwrap();
    assert_eq!(
        quic.early_frames_held_total, 0,
        "a publish came as early data"
    );
    assert_eq!(server.runtime().stats().publishes_total, 1);

    relay.release();
    let ack = publish.await.unwrap().unwrap();
    assert_eq!(next_message(&mut events).await.seq, ack.seq);
    assert_eq!(server.quic_stats().unwrap().early_frames_held_total, 0);
    let stats = reader.stats();
    assert_eq!(
        (
            stats.quic_zero_rtt_attempted_total,
            stats.quic_zero_rtt_accepted_total
        ),
        (1, 1)
    );
}

/// A gateway certificate as PEM files, for gateways that must share it.
struct CertificateFiles {
    dir: std::path::PathBuf,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    pin: sluice_tls::Fingerprint,
}

impl CertificateFiles {
    fn new(test: &str) -> CertificateFiles {
        let dir = common::certs::temp_dir(test);
        let (cert_path, key_path) = (dir.join("gw.crt"), dir.join("gw.key"));
        let pin = common::certs::write_certificate(&cert_path, &key_path);
        CertificateFiles {
            dir,
            cert_path,
            key_path,
            pin,
        }
    }

    fn configure(&self, config: &mut sluice::config::Config) {
        config.tls.cert_path = Some(self.cert_path.clone());
        config.tls.key_path = Some(self.key_path.clone());
    }

    /// A client of `servers` that pins this certificate.
    fn client_config(&self, servers: Vec<String>) -> ClientConfig {
        let mut config = ClientConfig::with_servers(servers);
        config.tls_pins_sha256 = vec![self.pin.to_string()];
        config
    }
}

impl Drop for CertificateFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A gateway serving QUIC on `quic_listen`, in a runtime of its own so the test
/// can kill it whole, as a crashed process would be. Returns its QUIC URL.
async fn start_killable(
    certificate: &CertificateFiles,
    quic_listen: std::net::SocketAddr,
) -> (String, tokio::runtime::Runtime) {
    let (cert_path, key_path) = (certificate.cert_path.clone(), certificate.key_path.clone());
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = common::config(move |config| {
            config.tls.cert_path = Some(cert_path);
            config.tls.key_path = Some(key_path);
            config.quic.listen = Some(quic_listen);
        });
        // A restart on the port of a gateway just killed: the port may still be
        // taken for a moment (by the old socket, or another test's client).
        let mut attempts = 0;
        let server = loop {
            match runtime.block_on(Server::start(config.clone())) {
                Ok(server) => break server,
                Err(err) if attempts < 50 && format!("{err:#}").contains("in use") => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(err) => panic!("gateway starts: {err:#}"),
            }
        };
        let url = quic_url(&server);
        runtime.spawn(async move {
            let _server = server;
            std::future::pending::<()>().await;
        });
        (url, runtime)
    })
    .await
    .unwrap()
}

async fn kill(runtime: tokio::runtime::Runtime) {
    tokio::task::spawn_blocking(move || {
        runtime.shutdown_timeout(std::time::Duration::from_secs(5))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refused_0rtt_start_restores_on_the_same_connection() {
    let certificate = CertificateFiles::new("quic-0rtt-refused");
    let (url, runtime) = start_killable(&certificate, "127.0.0.1:0".parse().unwrap()).await;
    let config = certificate.client_config(vec![url.clone()]);
    let (reader, mut events) = Client::connect(config).await.unwrap();
    subscribe(&reader, "/demo/restart").await;
    let before = reader
        .publish("/demo/restart", "before", PublishOptions::default())
        .await
        .unwrap();
    assert_eq!(next_message(&mut events).await.seq, before.seq);

    // The gateway restarts on the same address with the same certificate, but
    // without the sessions it had: the client's ticket is worthless there.
    kill(runtime).await;
    let quic_listen = url["quic://".len()..].parse().unwrap();
    let (_url, runtime) = start_killable(&certificate, quic_listen).await;
    reader.kill_connection().await;
    loop {
        match next_event(&mut events).await {
            // Another embedded broker: another log, so the position is void.
            Event::Status {
                status: SyncStatus::Resync,
                ..
            } => break,
            other if is_bookkeeping(&other) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let after = reader
        .publish("/demo/restart", "after", PublishOptions::default())
        .await
        .unwrap();
    assert_eq!(next_message(&mut events).await.seq, after.seq);
    let stats = reader.stats();
    println!("client: {stats:?}");
    assert_eq!(
        stats.connections_total, 2,
        "restored without another reconnect"
    );
    assert_eq!(
        (
            stats.quic_zero_rtt_attempted_total,
            stats.quic_zero_rtt_accepted_total,
            stats.quic_zero_rtt_rejected_total
        ),
        (1, 0, 1)
    );
    kill(runtime).await;
}

#[tokio::test]
async fn a_0rtt_start_at_a_gateway_that_is_gone_fails_over_within_the_connect_timeout() {
    let certificate = CertificateFiles::new("quic-0rtt-gone");
    let (url_a, runtime_a) = start_killable(&certificate, "127.0.0.1:0".parse().unwrap()).await;
    let server_b = common::start(|config| certificate.configure(config)).await;
    let mut config = certificate.client_config(vec![url_a, server_b.url()]);
    // Far below the idle timeout (60 s), which would otherwise end the attempt.
    config.connect_timeout_ms = 500;
    let (client, mut events) = Client::connect(config).await.unwrap();
    client.ping().await.unwrap(); // the session ticket has arrived by the answer

    // Gateway A dies; the client moves to B, then back to A with its ticket.
    kill(runtime_a).await;
    let mut connected = Vec::new();
    for _ in 0..2 {
        client.kill_connection().await;
        loop {
            if let Event::Connected { server } = next_event(&mut events).await {
                if server.starts_with("wss://") {
                    connected.push(server);
                    break;
                }
                connected.push(server);
            }
        }
    }
    // The attempt at A started in 0-RTT (the SDK could not know A was gone), got no
    // answer within the connect timeout, and the client failed over to B.
    let hosts: Vec<&str> = connected.iter().map(|s| &s[..4]).collect();
    // A at first; B; A again, briefly; B.
    assert_eq!(hosts, ["quic", "wss:", "quic", "wss:"], "{connected:?}");
    let stats = client.stats();
    assert_eq!(
        (
            stats.quic_zero_rtt_attempted_total,
            stats.quic_zero_rtt_accepted_total
        ),
        (1, 0)
    );
}

/// Protocol 1.1 over QUIC (binary encoding): a subscription made with headers
/// gets them live and, restored by the SDK after a lost connection, on what it
/// recovers.
#[tokio::test]
async fn headers_reach_a_quic_subscriber_that_asked_also_after_a_resume() {
    let server = common::start_tls_and_quic().await;
    let publisher = publisher(&server, quic_url(&server)).await;
    let (reader, mut events) = connect(&server, vec![quic_url(&server)]).await;
    let options = SubscribeOptions {
        headers: true,
        ..SubscribeOptions::default()
    };
    let outcome = reader
        .subscribe_with(&["/chat/headers"], options)
        .await
        .unwrap();
    assert!(outcome.all_accepted());
    let publish = PublishOptions {
        reply_to: Some("/chat/inbox-1".into()),
        ..PublishOptions::default()
    };
    publisher
        .publish("/chat/headers", "one", publish.clone())
        .await
        .unwrap();
    let one = next_message(&mut events).await;
    assert_eq!(reply_to(&one), Some(&b"/chat/inbox-1"[..]));

    reader.kill_connection().await;
    let two = publisher
        .publish("/chat/headers", "two", publish)
        .await
        .unwrap();
    let again = loop {
        let m = next_message(&mut events).await;
        if m.seq == two.seq {
            break m;
        }
    };
    assert_eq!(again.data.as_deref(), Some(&b"two"[..]));
    assert_eq!(reply_to(&again), Some(&b"/chat/inbox-1"[..]));
}

fn reply_to(message: &sluice_client::Message) -> Option<&[u8]> {
    let headers = message.headers.as_ref()?;
    headers
        .iter()
        .find(|h| h.name == "reply_to")
        .map(|h| &h.value[..])
}

/// Protocol 1.1 history from the log over QUIC: 500 past messages where the cache
/// keeps 128 per subject, complete, in order, then `history_end`.
#[tokio::test]
async fn a_long_history_over_quic_comes_from_the_log_complete() {
    let server = common::start_tls_and_quic().await;
    let publisher = publisher(&server, quic_url(&server)).await;
    let mut seqs = Vec::new();
    for i in 0..510 {
        let ack = publisher
            .publish(
                "/chat/quic-history",
                format!("v{i}"),
                PublishOptions::default(),
            )
            .await
            .unwrap();
        seqs.push(ack.seq);
    }
    let (reader, mut events) = connect(&server, vec![quic_url(&server)]).await;
    let options = SubscribeOptions {
        history: Some(500),
        history_end: true,
        ..SubscribeOptions::default()
    };
    let sub = tokio::spawn({
        let reader = reader.clone();
        async move {
            reader
                .subscribe_with(&["/chat/quic-history"], options)
                .await
        }
    });
    let (history, complete) = common::sdk::history_until_end(&mut events).await;
    assert!(sub.await.unwrap().unwrap().all_accepted());
    assert!(complete);
    let got: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(got, seqs[10..]);
}

/// Protocol 1.1 deltas over QUIC (binary encoding): the SDK rebuilds every value
/// of a 2 KB JSON with small changes, and the gateway sent deltas.
#[tokio::test]
async fn a_delta_subscriber_over_quic_rebuilds_every_value() {
    use common::sdk::json_value;
    let server = common::start_tls_and_quic().await;
    let publisher = publisher(&server, quic_url(&server)).await;
    let (reader, mut events) = connect(&server, vec![quic_url(&server)]).await;
    let options = SubscribeOptions {
        delta: true,
        ..SubscribeOptions::default()
    };
    let outcome = reader
        .subscribe_with(&["/chat/quic-delta"], options)
        .await
        .unwrap();
    assert!(outcome.all_accepted());
    for i in 0..20 {
        publisher
            .publish("/chat/quic-delta", json_value(i), PublishOptions::default())
            .await
            .unwrap();
        let m = next_message(&mut events).await;
        assert_eq!(m.data.as_deref(), Some(json_value(i).as_bytes()));
    }
    assert!(server.runtime().stats().deltas_out_total >= 19);
}

/// Protocol 1.1 request/reply through Kafka (tansu), between apps on both
/// transports: a responder over QUIC, a requester over WebSocket (TLS); the
/// request and its reply each go through a Kafka topic (`demo`, `_inbox`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_through_kafka_between_a_quic_and_a_websocket_app() {
    let tansu = common::tansu::Tansu::start();
    tansu.create_topic("demo", 2, false);
    tansu.create_topic("_inbox", 2, false);
    let server = common::start(|config| {
        common::tansu::use_kafka(config, &tansu, &["demo", "_inbox"]);
        config.tls.self_signed = true;
        config.quic.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (responder, mut requests) = connect(&server, vec![quic_url(&server)]).await;
    let options = SubscribeOptions {
        headers: true,
        ..SubscribeOptions::default()
    };
    let outcome = responder
        .subscribe_with(&["/demo/kafka-echo"], options)
        .await
        .unwrap();
    assert!(outcome.all_accepted());
    let serving = tokio::spawn(async move {
        let request = next_message(&mut requests).await;
        let text = String::from_utf8(request.data.clone().unwrap().to_vec()).unwrap();
        responder
            .reply(&request, text.to_uppercase())
            .await
            .unwrap();
    });
    let (requester, events) = connect(&server, vec![server.url()]).await;
    common::sdk::drain_in_background(events);
    let reply = requester
        .request(
            "/demo/kafka-echo",
            "through kafka",
            // A hang guard: tansu takes seconds per hop on a busy machine.
            std::time::Duration::from_secs(90),
        )
        .await
        .unwrap();
    assert_eq!(reply.data.as_deref(), Some(&b"THROUGH KAFKA"[..]));
    assert!(reply.subject.starts_with("/_inbox/"), "{}", reply.subject);
    serving.await.unwrap();
}
