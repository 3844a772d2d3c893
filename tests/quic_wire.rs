//! The QUIC wire as any client sees it (docs/protocol.md §12): ALPN, length-prefixed
//! binary frames, bad input, and the slow-consumer bound.

mod common;

use bytes::Bytes;
use common::quic::{handshake, HandshakeRelay, RawQuic};
use sluice_core::protocol::{
    ClientFrame, ErrorCode, MessageKind, PublishFrame, Qos, ServerFrame, SubscribeItem,
    SubscribeOptions,
};
use sluice_core::RequestId;

fn subscribe(id: u64, subject: &str) -> ClientFrame {
    ClientFrame::Subscribe {
        id: RequestId(id),
        items: vec![SubscribeItem {
            subject: subject.into(),
            resume: None,
        }],
        options: SubscribeOptions::default(),
    }
}

fn publish(id: u64, subject: &str, data: &'static [u8]) -> ClientFrame {
    ClientFrame::Publish(PublishFrame {
        id: RequestId(id),
        subject: subject.into(),
        data: Bytes::from_static(data),
        retained: true,
        qos: Qos::Standard,
        reply_to: None,
        traceparent: None,
    })
}

#[tokio::test]
async fn binary_frames_flow_both_ways_on_one_stream() {
    let server = common::start_tls_and_quic().await;
    let mut client = RawQuic::connect(&server).await;
    client.send(&subscribe(1, "/demo/wire")).await;
    assert_eq!(client.recv().await, ServerFrame::Ok { id: RequestId(1) });
    // Two requests in one write: the length prefixes keep them apart.
    let mut both = Vec::new();
    for frame in [
        publish(2, "/demo/wire", b"a"),
        ClientFrame::Ping { id: RequestId(3) },
    ] {
        sluice_core::protocol::stream_framing::write_frame(
            &mut both,
            &sluice_core::protocol::binary::encode_client(&frame),
        );
    }
    client.send_raw(&both).await;
    let mut ack_seq = None;
    let mut update_seq = None;
    let mut pinged = false;
    while ack_seq.is_none() || update_seq.is_none() || !pinged {
        match client.recv().await {
            ServerFrame::Ack {
                id: RequestId(2),
                seq,
                ..
            } => ack_seq = Some(seq),
            ServerFrame::Message(m) if m.kind == MessageKind::Update => update_seq = Some(m.seq),
            ServerFrame::Ok { id: RequestId(3) } => pinged = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ack_seq, update_seq);
}

#[tokio::test]
async fn bad_input_gets_an_error_frame_or_a_close_code() {
    let server = common::start_tls_and_quic().await;
    let mut client = RawQuic::connect(&server).await;
    client.send_bytes(&[0x7f, 1, 2, 3]).await;
    let ServerFrame::Error { code, .. } = client.recv().await else {
        panic!("expected an error frame")
    };
    assert_eq!(code, ErrorCode::UnknownOp);
    client.send(&ClientFrame::Ping { id: RequestId(9) }).await;
    assert_eq!(client.recv().await, ServerFrame::Ok { id: RequestId(9) });

    // A length prefix over `frame_bytes_max` closes at once, before any body.
    let too_large = u32::try_from(1024 * 1024 + 1).unwrap();
    client.send_raw(&too_large.to_be_bytes()).await;
    assert_eq!(client.closed().await, (1009, "frame too large".into()));
    assert_eq!(server.quic_stats().unwrap().connections_open, 0);
}

#[tokio::test]
async fn a_client_without_the_sluice_alpn_is_refused() {
    let server = common::start_tls_and_quic().await;
    let (_endpoint, refused) = handshake(&server, b"h3").await;
    let error = refused.expect_err("handshake refused").to_string();
    assert!(
        error.contains("no_application_protocol") || error.contains("120"),
        "{error}"
    );
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1008_and_others_go_on() {
    let server = common::start(|c| {
        c.tls.self_signed = true;
        c.quic.listen = Some("127.0.0.1:0".parse().unwrap());
        c.gateway.client_queue_bytes_max = 64 * 1024;
        c.gateway.frame_bytes_max = 32 * 1024;
    })
    .await;
    let mut slow = RawQuic::connect(&server).await;
    slow.send(&subscribe(1, "/demo/firehose")).await;
    assert_eq!(slow.recv().await, ServerFrame::Ok { id: RequestId(1) });
    let mut fast = RawQuic::connect(&server).await;
    fast.send(&subscribe(1, "/demo/firehose")).await;
    assert_eq!(fast.recv().await, ServerFrame::Ok { id: RequestId(1) });

    // The slow client stops reading; QUIC flow control then holds the gateway's
    // writes, and its queue fills, while the fast client keeps up.
    let payload = Bytes::from(vec![b'x'; 16 * 1024]);
    let mut closed = false;
    for i in 0..20_000 {
        server
            .broker()
            .unwrap()
            .produce_keyed(
                "demo",
                Some(Bytes::from_static(b"firehose")),
                Some(payload.clone()),
                Vec::new(),
            )
            .unwrap();
        let ServerFrame::Message(m) = fast.recv().await else {
            panic!("expected message {i}")
        };
        assert_eq!(m.kind, MessageKind::Update, "message {i}");
        if server.runtime().stats().slow_consumer_disconnects_total > 0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow consumer was never disconnected");
    assert_eq!(slow.closed().await, (1008, "slow_consumer".into()));
}

#[tokio::test]
async fn a_publish_in_0rtt_data_waits_for_the_handshake() {
    use quinn::crypto::rustls::QuicClientConfig;
    use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
    use sluice_core::protocol::{binary, ALPN_QUIC};

    let server = common::start_tls_and_quic().await;
    let gateway: std::net::SocketAddr = server.quic_url().unwrap()["quic://".len()..]
        .parse()
        .unwrap();
    let pin = server.tls_fingerprint().unwrap();
    let tls = sluice_tls::client_config(&[pin], &[ALPN_QUIC], true).unwrap();
    let config = quinn::ClientConfig::new(std::sync::Arc::new(
        QuicClientConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();

    // A first connection leaves the client a session ticket.
    let first = endpoint
        .connect_with(config.clone(), gateway, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = first.open_bi().await.unwrap();
    let mut framed = Vec::new();
    write_frame(
        &mut framed,
        &binary::encode_client(&ClientFrame::Ping { id: RequestId(1) }),
    );
    send.write_all(&framed).await.unwrap();
    let mut frames = FrameReader::new(1 << 20);
    while frames.buffered_bytes() == 0 {
        frames.push(&recv.read_chunk(4096, true).await.unwrap().unwrap().bytes);
    }
    first.close(0u32.into(), b"done");

    // The second sends a publish as early data; the relay withholds the rest.
    let relay = HandshakeRelay::start(gateway).await;
    relay.hold_next_handshake();
    let (second, accepted) = endpoint
        .connect_with(config, relay.addr, "localhost")
        .unwrap()
        .into_0rtt()
        .unwrap_or_else(|_| panic!("no 0-RTT despite the session ticket"));
    let (mut send, mut recv) = second.open_bi().await.unwrap();
    let mut framed = Vec::new();
    write_frame(
        &mut framed,
        &binary::encode_client(&publish(2, "/demo/early", b"early")),
    );
    send.write_all(&framed).await.unwrap();

    tokio::time::timeout(common::HANG_GUARD, async {
        while server.quic_stats().unwrap().early_frames_held_total == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the gateway got the early publish");
    assert_eq!(
        server.runtime().stats().publishes_total,
        0,
        "acted on before the handshake completed"
    );

    relay.release();
    assert!(accepted.await, "the gateway accepted the 0-RTT data");
    let mut frames = FrameReader::new(1 << 20);
    let ack = loop {
        if let Some(frame) = frames.next_frame().unwrap() {
            break binary::decode_server(&frame).unwrap();
        }
        let chunk = tokio::time::timeout(common::HANG_GUARD, recv.read_chunk(4096, true))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        frames.push(&chunk.bytes);
    };
    assert!(
        matches!(
            ack,
            ServerFrame::Ack {
                id: RequestId(2),
                ..
            }
        ),
        "{ack:?}"
    );
    assert_eq!(server.runtime().stats().publishes_total, 1);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_and_counted() {
    let server = common::start(|c| {
        c.tls.self_signed = true;
        c.quic.listen = Some("127.0.0.1:0".parse().unwrap());
        c.quic.connections_max = 1;
    })
    .await;
    let mut first = RawQuic::connect(&server).await;
    first.send(&ClientFrame::Ping { id: RequestId(1) }).await;
    assert_eq!(first.recv().await, ServerFrame::Ok { id: RequestId(1) });
    let (_endpoint, refused) = handshake(&server, sluice_core::protocol::ALPN_QUIC).await;
    let error = refused.expect_err("over the limit").to_string();
    assert!(error.to_lowercase().contains("refused"), "{error}");
    let stats = server.quic_stats().unwrap();
    assert_eq!(
        (stats.connections_open, stats.connections_refused_total),
        (1, 1)
    );
    // The first connection is not disturbed.
    first.send(&ClientFrame::Ping { id: RequestId(2) }).await;
    assert_eq!(first.recv().await, ServerFrame::Ok { id: RequestId(2) });
}
