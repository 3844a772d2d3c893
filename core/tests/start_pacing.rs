//! Subscription starts are paced by the client's queue, never a reason to close it:
//! a start larger than `client_queue_bytes_max` is delivered completely, in order,
//! as the client reads. Live updates that a client does not read still close it as a
//! slow consumer.

use std::sync::Arc;

use bytes::Bytes;
use sluice_core::protocol::{
    ClientFrame, MessageKind, ResumePoint, ServerFrame, SubscribeItem, SubscribeOptions, SyncStatus,
};
use sluice_core::testing;
use sluice_core::{
    BrokerCommand, BrokerEvent, BrokerRecord, ClientId, Epoch, FetchRequest, Fetched, Gateway,
    GatewayConfig, Input, RequestId,
};

const BOUND: usize = 1_000;
const CLIENT: ClientId = ClientId(1);

/// The shared harness with one client, and topic `t`'s only partition's log.
struct Harness {
    core: testing::Harness,
    /// The log of topic `t`'s only partition.
    log: Vec<BrokerRecord>,
    /// Records handed to the gateway so far.
    delivered: usize,
    /// The most bytes ever queued towards the client.
    queue_peak: usize,
}

fn epoch() -> Epoch {
    testing::epoch(0)
}

fn payload(n: u64) -> Bytes {
    Bytes::from(format!("{n:0>100}"))
}

impl Harness {
    fn new(cache_messages: usize) -> Harness {
        let config = GatewayConfig {
            exposed_topics: vec!["t".into()],
            client_queue_bytes_max: BOUND,
            frame_bytes_max: BOUND,
            message_cache_messages_per_subject_max: cache_messages,
            ..GatewayConfig::default()
        };
        let mut h = Harness {
            core: testing::Harness::new(config),
            log: Vec::new(),
            delivered: 0,
            queue_peak: 0,
        };
        h.core.topic("t", 1, 0);
        h.core.connect(CLIENT);
        h
    }

    fn input(&mut self, input: Input) {
        self.core.input(input);
        self.checked();
    }

    /// Only fetches are asked of the broker; notes the queue's peak.
    fn checked(&mut self) {
        let other = self
            .core
            .broker
            .iter()
            .find(|c| !matches!(c, BrokerCommand::Fetch(_)));
        assert!(other.is_none(), "unexpected {other:?}");
        assert!(self.core.moves.is_empty() && self.core.to_verify.is_empty());
        let queued = self.gw().client_queue_bytes(CLIENT).unwrap_or(0);
        self.queue_peak = self.queue_peak.max(queued);
    }

    fn gw(&self) -> &Gateway {
        &self.core.gateway
    }

    /// The reason of the client's close, if it was closed.
    fn closed(&self) -> Option<&'static str> {
        self.core.closed.last().map(|&(_, _, reason)| reason)
    }

    /// Writes a record of `/t/<key>` and delivers it to the gateway.
    fn write(&mut self, key: &str) -> u64 {
        let offset = self.log.len() as u64;
        self.log.push(BrokerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            payload: Some(payload(offset)),
            headers: Vec::new().into(),
            timestamp_ms: 0,
            handed_over_unix_us: 0,
        });
        let batch = self.log[self.delivered..].to_vec();
        self.delivered = self.log.len();
        self.input(Input::Broker(BrokerEvent::Records(batch)));
        offset
    }

    fn subscribe(&mut self, items: Vec<SubscribeItem>) {
        self.input(Input::ClientFrame {
            client: CLIENT,
            frame: ClientFrame::Subscribe {
                id: RequestId(1),
                items,
                options: SubscribeOptions::default(),
            },
        });
    }

    /// Answers every pending fetch with the whole range at once.
    fn answer_fetches(&mut self) {
        for cmd in std::mem::take(&mut self.core.broker) {
            let BrokerCommand::Fetch(FetchRequest {
                fetch,
                key,
                from_offset,
                to_offset,
                ..
            }) = cmd
            else {
                unreachable!()
            };
            let records = self.log[from_offset as usize..=to_offset as usize]
                .iter()
                .filter(|r| r.key == key)
                .cloned()
                .collect();
            self.input(Input::Broker(BrokerEvent::Fetched {
                fetch,
                result: Ok(Fetched {
                    first_offset: from_offset,
                    records,
                    next_offset: to_offset + 1,
                }),
            }));
        }
    }

    /// The client reads one frame, as a socket writer would.
    fn read(&mut self) -> Option<ServerFrame> {
        let frame = self.core.gateway.poll_transmit(CLIENT);
        self.core.pump();
        self.checked();
        frame
    }

    /// The client reads up to `max` frames at once, as the runtime's writers do.
    fn read_batch(&mut self, max: usize) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        self.core
            .gateway
            .poll_transmit_into(CLIENT, &mut frames, max);
        self.core.pump();
        self.checked();
        frames
    }
}

fn resume(subject: &str, seq: u64) -> SubscribeItem {
    SubscribeItem {
        subject: subject.into(),
        resume: Some(ResumePoint {
            epoch: epoch(),
            seq,
        }),
    }
}

/// The seqs of `subject`'s messages of `kind` among `frames`, and where its `sync` is.
fn seqs(frames: &[ServerFrame], subject: &str, kind: MessageKind) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message(m) if m.subject.as_ref() == subject && m.kind == kind => {
                Some(m.seq)
            }
            _ => None,
        })
        .collect()
}

fn sync_at(frames: &[ServerFrame], subject: &str) -> usize {
    frames
        .iter()
        .position(|f| {
            matches!(f, ServerFrame::Status { subject: s, status: SyncStatus::Sync } if s.as_ref() == subject)
        })
        .unwrap_or_else(|| panic!("no sync for {subject}"))
}

#[test]
fn a_resume_larger_than_the_queue_from_the_cache_is_paced_and_complete() {
    let mut h = Harness::new(128);
    for _ in 0..40 {
        h.write("a");
    }
    // 39 recovered messages of about 170 bytes: more than five times the bound.
    h.subscribe(vec![resume("/t/a", 0)]);
    assert!(
        h.gw().stats().start_pauses_total > 0,
        "the start was not paced"
    );
    let mut frames = Vec::new();
    let mut live = Vec::new();
    while let Some(frame) = h.read() {
        frames.push(frame);
        // Live records keep coming while the client catches up.
        if frames.len() % 4 == 0 && live.len() < 10 {
            live.push(h.write("a"));
        }
    }
    assert_eq!(h.closed(), None);
    assert!(h.queue_peak <= BOUND, "queue peaked at {}", h.queue_peak);
    assert_eq!(frames[0], ServerFrame::Ok { id: RequestId(1) });
    let recovered = seqs(&frames, "/t/a", MessageKind::Recovered);
    let updates = seqs(&frames, "/t/a", MessageKind::Update);
    // Everything after the resume point exactly once, in order: what was missed and
    // what arrived meanwhile as `recovered`, then `sync`, then live updates.
    let all: Vec<u64> = recovered.iter().chain(&updates).copied().collect();
    assert_eq!(all, (1..h.log.len() as u64).collect::<Vec<_>>());
    assert!(recovered.len() >= 39);
    let sync = sync_at(&frames, "/t/a");
    assert_eq!(
        sync,
        1 + recovered.len(),
        "sync right after the recovered messages"
    );
    let stats = h.gw().stats();
    assert_eq!(stats.slow_consumer_disconnects_total, 0);
    assert_eq!((stats.starts_paused, stats.resumes_sync_total), (0, 1));
}

/// A client that drains its queue in batches (`poll_transmit_into`) gets what one
/// draining it frame by frame gets, paused starts included: per subject, every
/// message after its resume point exactly once and in order, `sync` included.
/// (Which of them count as `recovered` or `update` depends on when the live
/// records arrive relative to the reads.)
#[test]
fn reading_in_batches_gives_the_messages_of_reading_one_by_one() {
    let run = |batch: usize| {
        let mut h = Harness::new(128);
        for _ in 0..40 {
            h.write("a");
        }
        h.subscribe(vec![resume("/t/a", 0), resume("/t/b", 0)]);
        let mut frames = Vec::new();
        let mut writes = 0;
        loop {
            let read = match batch {
                1 => h.read().into_iter().collect(),
                n => h.read_batch(n),
            };
            if read.is_empty() {
                break;
            }
            frames.extend(read);
            // Live records keep coming while the client catches up.
            if writes < 12 {
                h.write(if writes % 2 == 0 { "a" } else { "b" });
                writes += 1;
            }
        }
        assert_eq!(h.closed(), None);
        assert_eq!(h.gw().stats().client_queue_bytes, 0);
        assert!(h.queue_peak <= BOUND, "queue peaked at {}", h.queue_peak);
        for subject in ["/t/a", "/t/b"] {
            sync_at(&frames, subject);
        }
        ["/t/a", "/t/b"].map(|subject| {
            let mut seqs_of = seqs(&frames, subject, MessageKind::Recovered);
            seqs_of.extend(seqs(&frames, subject, MessageKind::Update));
            seqs_of
        })
    };
    let one_by_one = run(1);
    // Offsets 0-39 and then every other one are `/t/a`'s, the rest `/t/b`'s.
    assert_eq!(
        one_by_one[0],
        (1..40).chain((40..52).step_by(2)).collect::<Vec<_>>()
    );
    assert_eq!(one_by_one[1], (41..52).step_by(2).collect::<Vec<_>>());
    for batch in [3, 7, 64] {
        assert_eq!(run(batch), one_by_one, "batch of {batch}");
    }
}

#[test]
fn a_fetched_batch_larger_than_the_queue_is_paced_and_complete() {
    // The cache holds only the last 2 messages per subject: the resume is fetched.
    let mut h = Harness::new(2);
    for i in 0..60 {
        h.write(if i % 3 == 0 { "b" } else { "a" });
    }
    h.subscribe(vec![resume("/t/a", 0), resume("/t/b", 0)]);
    let mut frames = Vec::new();
    for _ in 0..1_000 {
        h.answer_fetches();
        match h.read() {
            Some(frame) => frames.push(frame),
            None if h.core.broker.is_empty() => break,
            None => {}
        }
    }
    assert_eq!(h.closed(), None);
    assert!(h.queue_peak <= BOUND, "queue peaked at {}", h.queue_peak);
    for (subject, key) in [("/t/a", "a"), ("/t/b", "b")] {
        let expected: Vec<u64> = h
            .log
            .iter()
            .filter(|r| r.offset > 0 && r.key.as_deref() == Some(key.as_bytes()))
            .map(|r| r.offset)
            .collect();
        let recovered = seqs(&frames, subject, MessageKind::Recovered);
        assert_eq!(recovered, expected, "{subject}");
        let last = frames
            .iter()
            .rposition(|f| matches!(f, ServerFrame::Message(m) if m.subject.as_ref() == subject))
            .unwrap();
        assert!(
            sync_at(&frames, subject) > last,
            "{subject}: sync before the end"
        );
    }
    let stats = h.gw().stats();
    assert!(stats.start_pauses_total > 0, "the start was not paced");
    assert!(stats.resumes_fetched_total > 0);
    assert_eq!(stats.slow_consumer_disconnects_total, 0);
    assert_eq!(stats.starts_paused, 0);
}

#[test]
fn a_restore_of_many_snapshots_is_paced_and_each_continues_with_what_came_meanwhile() {
    let mut h = Harness::new(128);
    let keys: Vec<String> = (0..20).map(|k| format!("k{k}")).collect();
    for key in &keys {
        h.write(key);
    }
    // Twenty snapshots of about 170 bytes: more than three times the bound.
    let items = keys
        .iter()
        .map(|k| SubscribeItem {
            subject: format!("/t/{k}"),
            resume: None,
        })
        .collect();
    h.subscribe(items);
    // New values while most snapshots are still paused.
    let rewritten: Vec<u64> = keys[10..].iter().map(|k| h.write(k)).collect();
    let mut frames = Vec::new();
    while let Some(frame) = h.read() {
        frames.push(frame);
    }
    assert_eq!(h.closed(), None);
    assert!(h.queue_peak <= BOUND, "queue peaked at {}", h.queue_peak);
    for (i, key) in keys.iter().enumerate() {
        let subject = format!("/t/{key}");
        let snapshot = seqs(&frames, &subject, MessageKind::Snapshot);
        let updates = seqs(&frames, &subject, MessageKind::Update);
        assert_eq!(snapshot.len(), 1, "{subject}: one snapshot");
        // The subject's state ends at its last value, and nothing is seen twice.
        let last = *snapshot.iter().chain(&updates).last().unwrap();
        let expected_last = if i >= 10 { rewritten[i - 10] } else { i as u64 };
        assert_eq!(last, expected_last, "{subject}");
        assert!(updates.iter().all(|&u| u > snapshot[0]), "{subject}");
    }
    assert!(h.gw().stats().start_pauses_total > 0);
    assert_eq!(h.gw().stats().slow_consumer_disconnects_total, 0);
}

#[test]
fn a_client_that_does_not_read_live_updates_is_still_a_slow_consumer() {
    let mut h = Harness::new(128);
    h.subscribe(vec![SubscribeItem {
        subject: "/t/a".into(),
        resume: None,
    }]);
    for _ in 0..20 {
        h.write("a");
        if h.closed().is_some() {
            break;
        }
    }
    assert_eq!(h.closed(), Some("slow_consumer"));
    assert_eq!(h.gw().stats().slow_consumer_disconnects_total, 1);
    assert_eq!(
        h.gw().client_queue_bytes(CLIENT),
        None,
        "the client is forgotten"
    );
}

#[test]
fn a_paused_start_is_dropped_with_its_subscription() {
    let mut h = Harness::new(128);
    for _ in 0..40 {
        h.write("a");
    }
    h.subscribe(vec![resume("/t/a", 0)]);
    assert_eq!(h.gw().stats().starts_paused, 1);
    h.input(Input::ClientFrame {
        client: CLIENT,
        frame: ClientFrame::Unsubscribe {
            id: RequestId(2),
            subjects: vec!["/t/a".into()],
        },
    });
    assert_eq!(h.gw().stats().starts_paused, 0);
    let mut frames = Vec::new();
    while let Some(frame) = h.read() {
        frames.push(frame);
    }
    // What was queued before the unsubscribe, its `ok`, and nothing after it.
    assert_eq!(frames.last(), Some(&ServerFrame::Ok { id: RequestId(2) }));
    assert!(sync_at_opt(&frames).is_none());
    assert_eq!(h.closed(), None);
}

fn sync_at_opt(frames: &[ServerFrame]) -> Option<usize> {
    frames
        .iter()
        .position(|f| matches!(f, ServerFrame::Status { .. }))
}
