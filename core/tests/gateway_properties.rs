//! Properties of the gateway over random sequences of subscribes, unsubscribes,
//! publishes, broker records, disconnects and resumes. Per client and subject:
//! the snapshot comes before any update, seqs strictly increase, nothing arrives after
//! the unsubscribe `ok`, and a resume yields exactly the missed messages or a `resync`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_core::broker::header;
use sluice_core::partitioner::Partitioner;
use sluice_core::protocol::{
    ClientFrame, Encoding, MessageKind, PublishFrame, Qos, ResumePoint, ServerFrame, SubscribeItem,
    SubscribeOptions, SyncStatus,
};
use sluice_core::testing::epoch;
use sluice_core::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, ClientId, Epoch, FetchRequest, Fetched,
    Gateway, GatewayConfig, Header, Input, Output, PartitionMeta, ProduceRequest, RequestId,
};

const PARTITIONS: u32 = 3;
/// Larger than any one frame these tests produce.
const FRAME_COST_MAX: usize = 256;
const CLIENTS: u64 = 3;
const SUBJECTS: [&str; 5] = ["/t", "/t/k0", "/t/k1", "/t/k2", "/t/k3"];

/// How a foreign producer picks the partition of a keyed record.
#[derive(Debug, Clone, Copy)]
enum Producer {
    /// Java's default.
    Murmur2,
    /// librdkafka's default (`consistent_random`, CRC32 for keyed records).
    Consistent,
    /// A custom partitioner, or a producer that moves the key: this partition.
    Partition(u32),
}

#[derive(Debug, Clone)]
enum Op {
    Connect(u64),
    Disconnect(u64),
    Subscribe {
        client: u64,
        subjects: Vec<usize>,
        history: Option<u32>,
    },
    Unsubscribe {
        client: u64,
        subject: usize,
    },
    Publish {
        client: u64,
        subject: usize,
        retained: bool,
    },
    /// A record written to Kafka by someone else; `None` payload is a tombstone.
    ForeignWrite {
        subject: usize,
        retained: bool,
        tombstone: bool,
        producer: Producer,
    },
    AckProduce {
        fail: bool,
    },
    AnswerFetch,
    DeliverRecords(usize),
    Redeliver(usize),
    Drain(u64),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    let s = 0..SUBJECTS.len();
    prop_oneof![
        2 => c.clone().prop_map(Op::Connect),
        1 => c.clone().prop_map(Op::Disconnect),
        3 => (c.clone(), proptest::collection::vec(s.clone(), 1..3), proptest::option::weighted(0.2, 0..4u32))
            .prop_map(|(client, subjects, history)| Op::Subscribe { client, subjects, history }),
        1 => (c.clone(), s.clone()).prop_map(|(client, subject)| Op::Unsubscribe { client, subject }),
        3 => (c.clone(), s.clone(), any::<bool>()).prop_map(|(client, subject, retained)| Op::Publish { client, subject, retained }),
        2 => (s.clone(), any::<bool>(), proptest::bool::weighted(0.15), producer())
            .prop_map(|(subject, retained, tombstone, producer)| Op::ForeignWrite { subject, retained, tombstone, producer }),
        3 => proptest::bool::weighted(0.1).prop_map(|fail| Op::AckProduce { fail }),
        2 => Just(Op::AnswerFetch),
        4 => (1..6usize).prop_map(Op::DeliverRecords),
        1 => (1..4usize).prop_map(Op::Redeliver),
        4 => c.prop_map(Op::Drain),
        1 => Just(Op::Tick),
    ]
}

fn producer() -> impl Strategy<Value = Producer> {
    prop_oneof![
        3 => Just(Producer::Murmur2),
        3 => Just(Producer::Consistent),
        1 => (0..PARTITIONS).prop_map(Producer::Partition),
    ]
}

/// What one client has seen of one subject.
#[derive(Debug, Default, Clone)]
struct SubjectView {
    subscribed: bool,
    /// Snapshot/history/recovered may still come; an update ends this stage.
    initial: bool,
    last: Option<u64>,
    /// Set by a resume answered with `sync` pending: every seq received since.
    /// Records the gateway was given after this (a `deliveries` count) must reach
    /// the subscriber, or a `resync` must void its position.
    subscribed_at: u64,
    /// The position is (partition of the resume's epoch, seq).
    resume: Option<((u32, u64), Vec<u64>)>,
}

#[derive(Debug, Default)]
struct ClientModel {
    connected: bool,
    requests: BTreeMap<u64, ClientFrame>,
    /// `deliveries` when each request was handed to the gateway.
    sent_at: BTreeMap<u64, u64>,
    views: BTreeMap<String, SubjectView>,
    /// Last position per subject, kept across reconnects for resume.
    positions: BTreeMap<String, (Epoch, u64)>,
    /// Subjects to resume on the next connect.
    wanted: Vec<String>,
}

struct World {
    gw: Gateway,
    now_ms: u64,
    log: Vec<Vec<BrokerRecord>>,
    delivered: Vec<usize>,
    /// Per partition, per offset: when the gateway was given the record (a counter).
    delivered_at: Vec<Vec<u64>>,
    deliveries: u64,
    placements_small: bool,
    /// `SubjectMoved` outputs seen.
    moves_logged: u64,
    produces: VecDeque<BrokerCommand>,
    fetches: VecDeque<BrokerCommand>,
    clients: BTreeMap<u64, ClientModel>,
    connection: BTreeMap<u64, ClientId>,
    next_connection: u64,
    next_request: u64,
    queue_bytes_max: usize,
}

fn key_of(subject: &str) -> Option<Bytes> {
    subject
        .strip_prefix("/t/")
        .map(|k| Bytes::copy_from_slice(k.as_bytes()))
}

impl World {
    fn new(queue_bytes_max: usize, cache_messages: usize, placements_bytes: usize) -> World {
        let config = GatewayConfig {
            exposed_topics: vec!["t".into()],
            client_queue_bytes_max: queue_bytes_max,
            message_cache_messages_per_subject_max: cache_messages,
            fetches_in_flight_max: 2,
            fetch_queue_max: 2,
            publish_timeout_ms: 1_000,
            subject_partitions_bytes_max: placements_bytes,
            ..GatewayConfig::default()
        };
        let mut gw = Gateway::new(config);
        let partitions = (0..PARTITIONS)
            .map(|p| PartitionMeta {
                partition: p,
                epoch: epoch(p),
                start_offset: 0,
            })
            .collect();
        gw.handle_input(
            0,
            Input::Broker(BrokerEvent::TopicMeta {
                topic: Arc::from("t"),
                partitions,
            }),
        )
        .unwrap();
        World {
            gw,
            now_ms: 0,
            log: vec![Vec::new(); PARTITIONS as usize],
            delivered: vec![0; PARTITIONS as usize],
            delivered_at: vec![Vec::new(); PARTITIONS as usize],
            deliveries: 0,
            moves_logged: 0,
            placements_small: placements_bytes < 1024,
            produces: VecDeque::new(),
            fetches: VecDeque::new(),
            clients: (0..CLIENTS).map(|c| (c, ClientModel::default())).collect(),
            connection: BTreeMap::new(),
            next_connection: 0,
            next_request: 1,
            queue_bytes_max,
        }
    }

    fn input(&mut self, input: Input) {
        self.gw.handle_input(self.now_ms, input).unwrap();
        self.pump();
    }

    fn pump(&mut self) {
        while let Some(out) = self.gw.poll_output() {
            match out {
                Output::Wake { .. } => {}
                Output::Close { client, reason, .. } => {
                    assert_eq!(reason, "slow_consumer");
                    let c = *self
                        .connection
                        .iter()
                        .find(|(_, id)| **id == client)
                        .unwrap()
                        .0;
                    self.lose_connection(c);
                }
                Output::Broker(BrokerCommand::Produce(request)) => {
                    // A publish lands where the gateway last saw the key's records, or
                    // where the topic's partitioner (murmur2 here) puts an unseen key.
                    let expected = self
                        .last_delivered_partition(request.key.as_deref())
                        .unwrap_or_else(|| {
                            sluice_core::partitioner::partition_for_key(
                                request.key.as_deref(),
                                PARTITIONS,
                            )
                        });
                    // With a tiny key → partition memory the gateway forgets keys, and
                    // their publishes go where the partitioner says.
                    if !self.placements_small {
                        assert_eq!(
                            request.partition, expected,
                            "publish not where the key's records are"
                        );
                    }
                    self.produces.push_back(BrokerCommand::Produce(request))
                }
                Output::Broker(cmd @ BrokerCommand::Fetch(FetchRequest { .. })) => {
                    self.fetches.push_back(cmd)
                }
                Output::Broker(BrokerCommand::Watch { .. } | BrokerCommand::Unwatch { .. }) => {
                    panic!("a gateway that reads everything sends no watches")
                }
                Output::Authenticate { .. } => panic!("auth mode none never verifies tokens"),
                Output::SubjectMoved { .. } => self.moves_logged += 1,
            }
        }
        for (&c, &id) in &self.connection {
            let queued = self.gw.client_queue_bytes(id).unwrap();
            // The bound, or one frame larger than the bound alone.
            assert!(
                queued <= self.queue_bytes_max.max(FRAME_COST_MAX),
                "client {c} queue {queued} over its bound"
            );
        }
    }

    /// The partition of the key's record the gateway was given last, if any.
    fn last_delivered_partition(&self, key: Option<&[u8]>) -> Option<u32> {
        let mut last: Option<(u64, u32)> = None;
        for (p, records) in self.log.iter().enumerate() {
            for r in records.iter().take(self.delivered[p]) {
                if r.key.as_deref() == key {
                    let at = self.delivered_at[p][r.offset as usize];
                    if last.is_none_or(|(t, _)| at > t) {
                        last = Some((at, p as u32));
                    }
                }
            }
        }
        last.map(|(_, p)| p)
    }

    fn append(
        &mut self,
        subject: &str,
        payload: Option<Bytes>,
        headers: Vec<Header>,
        producer: Producer,
    ) -> (u32, u64) {
        let key = key_of(subject);
        let p = match (producer, &key) {
            // Null keys go to partition 0: the one log of `/t`.
            (_, None) => 0,
            (Producer::Murmur2, Some(_)) => {
                sluice_core::partitioner::partition_for_key(key.as_deref(), PARTITIONS)
            }
            (Producer::Consistent, Some(_)) => {
                Partitioner::Consistent.partition(key.as_deref(), PARTITIONS)
            }
            (Producer::Partition(p), Some(_)) => p,
        };
        let offset = self.log[p as usize].len() as u64;
        self.log[p as usize].push(BrokerRecord {
            topic: Arc::from("t"),
            partition: p,
            offset,
            key,
            payload,
            headers: headers.into(),
            timestamp_ms: 0,
            handed_over_unix_us: 0,
        });
        (p, offset)
    }

    fn request(&mut self, c: u64, frame_of: impl FnOnce(RequestId) -> ClientFrame) {
        let Some(&id) = self.connection.get(&c) else {
            return;
        };
        let rid = self.next_request;
        self.next_request += 1;
        let frame = frame_of(RequestId(rid));
        self.clients
            .get_mut(&c)
            .unwrap()
            .requests
            .insert(rid, frame.clone());
        let deliveries = self.deliveries;
        self.clients
            .get_mut(&c)
            .unwrap()
            .sent_at
            .insert(rid, deliveries);
        // Half the requests go through the JSON codec, to exercise it on the way.
        let input = if rid.is_multiple_of(2) {
            Input::ClientData {
                client: id,
                data: Bytes::from(Encoding::Json.encode_client(&frame)),
            }
        } else {
            Input::ClientFrame { client: id, frame }
        };
        self.input(input);
    }

    fn lose_connection(&mut self, c: u64) {
        let Some(id) = self.connection.remove(&c) else {
            return;
        };
        let model = self.clients.get_mut(&c).unwrap();
        model.connected = false;
        model.requests.clear();
        model.wanted = model
            .views
            .iter()
            .filter(|(_, v)| v.subscribed)
            .map(|(s, _)| s.clone())
            .collect();
        for (subject, view) in &model.views {
            if let Some((from, got)) = &view.resume {
                // Cut short: what arrived must still be a gapless prefix.
                let expected = seqs_after(&self.log, subject, from);
                let prefix = got.len() <= expected.len() && expected[..got.len()] == got[..];
                assert!(prefix, "resume of {subject} from {from:?} delivered {got:?}, not a prefix of {expected:?}");
            }
        }
        model.views.clear();
        self.gw
            .handle_input(self.now_ms, Input::Disconnect { client: id })
            .unwrap();
        self.pump();
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Connect(c) => {
                if self.connection.contains_key(&c) {
                    return;
                }
                let id = ClientId(self.next_connection);
                self.next_connection += 1;
                self.connection.insert(c, id);
                self.clients.get_mut(&c).unwrap().connected = true;
                self.input(Input::Connect {
                    client: id,
                    encoding: Encoding::Json,
                });
                let model = &self.clients[&c];
                let items: Vec<SubscribeItem> = model
                    .wanted
                    .iter()
                    .map(|s| SubscribeItem {
                        subject: s.clone(),
                        resume: model.positions.get(s).map(|(epoch, seq)| ResumePoint {
                            epoch: epoch.clone(),
                            seq: *seq,
                        }),
                    })
                    .collect();
                if !items.is_empty() {
                    self.request(c, |id| ClientFrame::Subscribe {
                        id,
                        items,
                        options: SubscribeOptions::default(),
                    });
                }
            }
            Op::Disconnect(c) => self.lose_connection(c),
            Op::Subscribe {
                client,
                subjects,
                history,
            } => {
                let items = subjects
                    .iter()
                    .map(|&s| SubscribeItem {
                        subject: SUBJECTS[s].into(),
                        resume: None,
                    })
                    .collect();
                self.request(client, |id| ClientFrame::Subscribe {
                    id,
                    items,
                    options: SubscribeOptions {
                        history,
                        ..SubscribeOptions::default()
                    },
                });
            }
            Op::Unsubscribe { client, subject } => {
                self.request(client, |id| ClientFrame::Unsubscribe {
                    id,
                    subjects: vec![SUBJECTS[subject].into()],
                });
            }
            Op::Publish {
                client,
                subject,
                retained,
            } => {
                self.request(client, |id| {
                    ClientFrame::Publish(PublishFrame {
                        id,
                        subject: SUBJECTS[subject].into(),
                        data: Bytes::from(format!("p{}", id.0)),
                        retained,
                        qos: Qos::Standard,
                        reply_to: None,
                        traceparent: None,
                    })
                });
            }
            Op::ForeignWrite {
                subject,
                retained,
                tombstone,
                producer,
            } => {
                let payload = (!tombstone).then(|| Bytes::from_static(b"foreign"));
                let headers = if retained {
                    Vec::new()
                } else {
                    vec![Header {
                        name: header::RETAINED.into(),
                        value: Bytes::from_static(b"false"),
                    }]
                };
                self.append(SUBJECTS[subject], payload, headers, producer);
            }
            Op::AckProduce { fail } => {
                let Some(BrokerCommand::Produce(ProduceRequest {
                    produce,
                    topic,
                    partition,
                    key,
                    payload,
                    headers,
                })) = self.produces.pop_front()
                else {
                    return;
                };
                let result = if fail {
                    Err(BrokerError::Unavailable("drill".into()))
                } else {
                    let subject = match &key {
                        Some(k) => format!("/{topic}/{}", std::str::from_utf8(k).unwrap()),
                        None => format!("/{topic}"),
                    };
                    let (p, offset) = self.append(
                        &subject,
                        Some(payload),
                        headers,
                        Producer::Partition(partition),
                    );
                    assert_eq!(p, partition);
                    Ok(offset)
                };
                self.input(Input::Broker(BrokerEvent::Produced { produce, result }));
            }
            Op::AnswerFetch => {
                let Some(BrokerCommand::Fetch(FetchRequest {
                    fetch,
                    partition,
                    key,
                    from_offset,
                    to_offset,
                    ..
                })) = self.fetches.pop_front()
                else {
                    return;
                };
                // Examine at most 3 records per answer, to exercise continuation.
                let log = &self.log[partition as usize];
                let end = (to_offset + 1).min(from_offset + 3).min(log.len() as u64);
                let records = (from_offset..end)
                    .map(|o| log[o as usize].clone())
                    .filter(|r| r.key == key)
                    .collect();
                let next_offset = if end >= log.len() as u64 {
                    to_offset + 1
                } else {
                    end
                };
                self.input(Input::Broker(BrokerEvent::Fetched {
                    fetch,
                    result: Ok(Fetched {
                        records,
                        first_offset: from_offset,
                        next_offset,
                    }),
                }));
            }
            Op::DeliverRecords(n) => {
                let mut batch = Vec::new();
                for p in 0..PARTITIONS as usize {
                    let end = (self.delivered[p] + n).min(self.log[p].len());
                    batch.extend_from_slice(&self.log[p][self.delivered[p]..end]);
                    for _ in self.delivered[p]..end {
                        self.deliveries += 1;
                        self.delivered_at[p].push(self.deliveries);
                    }
                    self.delivered[p] = end;
                }
                if !batch.is_empty() {
                    self.input(Input::Broker(BrokerEvent::Records(batch)));
                }
            }
            Op::Redeliver(n) => {
                let mut batch = Vec::new();
                for p in 0..PARTITIONS as usize {
                    let start = self.delivered[p].saturating_sub(n);
                    batch.extend_from_slice(&self.log[p][start..self.delivered[p]]);
                }
                self.input(Input::Broker(BrokerEvent::Records(batch)));
            }
            Op::Drain(c) => self.drain(c),
            Op::Tick => {
                self.now_ms += 400;
                self.gw.handle_timeout(self.now_ms);
                self.pump();
            }
        }
    }

    fn drain(&mut self, c: u64) {
        let Some(&id) = self.connection.get(&c) else {
            return;
        };
        while let Some(frame) = self.gw.poll_transmit(id) {
            self.observe(c, frame);
            // Reading lets paused starts go on, which may ask for a fetch.
            self.pump();
        }
        self.pump();
    }

    fn observe(&mut self, c: u64, frame: ServerFrame) {
        let model = self.clients.get_mut(&c).unwrap();
        match frame {
            ServerFrame::Ok { id } => match model.requests.remove(&id.0) {
                Some(ClientFrame::Subscribe { items, .. }) => {
                    let subscribed_at = model.sent_at.get(&id.0).copied().unwrap_or(0);
                    for item in items {
                        let view = model.views.entry(item.subject.clone()).or_default();
                        // A renewed subscription starts a new period.
                        *view = SubjectView {
                            subscribed: true,
                            initial: true,
                            last: None,
                            subscribed_at,
                            resume: None,
                        };
                        if let Some(r) = item.resume {
                            let p = (0..PARTITIONS)
                                .find(|&q| epoch(q) == r.epoch)
                                .expect("positions name partitions");
                            view.resume = Some(((p, r.seq), Vec::new()));
                            view.last = Some(r.seq);
                        }
                    }
                }
                Some(ClientFrame::Unsubscribe { subjects, .. }) => {
                    for s in subjects {
                        model.views.remove(&s);
                        model.wanted.retain(|w| *w != s);
                    }
                }
                Some(ClientFrame::Ping { .. }) => {}
                other => panic!("ok for {other:?}"),
            },
            ServerFrame::Error { id, .. } => {
                let id = id.expect("errors here always name their request");
                if let Some(ClientFrame::Publish(_)) = model.requests.get(&id.0) {
                    model.requests.remove(&id.0);
                }
            }
            ServerFrame::Ack { id, epoch: e, seq } => {
                let Some(ClientFrame::Publish(p)) = model.requests.remove(&id.0) else {
                    panic!("ack for a non-publish")
                };
                let key = key_of(&p.subject);
                let part = (0..PARTITIONS)
                    .find(|&q| epoch(q) == e)
                    .expect("ack epoch names a partition");
                let record = &self.log[part as usize][seq as usize];
                assert_eq!(
                    (record.key.clone(), record.payload.clone()),
                    (key, Some(p.data)),
                    "ack seq is not the record's offset"
                );
            }
            ServerFrame::TokenExpiring { .. } => panic!("auth mode none has no tokens"),
            ServerFrame::Status { subject, status } => {
                let view = model
                    .views
                    .get_mut(subject.as_ref())
                    .expect("status for a subject not subscribed");
                assert!(view.subscribed, "status after unsubscribe");
                match status {
                    SyncStatus::Sync => {
                        assert!(view.initial, "sync after live updates");
                        assert!(view.resume.is_some(), "sync without a resume");
                        view.initial = false;
                    }
                    SyncStatus::Resync => {
                        view.subscribed_at = self.deliveries;
                        view.resume = None;
                        view.last = None;
                        view.initial = true;
                        model.positions.remove(subject.as_ref());
                    }
                    SyncStatus::HistoryEnd { .. } => panic!("history_end was not asked for"),
                }
            }
            ServerFrame::Message(m) => {
                let view = model
                    .views
                    .get_mut(m.subject.as_ref())
                    .expect("message after unsubscribe ok, or never subscribed");
                assert!(view.subscribed);
                match m.kind {
                    MessageKind::Update => view.initial = false,
                    kind => assert!(view.initial, "{kind:?} after an update on {}", m.subject),
                }
                if let Some(last) = view.last {
                    assert!(m.seq > last, "seq {} after {last} on {}", m.seq, m.subject);
                }
                view.last = Some(m.seq);
                if let Some((_, got)) = &mut view.resume {
                    got.push(m.seq);
                }
                model
                    .positions
                    .insert(m.subject.to_string(), (m.epoch.clone(), m.seq));
            }
        }
    }

    /// Lets the world settle: every produce acked, fetch answered, record delivered,
    /// queue drained. Then every resume still running must have delivered exactly
    /// the missed records.
    fn settle(&mut self) {
        for _ in 0..1000 {
            self.apply(Op::AckProduce { fail: false });
            self.apply(Op::AnswerFetch);
            self.apply(Op::DeliverRecords(100));
            for c in 0..CLIENTS {
                self.drain(c);
            }
            let busy = !self.produces.is_empty()
                || !self.fetches.is_empty()
                || (0..PARTITIONS as usize).any(|p| self.delivered[p] < self.log[p].len());
            if !busy {
                break;
            }
        }
        assert_eq!(self.gw.stats().starts_paused, 0, "a start is still paused");
        for (&c, model) in &self.clients {
            for (subject, view) in &model.views {
                if view.subscribed && model.connected {
                    self.assert_nothing_missed(c, subject, view);
                }
            }
        }
        for model in self.clients.values() {
            for (subject, view) in &model.views {
                if let Some((from, got)) = &view.resume {
                    self.assert_no_unseen_move(subject, from);
                    let expected = seqs_after(&self.log, subject, from);
                    assert_eq!(
                        got, &expected,
                        "resume of {subject} from {from:?} did not yield exactly the missed messages"
                    );
                }
            }
        }
    }
}

impl World {
    /// Every record of a subscribed subject the gateway was given after the client's
    /// position (and after it subscribed, or its last `resync`) reached the client,
    /// from whichever partition: nothing is left behind a position.
    fn assert_nothing_missed(&self, c: u64, subject: &str, view: &SubjectView) {
        let key = key_of(subject);
        let model = &self.clients[&c];
        let position = model.positions.get(subject).and_then(|(e, seq)| {
            let p = (0..PARTITIONS).find(|&q| epoch(q) == *e)?;
            self.delivered_at[p as usize].get(*seq as usize).copied()
        });
        let after = position.unwrap_or(0).max(view.subscribed_at);
        for (q, records) in self.log.iter().enumerate() {
            for r in records.iter().take(self.delivered[q]) {
                let at = self.delivered_at[q][r.offset as usize];
                assert!(
                    r.key != key || at <= after,
                    "client {c} on {subject} never got the record at {q}/{} (position {:?})",
                    r.offset,
                    model.positions.get(subject)
                );
            }
        }
    }

    /// A resume answered with `sync` is exact only if no record of the subject on
    /// another partition reached the gateway after the client's position.
    fn assert_no_unseen_move(&self, subject: &str, &(p, from): &(u32, u64)) {
        let key = key_of(subject);
        let Some(&t0) = self.delivered_at[p as usize].get(from as usize) else {
            return;
        };
        for (q, records) in self.log.iter().enumerate() {
            if q as u32 == p {
                continue;
            }
            for r in records.iter().take(self.delivered[q]) {
                let at = self.delivered_at[q][r.offset as usize];
                assert!(
                    r.key != key || at < t0,
                    "resume of {subject} from {from} on partition {p} synced, but its record at {q}/{} came later",
                    r.offset
                );
            }
        }
    }
}

fn seqs_after(log: &[Vec<BrokerRecord>], subject: &str, &(p, from): &(u32, u64)) -> Vec<u64> {
    let key = key_of(subject);
    log[p as usize]
        .iter()
        .filter(|r| r.key == key && r.offset > from)
        .map(|r| r.offset)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn delivery_guarantees_hold(ops in proptest::collection::vec(op(), 1..150), small_queue in proptest::bool::weighted(0.2), small_cache in any::<bool>(), small_map in proptest::bool::weighted(0.2)) {
        let queue = if small_queue { 600 } else { 1 << 20 };
        let cache = if small_cache { 2 } else { 64 };
        // Room for two subjects' placements: the gateway forgets, and must stay exact.
        let map = if small_map { 210 } else { 1 << 20 };
        let mut world = World::new(queue, cache, map);
        for op in ops {
            world.apply(op);
        }
        world.settle();
    }
}
