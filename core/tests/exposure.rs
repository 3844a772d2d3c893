//! Exposure as an input to the core: exposing a topic or a pattern while clients
//! are connected, and stopping it, which ends exactly the subscriptions to it with
//! an id-less `not_exposed` error naming the subject.

use std::sync::Arc;

use bytes::Bytes;
use sluice_core::protocol::{Encoding, ErrorCode, ServerFrame};
use sluice_core::{
    BrokerEvent, ClientId, Epoch, ExposureChange, Gateway, GatewayConfig, Input, PartitionMeta,
    RequestId,
};

fn announce(gw: &mut Gateway, topic: &str) {
    let meta = BrokerEvent::TopicMeta {
        topic: Arc::from(topic),
        partitions: vec![PartitionMeta {
            partition: 0,
            epoch: Epoch::new(format!("{topic}-e")),
            start_offset: 0,
        }],
    };
    gw.handle_input(0, Input::Broker(meta)).unwrap();
}

fn send(gw: &mut Gateway, client: ClientId, json: &str) -> Vec<ServerFrame> {
    let data = Bytes::from(json.to_owned());
    gw.handle_input(0, Input::ClientData { client, data })
        .unwrap();
    drain(gw, client)
}

fn drain(gw: &mut Gateway, client: ClientId) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    while let Some(frame) = gw.poll_transmit(client) {
        frames.push(frame);
    }
    while gw.poll_output().is_some() {}
    frames
}

fn change(gw: &mut Gateway, change: ExposureChange) {
    gw.handle_input(0, Input::Exposure(change)).unwrap();
}

fn subscribe(gw: &mut Gateway, client: ClientId, subject: &str) -> Vec<ServerFrame> {
    send(
        gw,
        client,
        &format!(r#"{{"op":"subscribe","id":1,"subjects":["{subject}"]}}"#),
    )
}

fn error_code(frames: &[ServerFrame]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    })
}

#[test]
fn a_topic_exposed_and_stopped_live() {
    let mut gw = Gateway::new(GatewayConfig {
        exposed_topics: vec!["demo".into()],
        ..GatewayConfig::default()
    });
    announce(&mut gw, "demo");
    announce(&mut gw, "news");
    let (a, b) = (ClientId(1), ClientId(2));
    for client in [a, b] {
        gw.handle_input(
            0,
            Input::Connect {
                client,
                encoding: Encoding::Json,
            },
        )
        .unwrap();
    }
    assert_eq!(
        error_code(&subscribe(&mut gw, a, "/news/x")),
        Some(ErrorCode::NotExposed),
        "announced is not exposed"
    );

    change(
        &mut gw,
        ExposureChange::Topic {
            name: "news".into(),
            exposed: true,
        },
    );
    assert_eq!(
        subscribe(&mut gw, a, "/news/x"),
        vec![ServerFrame::Ok { id: RequestId(1) }]
    );
    assert_eq!(
        subscribe(&mut gw, a, "/demo/x"),
        vec![ServerFrame::Ok { id: RequestId(1) }]
    );
    assert_eq!(
        subscribe(&mut gw, b, "/demo/y"),
        vec![ServerFrame::Ok { id: RequestId(1) }]
    );
    assert_eq!(gw.exposed_topics(), ["demo", "news"]);
    let news = gw
        .topic_infos()
        .into_iter()
        .find(|t| t.name == "news")
        .unwrap();
    assert_eq!(
        (news.subscribers, news.partitions, news.listed),
        (1, 1, true)
    );

    change(
        &mut gw,
        ExposureChange::Topic {
            name: "news".into(),
            exposed: false,
        },
    );
    assert_eq!(
        drain(&mut gw, a),
        vec![ServerFrame::Error {
            id: None,
            subject: Some("/news/x".into()),
            code: ErrorCode::NotExposed,
            message: "topic news is no longer exposed".into(),
        }]
    );
    assert_eq!(drain(&mut gw, b), vec![], "nobody else is told anything");
    assert_eq!(
        gw.stats().subscriptions_active,
        2,
        "the demo subscriptions go on"
    );
    assert_eq!(
        error_code(&subscribe(&mut gw, a, "/news/x")),
        Some(ErrorCode::NotExposed)
    );
}

#[test]
fn patterns_expose_announced_topics_and_bad_ones_change_nothing() {
    let mut gw = Gateway::new(GatewayConfig::default());
    announce(&mut gw, "metrics.cpu");
    let a = ClientId(1);
    gw.handle_input(
        0,
        Input::Connect {
            client: a,
            encoding: Encoding::Json,
        },
    )
    .unwrap();

    change(
        &mut gw,
        ExposureChange::Pattern {
            regex: "(".into(),
            exposed: true,
        },
    );
    change(
        &mut gw,
        ExposureChange::Topic {
            name: "bad name".into(),
            exposed: true,
        },
    );
    assert!(gw.exposed_patterns().is_empty() && gw.exposed_topics().is_empty());

    change(
        &mut gw,
        ExposureChange::Pattern {
            regex: "metrics\\..*".into(),
            exposed: true,
        },
    );
    assert!(gw.is_exposed("metrics.cpu"));
    assert!(!gw.is_exposed("metrics.mem"), "matching but not announced");
    assert!(!gw.is_exposed("xmetrics.cpu"), "the whole name must match");
    assert_eq!(
        subscribe(&mut gw, a, "/metrics.cpu/h1"),
        vec![ServerFrame::Ok { id: RequestId(1) }]
    );

    change(
        &mut gw,
        ExposureChange::Pattern {
            regex: "metrics\\..*".into(),
            exposed: false,
        },
    );
    assert_eq!(error_code(&drain(&mut gw, a)), Some(ErrorCode::NotExposed));
    assert_eq!(gw.stats().subscriptions_active, 0);
}

#[test]
fn the_subject_browser_pages_in_subject_order() {
    let mut gw = Gateway::new(GatewayConfig {
        exposed_topics: vec!["t".into()],
        ..GatewayConfig::default()
    });
    announce(&mut gw, "t");
    let records = (0..5)
        .map(|i| sluice_core::BrokerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: i,
            key: Some(Bytes::from(format!("k{i}"))),
            payload: Some(Bytes::from("x".repeat(10))),
            headers: Arc::from(Vec::new()),
            timestamp_ms: 0,
            handed_over_unix_us: 0,
        })
        .collect();
    gw.handle_input(0, Input::Broker(BrokerEvent::Records(records)))
        .unwrap();
    // A subscriber of a subject with no snapshot yet, sorting inside the page:
    // the two passes (snapshots, subscribers) merge, each keeping one page.
    let viewer = ClientId(9);
    gw.handle_input(
        0,
        Input::Connect {
            client: viewer,
            encoding: Encoding::Json,
        },
    )
    .unwrap();
    subscribe(&mut gw, viewer, "/t/k00");
    let (page, _) = gw.subject_infos("t", "k", None, 2, 4);
    let names: Vec<(&str, u64, bool)> = page
        .iter()
        .map(|s| (s.subject.as_str(), s.subscribers, s.seq.is_some()))
        .collect();
    assert_eq!(names, [("/t/k0", 0, true), ("/t/k00", 1, false)]);
    gw.handle_input(0, Input::Disconnect { client: viewer })
        .unwrap();

    let (page, cursor) = gw.subject_infos("t", "k", None, 2, 4);
    let names: Vec<&str> = page.iter().map(|s| s.subject.as_str()).collect();
    assert_eq!(names, ["/t/k0", "/t/k1"]);
    assert_eq!(page[0].snapshot_preview.as_deref(), Some("xxxx"));
    assert!(page[0].snapshot_truncated);
    let (page, cursor) = gw.subject_infos("t", "k", cursor.as_deref(), 2, 4);
    assert_eq!(
        page.iter().map(|s| s.subject.as_str()).collect::<Vec<_>>(),
        ["/t/k2", "/t/k3"]
    );
    let (page, cursor) = gw.subject_infos("t", "k", cursor.as_deref(), 2, 4);
    assert_eq!((page.len(), cursor), (1, None));
    assert!(gw.subject_infos("t", "nope", None, 2, 4).0.is_empty());
}
