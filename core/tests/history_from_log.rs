//! History longer than the message cache (protocol 1.1): searched for and read back
//! from the broker's log, complete and in order, then live updates with no gap;
//! `history_end` says whether the log still had everything asked for.

use sluice_core::protocol::{
    ClientFrame, ErrorCode, ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
use sluice_core::testing::{self, Harness};
use sluice_core::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, ClientId, FetchRequest, Fetched,
    GatewayConfig, Input, RequestId,
};

const CLIENT: ClientId = ClientId(1);

/// One partition's log as a broker holds it: `start..` are still there.
struct Log {
    records: Vec<BrokerRecord>,
    start: u64,
    /// Offsets one answer examines at most.
    batch: u64,
}

impl Log {
    /// Records at offsets 0..n, every third of key `k` (value `k<offset>`), the
    /// rest of key `j`; the gateway has read those from `start` on.
    fn new(h: &mut Harness, n: u64, start: u64) -> Log {
        let records: Vec<BrokerRecord> = (0..n)
            .map(|o| {
                let key = if o % 3 == 0 { "k" } else { "j" };
                testing::record("t", 0, o, key, &format!("{key}{o}"))
            })
            .collect();
        h.topic("t", 1, start);
        let read = records[start as usize..].to_vec();
        h.input(Input::Broker(BrokerEvent::Records(read)));
        Log {
            records,
            start,
            batch: 4,
        }
    }

    /// Answers a fetch as a broker does: a bounded batch, from the log's
    /// start if asked to begin below it.
    fn answer(&self, request: &FetchRequest) -> Result<Fetched, BrokerError> {
        let mut from = request.from_offset;
        if from < self.start {
            if !request.from_log_start {
                return Err(BrokerError::OffsetOutOfRange);
            }
            from = self.start;
        }
        let end = (request.to_offset + 1).min(from + self.batch);
        let records = self.records[from as usize..(end as usize).min(self.records.len())]
            .iter()
            .filter(|r| r.key == request.key)
            .cloned()
            .collect();
        Ok(Fetched {
            records,
            first_offset: from,
            next_offset: end,
        })
    }
}

fn gateway(cache_per_subject: usize, history_max: u32) -> Harness {
    let mut h = Harness::new(GatewayConfig {
        exposed_topics: vec!["t".into()],
        message_cache_messages_per_subject_max: cache_per_subject,
        history_max,
        history_scan_offsets: 5,
        ..GatewayConfig::default()
    });
    h.connect(CLIENT);
    h
}

fn subscribe(h: &mut Harness, history: u32, history_end: bool) {
    subscribe_as(h, CLIENT, history, history_end);
}

fn subscribe_as(h: &mut Harness, client: ClientId, history: u32, history_end: bool) {
    h.frame(
        client,
        ClientFrame::Subscribe {
            id: RequestId(1),
            items: vec![SubscribeItem {
                subject: "/t/k".into(),
                resume: None,
            }],
            options: SubscribeOptions {
                history: Some(history),
                history_end,
                ..SubscribeOptions::default()
            },
        },
    );
}

/// Answers the gateway's fetches until it asks for none, reading what the client
/// gets as it goes (so paced starts go on). Returns the frames and the fetches seen.
fn run(h: &mut Harness, log: &Log) -> (Vec<String>, usize) {
    let mut frames = Vec::new();
    let mut fetches = 0;
    loop {
        frames.extend(h.transmit(CLIENT).into_iter().map(describe));
        let commands = std::mem::take(&mut h.broker);
        if commands.is_empty() {
            return (frames, fetches);
        }
        for command in commands {
            let BrokerCommand::Fetch(request) = command else {
                panic!("only fetches expected, got {command:?}");
            };
            fetches += 1;
            let result = log.answer(&request);
            h.input(Input::Broker(BrokerEvent::Fetched {
                fetch: request.fetch,
                result,
            }));
        }
    }
}

fn describe(frame: ServerFrame) -> String {
    match frame {
        ServerFrame::Message(m) => format!(
            "{} {}",
            m.kind.as_str(),
            String::from_utf8_lossy(m.data.as_deref().unwrap_or_default())
        ),
        ServerFrame::Status {
            status: SyncStatus::HistoryEnd { complete },
            ..
        } => format!("history_end complete={complete}"),
        ServerFrame::Status { status, .. } => status.as_str().to_owned(),
        ServerFrame::Ok { .. } => "ok".to_owned(),
        ServerFrame::Error { code, .. } => format!("error {}", code.as_str()),
        other => format!("{other:?}"),
    }
}

fn history(values: impl IntoIterator<Item = u64>) -> Vec<String> {
    values
        .into_iter()
        .map(|o| format!("history k{o}"))
        .collect()
}

#[test]
fn a_history_longer_than_the_cache_is_read_from_the_log_complete_and_in_order() {
    // 60 offsets, 20 of them key k; the cache keeps 2 per subject.
    let mut h = gateway(2, 1000);
    let log = Log::new(&mut h, 60, 0);
    subscribe(&mut h, 12, true);
    let (frames, fetches) = run(&mut h, &log);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history((0..60).filter(|o| o % 3 == 0).skip(20 - 12)));
    expected.push("history_end complete=true".to_owned());
    assert_eq!(
        frames, expected,
        "the last 12 of k, oldest first, then the marker"
    );
    assert!(
        fetches > 2,
        "searched in windows, then read: {fetches} fetches"
    );

    // Live updates follow with no gap.
    let next = testing::record("t", 0, 60, "k", "k60");
    h.input(Input::Broker(BrokerEvent::Records(vec![next])));
    assert_eq!(
        h.transmit(CLIENT)
            .into_iter()
            .map(describe)
            .collect::<Vec<_>>(),
        ["update k60"]
    );
}

#[test]
fn a_history_the_log_no_longer_has_in_full_comes_with_an_incomplete_marker() {
    // Retention removed offsets below 30: k has 10 records left (30, 33, …, 57).
    let mut h = gateway(2, 1000);
    let log = Log::new(&mut h, 60, 30);
    subscribe(&mut h, 15, true);
    let (frames, _) = run(&mut h, &log);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history((30..60).filter(|o| o % 3 == 0)));
    expected.push("history_end complete=false".to_owned());
    assert_eq!(frames, expected);
}

#[test]
fn fewer_records_than_asked_from_a_whole_log_is_complete() {
    let mut h = gateway(2, 1000);
    let log = Log::new(&mut h, 30, 0);
    subscribe(&mut h, 50, true);
    let (frames, _) = run(&mut h, &log);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history((0..30).filter(|o| o % 3 == 0)));
    expected.push("history_end complete=true".to_owned());
    assert_eq!(frames, expected);
}

#[test]
fn without_history_end_the_frames_are_v1s() {
    let mut h = gateway(2, 1000);
    let log = Log::new(&mut h, 30, 0);
    subscribe(&mut h, 4, false);
    let (frames, _) = run(&mut h, &log);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history([18, 21, 24, 27]));
    assert_eq!(frames, expected);
}

#[test]
fn a_history_the_cache_holds_needs_no_fetch() {
    let mut h = gateway(128, 1000);
    let log = Log::new(&mut h, 30, 0);
    subscribe(&mut h, 3, true);
    let (frames, fetches) = run(&mut h, &log);
    assert_eq!(fetches, 0);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history([21, 24, 27]));
    expected.push("history_end complete=true".to_owned());
    assert_eq!(frames, expected);
}

#[test]
fn history_above_history_max_is_refused_as_an_invalid_frame() {
    let mut h = gateway(2, 10);
    let log = Log::new(&mut h, 30, 0);
    subscribe(&mut h, 11, true);
    let (frames, fetches) = run(&mut h, &log);
    assert_eq!(
        frames,
        [format!("error {}", ErrorCode::InvalidFrame.as_str())]
    );
    assert_eq!(fetches, 0);
    // The connection goes on: history_max itself is fine.
    subscribe(&mut h, 10, true);
    let (frames, _) = run(&mut h, &log);
    assert_eq!(frames.first().map(String::as_str), Some("ok"));
    assert_eq!(
        frames.last().map(String::as_str),
        Some("history_end complete=true")
    );
}

#[test]
fn a_log_that_cannot_be_read_gives_the_caches_history_marked_incomplete() {
    let mut h = gateway(2, 1000);
    let _log = Log::new(&mut h, 30, 0);
    subscribe(&mut h, 8, true);
    let mut frames: Vec<String> = h.transmit(CLIENT).into_iter().map(describe).collect();
    for command in std::mem::take(&mut h.broker) {
        let BrokerCommand::Fetch(request) = command else {
            panic!("a fetch");
        };
        h.input(Input::Broker(BrokerEvent::Fetched {
            fetch: request.fetch,
            result: Err(BrokerError::Unavailable("down".into())),
        }));
    }
    frames.extend(h.transmit(CLIENT).into_iter().map(describe));
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history([24, 27]));
    expected.push("history_end complete=false".to_owned());
    assert_eq!(frames, expected);
}

#[test]
fn a_paced_history_from_the_log_stays_exact() {
    // A queue that holds a few frames at a time: the history pauses and goes on.
    let mut h = Harness::new(GatewayConfig {
        exposed_topics: vec!["t".into()],
        message_cache_messages_per_subject_max: 2,
        client_queue_bytes_max: 2048,
        history_scan_offsets: 7,
        ..GatewayConfig::default()
    });
    h.connect(CLIENT);
    let mut log = Log::new(&mut h, 150, 0);
    log.batch = 1000;
    subscribe(&mut h, 40, true);
    let (frames, _) = run(&mut h, &log);
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history((0..150).filter(|o| o % 3 == 0).skip(10)));
    expected.push("history_end complete=true".to_owned());
    assert_eq!(frames, expected);
    assert!(
        h.gateway.stats().start_pauses_total > 0,
        "the start was paced"
    );
}

#[test]
fn with_no_fetch_slot_and_no_room_to_wait_the_history_is_the_caches_marked_incomplete() {
    let mut h = Harness::new(GatewayConfig {
        exposed_topics: vec!["t".into()],
        message_cache_messages_per_subject_max: 2,
        fetches_in_flight_max: 1,
        fetch_queue_max: 0,
        history_scan_offsets: 5,
        ..GatewayConfig::default()
    });
    h.connect(CLIENT);
    let _log = Log::new(&mut h, 30, 0);
    // The first history takes the only fetch slot (left unanswered).
    subscribe(&mut h, 8, true);
    assert_eq!(
        h.transmit(CLIENT)
            .into_iter()
            .map(describe)
            .collect::<Vec<_>>(),
        ["ok"]
    );
    assert_eq!(std::mem::take(&mut h.broker).len(), 1);
    // The second has neither a slot nor room to wait.
    let other = ClientId(2);
    h.connect(other);
    subscribe_as(&mut h, other, 8, true);
    let frames: Vec<String> = h.transmit(other).into_iter().map(describe).collect();
    let mut expected = vec!["ok".to_owned()];
    expected.extend(history([24, 27]));
    expected.push("history_end complete=false".to_owned());
    assert_eq!(frames, expected);
    assert!(h.broker.is_empty(), "no fetch asked for");
}
