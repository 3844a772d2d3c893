//! Records reach their subject from whichever partition they are on: a subject
//! whose records all come from one partition behaves as before; one that moves
//! partition gives its subscribers `resync` and goes on from the new partition;
//! resumes stay exact or say `resync`; publishes land where the key's records are.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use sluice_core::partitioner::Partitioner;
use sluice_core::protocol::{
    ClientFrame, PublishFrame, Qos, ResumePoint, SubscribeItem, SubscribeOptions,
};
use sluice_core::testing::{self, epoch};
use sluice_core::{
    BrokerCommand, BrokerEvent, BrokerRecord, ClientId, Epoch, Gateway, GatewayConfig, Input,
    RequestId,
};

const PARTITIONS: u32 = 8;

/// The shared harness, with topic `t` of `PARTITIONS` partitions.
struct Harness {
    core: testing::Harness,
    next_offset: Vec<u64>,
}

impl Harness {
    fn new(config: GatewayConfig) -> Harness {
        Harness::reading_from(config, 0)
    }

    /// A gateway that began reading every partition at `start_offset` (a bootstrap
    /// window, or retention).
    fn reading_from(config: GatewayConfig, start_offset: u64) -> Harness {
        let mut core = testing::Harness::new(GatewayConfig {
            exposed_topics: vec!["t".into()],
            ..config
        });
        core.topic("t", PARTITIONS, start_offset);
        Harness {
            core,
            next_offset: vec![start_offset; PARTITIONS as usize],
        }
    }

    fn input(&mut self, input: Input) {
        self.core.input(input);
        let fetch = self
            .core
            .broker
            .iter()
            .find(|c| matches!(c, BrokerCommand::Fetch(_)));
        assert!(fetch.is_none(), "unexpected fetch {fetch:?}");
    }

    /// The partitions the publishes were produced to, in order.
    fn produced_partitions(&self) -> Vec<u32> {
        self.core
            .broker
            .iter()
            .filter_map(|c| match c {
                BrokerCommand::Produce(p) => Some(p.partition),
                _ => None,
            })
            .collect()
    }

    fn gw(&self) -> &Gateway {
        &self.core.gateway
    }

    /// A back-end writes `value` with key `key` to `partition`; returns its offset.
    fn write(&mut self, key: &str, partition: u32, value: &str) -> u64 {
        let offset = self.next_offset[partition as usize];
        self.next_offset[partition as usize] += 1;
        self.input(Input::Broker(BrokerEvent::Records(vec![BrokerRecord {
            topic: Arc::from("t"),
            partition,
            offset,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            payload: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Arc::from(Vec::new()),
            timestamp_ms: 0,
            handed_over_unix_us: 0,
        }])));
        offset
    }

    fn connect(&mut self, client: u64) {
        self.core.connect(ClientId(client));
    }

    fn subscribe(&mut self, client: u64, subject: &str, resume: Option<(Epoch, u64)>) {
        self.input(Input::ClientFrame {
            client: ClientId(client),
            frame: ClientFrame::Subscribe {
                id: RequestId(1),
                items: vec![SubscribeItem {
                    subject: subject.into(),
                    resume: resume.map(|(epoch, seq)| ResumePoint { epoch, seq }),
                }],
                options: SubscribeOptions::default(),
            },
        });
    }

    fn publish(&mut self, client: u64, subject: &str) {
        self.input(Input::ClientFrame {
            client: ClientId(client),
            frame: ClientFrame::Publish(PublishFrame {
                id: RequestId(2),
                subject: subject.into(),
                data: Bytes::from_static(b"from the app"),
                retained: true,
                qos: Qos::Standard,
                reply_to: None,
                traceparent: None,
            }),
        });
    }

    /// What the client received, as short strings: `ok`, `snapshot e-3:0`,
    /// `update e-3:1`, `recovered …`, `sync`, `resync`.
    fn frames(&mut self, client: u64) -> Vec<String> {
        let frames = self.core.transmit(ClientId(client));
        frames.iter().map(testing::describe).collect()
    }
}

#[test]
fn records_of_any_partition_reach_their_subject_and_resume_is_exact() {
    let mut h = Harness::new(GatewayConfig::default());
    // librdkafka's default puts "k" where CRC32 says; murmur2 says elsewhere.
    let p = Partitioner::Consistent.partition(Some(b"k"), PARTITIONS);
    assert_ne!(p, Partitioner::Murmur2.partition(Some(b"k"), PARTITIONS));
    h.write("k", p, "v0");
    h.connect(1);
    h.subscribe(1, "/t/k", None);
    let e = epoch(p);
    assert_eq!(
        h.frames(1),
        vec!["ok".to_string(), format!("snapshot {e}:0")]
    );
    h.write("k", p, "v1");
    assert_eq!(h.frames(1), vec![format!("update {e}:1")]);
    // A second client resumes from the first record: exact, from that partition.
    h.connect(2);
    h.subscribe(2, "/t/k", Some((e.clone(), 0)));
    assert_eq!(
        h.frames(2),
        vec!["ok".to_string(), format!("recovered {e}:1"), "sync".into()]
    );
    let stats = h.gw().stats();
    assert_eq!(
        (
            stats.records_unroutable_total,
            stats.subject_partition_moves_total
        ),
        (0, 0)
    );
    assert_eq!(stats.subject_partitions, 1);
}

#[test]
fn a_subject_that_moves_partition_resyncs_its_subscribers_once_logged() {
    let mut h = Harness::new(GatewayConfig::default());
    h.write("k", 1, "v0");
    h.connect(1);
    h.subscribe(1, "/t/k", None);
    assert_eq!(h.frames(1), vec!["ok", "snapshot e-1:0"]);
    // Another producer, another partitioner: the key's next record is on partition 5.
    h.write("k", 5, "v1");
    assert_eq!(h.frames(1), vec!["resync", "snapshot e-5:0"]);
    h.write("k", 5, "v2");
    assert_eq!(h.frames(1), vec!["update e-5:1"]);
    // And back: another resync, not another log line.
    h.write("k", 1, "v3");
    assert_eq!(h.frames(1), vec!["resync", "snapshot e-1:1"]);
    assert_eq!(h.gw().stats().subject_partition_moves_total, 2);
    assert_eq!(h.core.moves, vec![("/t/k".to_string(), 1, 5)]);

    // A resume from before the subject left partition 1 missed the records on 5.
    h.connect(2);
    h.subscribe(2, "/t/k", Some((epoch(1), 0)));
    assert_eq!(h.frames(2), vec!["ok", "resync", "snapshot e-1:1"]);
    // One from partition 5, where it no longer is: resync too.
    h.connect(3);
    h.subscribe(3, "/t/k", Some((epoch(5), 1)));
    assert_eq!(h.frames(3), vec!["ok", "resync", "snapshot e-1:1"]);
    // One from the current stint: exact.
    h.write("k", 1, "v4");
    h.connect(4);
    h.subscribe(4, "/t/k", Some((epoch(1), 1)));
    assert_eq!(h.frames(4), vec!["ok", "recovered e-1:2", "sync"]);
}

#[test]
fn publishes_land_where_the_keys_records_are_else_where_the_partitioner_says() {
    let config = GatewayConfig {
        topic_partitioners: BTreeMap::from([("t".to_string(), Partitioner::Consistent)]),
        ..GatewayConfig::default()
    };
    let mut h = Harness::new(config);
    h.connect(1);
    // Unseen key: the topic's partitioner, librdkafka's CRC32.
    h.publish(1, "/t/fresh");
    let crc = Partitioner::Consistent.partition(Some(b"fresh"), PARTITIONS);
    assert_eq!(h.produced_partitions().pop(), Some(crc));
    // Seen key: where its records are, whatever any partitioner says.
    let odd = (0..PARTITIONS)
        .find(|&q| {
            q != Partitioner::Consistent.partition(Some(b"seen"), PARTITIONS)
                && q != Partitioner::Murmur2.partition(Some(b"seen"), PARTITIONS)
        })
        .unwrap();
    h.write("seen", odd, "v0");
    h.publish(1, "/t/seen");
    assert_eq!(h.produced_partitions().pop(), Some(odd));
    // The default partitioner is murmur2 for other topics' unseen keys.
    let h2 = Harness::new(GatewayConfig::default());
    assert_eq!(h2.gw().config().partitioner_of("t"), Partitioner::Murmur2);
}

#[test]
fn a_forgotten_subject_is_resumed_with_resync_never_a_silent_gap() {
    // Room for about one subject's placement.
    let config = GatewayConfig {
        subject_partitions_bytes_max: 120,
        ..GatewayConfig::default()
    };
    let mut h = Harness::new(config);
    h.write("a", 2, "a0");
    h.write("a", 6, "a1"); // a moved to 6
    h.write("b", 3, "b0"); // a is forgotten
    let stats = h.gw().stats();
    assert_eq!(stats.subject_partitions, 1);
    assert_eq!(stats.subject_partitions_evictions_total, 1);
    // A client at a's first record cannot be told `sync` from partition 2: a went
    // to 6 meanwhile, and the gateway no longer knows.
    h.connect(1);
    h.subscribe(1, "/t/a", Some((epoch(2), 0)));
    assert_eq!(h.frames(1), vec!["ok", "resync", "snapshot e-6:0"]);
}

#[test]
fn a_resume_for_a_subject_never_seen_reads_the_partition_its_epoch_names() {
    let mut h = Harness::new(GatewayConfig::default());
    let p = 4;
    // The client's gateway saw "x" at 4:0; this one has read nothing of 4 yet.
    h.connect(1);
    h.subscribe(1, "/t/x", Some((epoch(p), 0)));
    assert_eq!(h.frames(1), vec!["ok", "sync"]);
    h.write("x", p, "x0");
    h.write("x", p, "x1");
    assert_eq!(h.frames(1), vec!["update e-4:1"]);
}

#[test]
fn a_resume_from_before_the_bootstrap_window_of_an_unseen_subject_is_a_resync() {
    // The gateway read from offset 10 on: "y" may have moved before that, unseen.
    let mut h = Harness::reading_from(GatewayConfig::default(), 10);
    h.write("other", 4, "o");
    h.connect(1);
    h.subscribe(1, "/t/y", Some((epoch(4), 3)));
    assert_eq!(h.frames(1), vec!["ok", "resync"]);
    // From inside the window it has seen every record since: none of them y's.
    h.connect(2);
    h.subscribe(2, "/t/y", Some((epoch(4), 10)));
    assert_eq!(h.frames(2), vec!["ok", "sync"]);
}
