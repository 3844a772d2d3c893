//! permessage-deflate (RFC 7692) on the wire, with frames made and read by hand
//! as a client written from the RFC would: the gateway takes the offer, inflates
//! what the client compresses, compresses what it sends when that pays, and closes
//! a connection that sends a deflate bomb (1009), a malformed stream (1007) or a
//! compressed control frame (1002), with nobody else disturbed.

mod common;

use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    loop {
        let before = compress.total_in() as usize;
        compress
            .compress_vec(&data[before..], &mut out, FlushCompress::Sync)
            .unwrap();
        if compress.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut with_tail = data.to_vec();
    with_tail.extend(TAIL);
    let mut out = Vec::with_capacity(16 << 20);
    Decompress::new(false)
        .decompress_vec(&with_tail, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// One frame from the gateway.
#[derive(Debug)]
struct Frame {
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

struct RawWs {
    stream: TcpStream,
    /// The `Sec-WebSocket-Extensions` the gateway answered with.
    extensions: Option<String>,
}

impl RawWs {
    async fn connect(server: &sluice::server::Server, offer: Option<&str>) -> RawWs {
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        let offer = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let request = format!(
            "GET /v1/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: sluice.v1.json\r\n{offer}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let extensions = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-extensions: "))
            .map(str::to_owned);
        RawWs { stream, extensions }
    }

    /// Sends a masked frame: `first` is FIN/RSV/opcode.
    async fn send_frame(&mut self, first: u8, payload: &[u8]) {
        let mask = [7, 1, 9, 3];
        let mut frame = vec![first];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend((n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend((n as u64).to_be_bytes());
            }
        }
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    async fn send_compressed(&mut self, text: &str) {
        self.send_frame(0xc1, &deflate(text.as_bytes())).await;
    }

    async fn recv_frame(&mut self) -> Frame {
        tokio::time::timeout(common::HANG_GUARD, async {
            let first = self.stream.read_u8().await.unwrap();
            let second = self.stream.read_u8().await.unwrap();
            let len = match second & 0x7f {
                126 => u64::from(self.stream.read_u16().await.unwrap()),
                127 => self.stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0; len as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            Frame {
                rsv1: first & 0x40 != 0,
                opcode: first & 0x0f,
                payload,
            }
        })
        .await
        .expect("a frame within the hang guard")
    }

    /// The next text message, inflated if compressed; pings skipped.
    async fn recv_json(&mut self) -> (Value, bool) {
        loop {
            let frame = self.recv_frame().await;
            match frame.opcode {
                0x1 => {
                    let text = if frame.rsv1 {
                        inflate(&frame.payload)
                    } else {
                        frame.payload
                    };
                    return (serde_json::from_slice(&text).unwrap(), frame.rsv1);
                }
                0x9 | 0xa => continue,
                other => panic!("unexpected opcode {other}: {frame:?}"),
            }
        }
    }

    /// The close code the gateway ends the connection with.
    async fn recv_close(&mut self) -> u16 {
        loop {
            let frame = self.recv_frame().await;
            if frame.opcode == 0x8 {
                return u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            }
        }
    }
}

#[tokio::test]
async fn compressed_messages_go_both_ways_and_bad_deflate_closes_only_its_connection() {
    let server = common::start(|c| c.gateway.frame_bytes_max = 64 * 1024).await;
    let offer = "permessage-deflate; client_max_window_bits";

    // A bystander without compression: nothing changes for it.
    let mut bystander = RawWs::connect(&server, None).await;
    assert_eq!(bystander.extensions, None);
    bystander
        .send_frame(0x81, br#"{"op":"subscribe","id":1,"subjects":["/demo/z"]}"#)
        .await;
    assert_eq!(bystander.recv_json().await.0, json!({"op":"ok","id":1}));

    let mut client = RawWs::connect(&server, Some(offer)).await;
    assert_eq!(
        client.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    client
        .send_compressed(r#"{"op":"subscribe","id":1,"subjects":["/demo/z"]}"#)
        .await;
    let (ok, compressed) = client.recv_json().await;
    assert_eq!(ok, json!({"op":"ok","id":1}));
    assert!(!compressed, "a reply below deflate_min_bytes goes plain");
    let value = "a value that compresses well ".repeat(150);
    let publish = json!({"op":"publish","id":2,"subject":"/demo/z","data":value});
    client.send_compressed(&publish.to_string()).await;
    let mut got_update = false;
    let mut got_ack = false;
    while !(got_update && got_ack) {
        let (frame, compressed) = client.recv_json().await;
        match frame["op"].as_str() {
            Some("ack") => got_ack = true,
            Some("message") => {
                assert_eq!(frame["data"], value.as_str());
                assert!(compressed, "a 4 KB message goes compressed");
                got_update = true;
            }
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    let (update, compressed) = bystander.recv_json().await;
    assert_eq!(update["data"], value.as_str());
    assert!(!compressed);

    // A fragmented compressed message.
    let data = deflate(br#"{"op":"ping","id":3}"#);
    let (a, b) = data.split_at(data.len() / 2);
    client.send_frame(0x41, a).await;
    client.send_frame(0x80, b).await;
    assert_eq!(client.recv_json().await.0, json!({"op":"ok","id":3}));

    // A deflate bomb: 10 MB of zeros in 10 KB, against a 64 KiB bound.
    let bomb = deflate(&vec![b' '; 10 << 20]);
    assert!(bomb.len() < 64 * 1024);
    client.send_frame(0xc1, &bomb).await;
    assert_eq!(client.recv_close().await, 1009);

    let mut malformed = RawWs::connect(&server, Some(offer)).await;
    malformed
        .send_frame(0xc1, b"\xff\xfe\xfd not deflate")
        .await;
    assert_eq!(malformed.recv_close().await, 1007);

    let mut control = RawWs::connect(&server, Some(offer)).await;
    control.send_frame(0xc9, &deflate(b"ping")).await;
    assert_eq!(control.recv_close().await, 1002);

    // The bystander never noticed.
    bystander.send_frame(0x81, br#"{"op":"ping","id":9}"#).await;
    assert_eq!(bystander.recv_json().await.0, json!({"op":"ok","id":9}));
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn with_deflate_off_offers_are_declined() {
    let server = common::start(|c| c.websocket.deflate = false).await;
    let mut client = RawWs::connect(&server, Some("permessage-deflate")).await;
    assert_eq!(client.extensions, None);
    client.send_frame(0x81, br#"{"op":"ping","id":1}"#).await;
    assert_eq!(client.recv_json().await.0, json!({"op":"ok","id":1}));
}

/// `deflate_context_takeover = true`: both sides keep their context, so a message
/// repeated compresses to a few bytes, and the gateway's inflater follows the
/// client's stream across messages.
#[tokio::test]
async fn with_context_takeover_both_sides_keep_their_streams() {
    let server = common::start(|c| c.websocket.deflate_context_takeover = true).await;
    let mut client = RawWs::connect(&server, Some("permessage-deflate")).await;
    assert_eq!(client.extensions.as_deref(), Some("permessage-deflate"));
    // The client's own stream: later messages refer back to earlier ones.
    let mut compress = Compress::new(Compression::default(), false);
    let mut send = |text: String| {
        let mut out = Vec::with_capacity(text.len() + 64);
        compress
            .compress_vec(text.as_bytes(), &mut out, FlushCompress::Sync)
            .unwrap();
        out.truncate(out.len() - 4);
        out
    };
    let value = "a value the gateway will send twice ".repeat(20);
    for id in 1..=2 {
        let publish = json!({"op":"publish","id":id,"subject":"/demo/t","data":value});
        let frame = send(publish.to_string());
        client.send_frame(0xc1, &frame).await;
    }
    let mut acks = 0;
    while acks < 2 {
        let frame = client.recv_frame().await;
        if frame.opcode != 0x1 {
            continue;
        }
        acks += 1;
        assert!(!frame.rsv1, "acks are below deflate_min_bytes");
        let ack: Value = serde_json::from_slice(&frame.payload).unwrap();
        assert_eq!(ack["op"], "ack", "{ack}");
    }
    client
        .send_frame(
            0xc1,
            &send(r#"{"op":"subscribe","id":3,"subjects":["/demo/t"],"history":2}"#.into()),
        )
        .await;
    let mut decompress = Decompress::new(false);
    let mut sizes = Vec::new();
    let mut history = 0;
    while history < 2 {
        let frame = client.recv_frame().await;
        if frame.opcode != 0x1 {
            continue;
        }
        let text = if frame.rsv1 {
            let mut data = frame.payload.clone();
            data.extend(TAIL);
            let mut out = Vec::with_capacity(1 << 16);
            decompress
                .decompress_vec(&data, &mut out, FlushDecompress::Sync)
                .unwrap();
            out
        } else {
            frame.payload.clone()
        };
        let message: Value = serde_json::from_slice(&text).unwrap();
        if message["type"] == "history" {
            assert_eq!(message["data"], value.as_str());
            assert!(frame.rsv1);
            sizes.push(frame.payload.len());
            history += 1;
        }
    }
    assert!(sizes[1] < sizes[0] / 4, "the repeat refers back: {sizes:?}");
}

/// At most `deflate_context_takeover_connections_max` connections keep contexts;
/// others negotiate compression without, and a place is given back when its
/// connection ends. The gauges and byte counters say so.
#[tokio::test]
async fn context_takeover_is_bounded_per_gateway_and_shows_in_metrics() {
    let server = common::start(|c| {
        c.websocket.deflate_context_takeover = true;
        c.websocket.deflate_context_takeover_connections_max = 1;
    })
    .await;
    let first = RawWs::connect(&server, Some("permessage-deflate")).await;
    assert_eq!(first.extensions.as_deref(), Some("permessage-deflate"));
    let mut second = RawWs::connect(&server, Some("permessage-deflate")).await;
    assert_eq!(
        second.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    // The second still compresses what it sends, each message on its own.
    let value = "compressible ".repeat(100);
    let publish = json!({"op":"publish","id":1,"subject":"/demo/m","data":value});
    second
        .send_frame(0x81, br#"{"op":"subscribe","id":2,"subjects":["/demo/m"]}"#)
        .await;
    assert_eq!(second.recv_json().await.0["op"], "ok");
    second.send_compressed(&publish.to_string()).await;
    loop {
        let (frame, compressed) = second.recv_json().await;
        if frame["op"] == "message" {
            assert!(compressed);
            break;
        }
    }
    let metric = |body: &str, series: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let (_, body) = common::http::get(server.admin_addr(), "/metrics").await;
    assert_eq!(
        metric(
            &body,
            r#"sluice_websocket_deflate_connections{context_takeover="true"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &body,
            r#"sluice_websocket_deflate_connections{context_takeover="false"}"#
        ),
        1.0
    );
    let plain = metric(&body, "sluice_websocket_deflate_plain_bytes_total");
    let wire = metric(&body, "sluice_websocket_deflate_wire_bytes_total");
    assert!(wire > 0.0 && wire < plain / 4.0, "{plain} → {wire}");

    // The first's place comes back when it ends.
    drop(first);
    let mut third = None;
    for _ in 0..100 {
        let next = RawWs::connect(&server, Some("permessage-deflate")).await;
        if next.extensions.as_deref() == Some("permessage-deflate") {
            third = Some(next);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "the place was given back");
}
