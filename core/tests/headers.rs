//! Record headers reach the subscriptions that ask for them (protocol 1.1,
//! `"headers": true`), on every start and live, bounded by the gateway's config;
//! the others get exactly the v1 frames.

use std::sync::Arc;

use bytes::Bytes;
use sluice_core::protocol::{
    ClientFrame, Encoding, Message, MessageKind, ServerFrame, SubscribeItem, SubscribeOptions,
};
use sluice_core::testing::{self, Harness};
use sluice_core::{BrokerEvent, BrokerRecord, ClientId, GatewayConfig, Header, Input, RequestId};

fn header(name: &str, value: &[u8]) -> Header {
    Header {
        name: name.to_owned(),
        value: Bytes::copy_from_slice(value),
    }
}

/// A record's headers as a back-end producer might set them: text, a binary
/// value, and the gateway's own `retained`.
fn producer_headers() -> Vec<Header> {
    vec![
        header("content-type", b"application/json"),
        header("tenant", b"acme"),
        header("blob", &[0xff, 0x00]),
    ]
}

fn gateway(config: GatewayConfig) -> Harness {
    let mut h = Harness::new(GatewayConfig {
        exposed_topics: vec!["t".into()],
        ..config
    });
    h.topic("t", 1, 0);
    h
}

fn write(h: &mut Harness, offset: u64, value: &str, headers: Vec<Header>) {
    let record = BrokerRecord {
        headers: Arc::from(headers),
        ..testing::record("t", 0, offset, "k", value)
    };
    h.input(Input::Broker(BrokerEvent::Records(vec![record])));
}

fn subscribe(h: &mut Harness, client: u64, history: Option<u32>, headers: bool) {
    h.connect(ClientId(client));
    h.frame(
        ClientId(client),
        ClientFrame::Subscribe {
            id: RequestId(1),
            items: vec![SubscribeItem {
                subject: "/t/k".into(),
                resume: None,
            }],
            options: SubscribeOptions {
                delta: false,
                history_end: false,
                history,
                headers,
                conflate_ms: None,
            },
        },
    );
}

fn messages(h: &mut Harness, client: u64) -> Vec<Message> {
    h.transmit(ClientId(client))
        .into_iter()
        .filter_map(|frame| match frame {
            ServerFrame::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn names(message: &Message) -> Option<Vec<&str>> {
    message
        .headers
        .as_ref()
        .map(|headers| headers.iter().map(|h| h.name.as_str()).collect())
}

#[test]
fn snapshot_and_live_messages_carry_headers_only_where_asked() {
    let mut h = gateway(GatewayConfig::default());
    write(&mut h, 0, "v0", producer_headers());
    subscribe(&mut h, 1, None, true);
    subscribe(&mut h, 2, None, false);

    let with = messages(&mut h, 1);
    assert_eq!(with.len(), 1);
    assert_eq!(with[0].kind, MessageKind::Snapshot);
    assert_eq!(
        names(&with[0]),
        Some(vec!["content-type", "tenant", "blob"])
    );
    assert!(!with[0].headers_truncated);
    let without = messages(&mut h, 2);
    assert_eq!(without[0].headers, None);

    write(
        &mut h,
        1,
        "v1",
        vec![header("traceparent", b"00-abc-def-01")],
    );
    let with = messages(&mut h, 1);
    assert_eq!(names(&with[0]), Some(vec!["traceparent"]));
    assert_eq!(messages(&mut h, 2)[0].headers, None);

    // A record without headers: no `headers` at all, even where asked.
    write(&mut h, 2, "v2", Vec::new());
    assert_eq!(messages(&mut h, 1)[0].headers, None);
}

#[test]
fn the_json_and_binary_frames_carry_them_in_the_documented_shape() {
    let mut h = gateway(GatewayConfig::default());
    write(&mut h, 0, "v0", producer_headers());
    subscribe(&mut h, 1, None, true);
    subscribe(&mut h, 2, None, false);
    let with = ServerFrame::Message(messages(&mut h, 1).remove(0));
    let json = String::from_utf8(Encoding::Json.encode_server(&with)).unwrap();
    assert_eq!(
        json,
        r#"{"op":"message","subject":"/t/k","data":"v0","seq":0,"epoch":"e-0","type":"snapshot","headers":{"content-type":"application/json","tenant":"acme","blob":{"base64":"/wA="}}}"#
    );
    for encoding in [Encoding::Json, Encoding::Binary] {
        let decoded = encoding
            .decode_server(&encoding.encode_server(&with))
            .unwrap();
        let ServerFrame::Message(m) = decoded else {
            panic!("not a message")
        };
        let mut got: Vec<(String, Bytes)> = m
            .headers
            .unwrap()
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("blob".to_owned(), Bytes::from_static(&[0xff, 0x00])),
                (
                    "content-type".to_owned(),
                    Bytes::from_static(b"application/json")
                ),
                ("tenant".to_owned(), Bytes::from_static(b"acme")),
            ],
            "{encoding:?}"
        );
    }
    // The v1 subscriber's frame is byte for byte what v1 sends.
    let without = ServerFrame::Message(messages(&mut h, 2).remove(0));
    assert_eq!(
        String::from_utf8(Encoding::Json.encode_server(&without)).unwrap(),
        r#"{"op":"message","subject":"/t/k","data":"v0","seq":0,"epoch":"e-0","type":"snapshot"}"#
    );
}

#[test]
fn a_fan_out_shares_one_encoding_per_format_and_header_choice() {
    let mut h = gateway(GatewayConfig::default());
    write(&mut h, 0, "v0", producer_headers());
    for client in 1..=4 {
        subscribe(&mut h, client, None, client % 2 == 0);
        messages(&mut h, client);
    }
    write(&mut h, 1, "v1", producer_headers());
    let frames: Vec<Bytes> = (1..=4)
        .map(|client| {
            let m = messages(&mut h, client).remove(0);
            Encoding::Json.encode_server_shared(&ServerFrame::Message(m))
        })
        .collect();
    assert_eq!(
        frames[0].as_ptr(),
        frames[2].as_ptr(),
        "without headers: shared"
    );
    assert_eq!(
        frames[1].as_ptr(),
        frames[3].as_ptr(),
        "with headers: shared"
    );
    assert_ne!(frames[0], frames[1]);
    assert!(std::str::from_utf8(&frames[1])
        .unwrap()
        .contains(r#""tenant":"acme""#));
    assert!(!std::str::from_utf8(&frames[0]).unwrap().contains("headers"));
}

#[test]
fn history_from_the_cache_carries_headers_too() {
    let mut h = gateway(GatewayConfig::default());
    for offset in 0..3 {
        write(&mut h, offset, "v", producer_headers());
    }
    subscribe(&mut h, 1, Some(2), true);
    let history = messages(&mut h, 1);
    assert_eq!(history.len(), 2);
    assert!(history
        .iter()
        .all(|m| m.kind == MessageKind::History && names(m).is_some_and(|n| n.len() == 3)));
}

/// The snapshot a subscriber with headers gets of a record with
/// [`producer_headers`], on a gateway with `config`.
fn snapshot_with_headers(config: GatewayConfig) -> Message {
    let mut h = gateway(config);
    write(&mut h, 0, "v0", producer_headers());
    subscribe(&mut h, 1, None, true);
    messages(&mut h, 1).remove(0)
}

#[test]
fn headers_beyond_the_bounds_are_left_out_and_the_message_says_so() {
    let m = snapshot_with_headers(GatewayConfig {
        message_headers_max: 2,
        ..GatewayConfig::default()
    });
    assert_eq!(names(&m), Some(vec!["content-type", "tenant"]));
    assert!(m.headers_truncated);
    let json = String::from_utf8(Encoding::Json.encode_server(&ServerFrame::Message(m))).unwrap();
    assert!(json.ends_with(r#""headers":{"content-type":"application/json","tenant":"acme"},"headers_truncated":true}"#), "{json}");

    let m = snapshot_with_headers(GatewayConfig {
        message_headers_bytes_max: 20,
        ..GatewayConfig::default()
    });
    // "content-type" + "application/json" is 28 bytes: nothing fits.
    assert_eq!(m.headers, None);
    assert!(m.headers_truncated);
}

#[test]
fn a_name_repeated_in_the_record_appears_once_in_json_with_its_last_value() {
    let mut h = gateway(GatewayConfig::default());
    write(
        &mut h,
        0,
        "v0",
        vec![header("a", b"1"), header("b", b"2"), header("a", b"3")],
    );
    subscribe(&mut h, 1, None, true);
    let m = ServerFrame::Message(messages(&mut h, 1).remove(0));
    let json = String::from_utf8(Encoding::Json.encode_server(&m)).unwrap();
    assert!(json.ends_with(r#""headers":{"b":"2","a":"3"}}"#), "{json}");
    // Binary keeps every pair, in order.
    let ServerFrame::Message(decoded) = Encoding::Binary
        .decode_server(&Encoding::Binary.encode_server(&m))
        .unwrap()
    else {
        panic!("not a message")
    };
    assert_eq!(names(&decoded), Some(vec!["a", "b", "a"]));
}

#[test]
fn subscribe_decodes_headers_as_a_boolean_and_refuses_anything_else() {
    let frame = Encoding::Json
        .decode_client(br#"{"op":"subscribe","id":1,"subjects":["/t/k"],"headers":true}"#)
        .unwrap();
    assert!(matches!(
        frame,
        ClientFrame::Subscribe {
            options: SubscribeOptions { headers: true, .. },
            ..
        }
    ));
    let frame = Encoding::Json
        .decode_client(br#"{"op":"subscribe","id":1,"subjects":["/t/k"]}"#)
        .unwrap();
    assert!(matches!(
        frame,
        ClientFrame::Subscribe {
            options: SubscribeOptions { headers: false, .. },
            ..
        }
    ));
    let err = Encoding::Json
        .decode_client(br#"{"op":"subscribe","id":7,"subjects":["/t/k"],"headers":"yes"}"#)
        .unwrap_err();
    assert_eq!(err.id, Some(RequestId(7)));
    assert!(err.message.contains("headers"), "{err}");
    // Binary: flag bit 1.
    let encoded = Encoding::Binary.encode_client(&frame_with_headers());
    assert_eq!(encoded[9], 0x02);
    assert_eq!(
        Encoding::Binary.decode_client(&encoded).unwrap(),
        frame_with_headers()
    );
}

fn frame_with_headers() -> ClientFrame {
    ClientFrame::Subscribe {
        id: RequestId(1),
        items: vec![SubscribeItem {
            subject: "/t/k".into(),
            resume: None,
        }],
        options: SubscribeOptions {
            delta: false,
            history_end: false,
            history: None,
            headers: true,
            conflate_ms: None,
        },
    }
}
