//! Interest mode (`partition_release_grace_ms`): the core watches a partition for
//! its first subscriber and parks the start until the broker has read it, releases
//! it a grace period after the last one goes, forgets what it kept of it when the
//! broker stops reading it, and resumes across a release without a gap.

use std::sync::Arc;

use sluice_core::partitioner::Partitioner;
use sluice_core::protocol::{ClientFrame, ResumePoint, SubscribeItem, SubscribeOptions};
use sluice_core::testing::{self, epoch, record};
use sluice_core::{
    BrokerCommand, BrokerEvent, ClientId, Epoch, Fetched, GatewayConfig, Input, RequestId,
};

const PARTITIONS: u32 = 8;
const GRACE_MS: u64 = 1_000;

struct Harness {
    core: testing::Harness,
}

impl Harness {
    fn new() -> Harness {
        let mut core = testing::Harness::new(GatewayConfig {
            exposed_topics: vec!["t".into()],
            partition_release_grace_ms: Some(GRACE_MS),
            ..GatewayConfig::default()
        });
        core.topic("t", PARTITIONS, 0);
        core.input(Input::Broker(BrokerEvent::CaughtUp));
        Harness { core }
    }

    fn subscribe(&mut self, client: u64, subject: &str, resume: Option<(Epoch, u64)>) {
        self.core.frame(
            ClientId(client),
            ClientFrame::Subscribe {
                id: RequestId(1),
                items: vec![SubscribeItem {
                    subject: subject.into(),
                    resume: resume.map(|(epoch, seq)| ResumePoint { epoch, seq }),
                }],
                options: SubscribeOptions::default(),
            },
        );
    }

    fn unsubscribe(&mut self, client: u64, subject: &str) {
        self.core.frame(
            ClientId(client),
            ClientFrame::Unsubscribe {
                id: RequestId(2),
                subjects: vec![subject.into()],
            },
        );
    }

    fn event(&mut self, event: BrokerEvent) {
        self.core.input(Input::Broker(event));
    }

    fn records(&mut self, partition: u32, records: &[(u64, &str, &str)]) {
        let records = records
            .iter()
            .map(|&(offset, key, value)| record("t", partition, offset, key, value))
            .collect();
        self.event(BrokerEvent::Records(records));
    }

    fn reading(&mut self, partition: u32, start_offset: u64) {
        self.event(BrokerEvent::PartitionReading {
            topic: Arc::from("t"),
            partition,
            start_offset,
        });
    }

    fn ready(&mut self, partition: u32) {
        self.event(BrokerEvent::PartitionReady {
            topic: Arc::from("t"),
            partition,
        });
    }

    fn frames(&mut self, client: u64) -> Vec<String> {
        let frames = self.core.transmit(ClientId(client));
        frames.iter().map(testing::describe).collect()
    }

    /// The watch commands sent since the last call, as `watch 3` / `unwatch 3`.
    fn watches(&mut self) -> Vec<String> {
        let commands = std::mem::take(&mut self.core.broker);
        commands
            .into_iter()
            .filter_map(|c| match c {
                BrokerCommand::Watch { partition, .. } => Some(format!("watch {partition}")),
                BrokerCommand::Unwatch { partition, .. } => Some(format!("unwatch {partition}")),
                _ => None,
            })
            .collect()
    }
}

fn partition_of(key: &str) -> u32 {
    Partitioner::Murmur2.partition(Some(key.as_bytes()), PARTITIONS)
}

#[test]
fn a_first_subscriber_waits_for_its_partition_then_gets_the_snapshot_and_live_records() {
    let mut h = Harness::new();
    let p = partition_of("k");
    let e = epoch(p);
    // Records of a partition nobody watches are not applied.
    h.records(p, &[(0, "k", "stale")]);
    h.core.connect(ClientId(1));
    h.subscribe(1, "/t/k", None);
    assert_eq!(h.watches(), vec![format!("watch {p}")]);
    assert_eq!(
        h.frames(1),
        vec!["ok"],
        "no snapshot before the partition is read"
    );
    assert_eq!(h.core.gateway.stats().starts_parked, 1);
    assert_eq!(h.core.gateway.stats().partitions_warming, 1);

    h.reading(p, 0);
    h.records(p, &[(0, "k", "v0"), (1, "other", "x"), (2, "k", "v2")]);
    assert_eq!(
        h.frames(1),
        Vec::<String>::new(),
        "the read is not live yet"
    );
    h.ready(p);
    assert_eq!(h.frames(1), vec![format!("snapshot {e}:2")]);
    h.records(p, &[(3, "k", "v3")]);
    assert_eq!(h.frames(1), vec![format!("update {e}:3")]);
    let stats = h.core.gateway.stats();
    assert_eq!((stats.partitions_watched, stats.starts_parked), (1, 0));

    // A second subscriber of the partition is served at once, without a watch.
    h.core.connect(ClientId(2));
    h.subscribe(2, "/t/k", None);
    assert_eq!(
        h.frames(2),
        vec!["ok".to_string(), format!("snapshot {e}:3")]
    );
    assert_eq!(h.watches(), Vec::<String>::new());
}

#[test]
fn the_last_unsubscribe_releases_the_partition_after_the_grace_period() {
    let mut h = Harness::new();
    let p = partition_of("k");
    h.core.connect(ClientId(1));
    h.subscribe(1, "/t/k", None);
    h.reading(p, 0);
    h.records(p, &[(0, "k", "v0")]);
    h.ready(p);
    h.frames(1);
    h.unsubscribe(1, "/t/k");
    h.watches();
    // Back within the grace period: still watched, nothing sent to the broker.
    h.core.advance_to(GRACE_MS / 2, ClientId(1));
    h.subscribe(1, "/t/k", None);
    assert_eq!(h.frames(1).len(), 3, "ok (unsubscribe), ok, snapshot");
    h.unsubscribe(1, "/t/k");
    let released_at = h.core.now_ms + GRACE_MS;
    h.core.advance_to(released_at - 1, ClientId(1));
    assert_eq!(h.watches(), Vec::<String>::new());
    h.core.advance_to(released_at, ClientId(1));
    assert_eq!(h.watches(), vec![format!("unwatch {p}")]);
    let stats = h.core.gateway.stats();
    assert_eq!(
        (stats.partitions_watched, stats.partition_releases_total),
        (0, 1)
    );
    assert_eq!(
        stats.snapshot_cache_entries, 1,
        "kept until the broker stops"
    );
    h.event(BrokerEvent::PartitionReleased {
        topic: Arc::from("t"),
        partition: p,
    });
    assert_eq!(h.core.gateway.stats().snapshot_cache_entries, 0);
    // A record in flight behind the release is not applied.
    h.records(p, &[(1, "k", "late")]);
    assert_eq!(h.core.gateway.stats().snapshot_cache_entries, 0);
}

#[test]
fn a_resume_across_a_release_and_a_new_read_has_no_gap() {
    let mut h = Harness::new();
    let p = partition_of("k");
    let e = epoch(p);
    h.core.connect(ClientId(1));
    h.subscribe(1, "/t/k", None);
    h.reading(p, 0);
    h.records(p, &[(0, "k", "v0"), (1, "k", "v1")]);
    h.ready(p);
    assert_eq!(
        h.frames(1),
        vec!["ok".to_string(), format!("snapshot {e}:1")]
    );
    // The client goes; the partition is released and the cache dropped.
    h.core.input(Input::Disconnect {
        client: ClientId(1),
    });
    h.core.advance_to(GRACE_MS, ClientId(1));
    assert_eq!(
        h.watches(),
        vec![format!("watch {p}"), format!("unwatch {p}")]
    );
    h.event(BrokerEvent::PartitionReleased {
        topic: Arc::from("t"),
        partition: p,
    });
    // Meanwhile offsets 2..=4 were written; the client comes back to resume from 1.
    h.core.connect(ClientId(3));
    h.subscribe(3, "/t/k", Some((e.clone(), 1)));
    assert_eq!(h.watches(), vec![format!("watch {p}")]);
    assert_eq!(h.frames(3), vec!["ok"]);
    // The new read starts at 3 (a lookback window): offset 2 is older than it.
    h.reading(p, 3);
    h.records(p, &[(3, "k", "v3"), (4, "k", "v4")]);
    h.ready(p);
    let fetch = h
        .core
        .broker
        .iter()
        .find_map(|c| match c {
            BrokerCommand::Fetch(f) => Some(f.clone()),
            _ => None,
        })
        .expect("the missed record older than the new read is read back");
    assert_eq!(
        (fetch.partition, fetch.from_offset, fetch.to_offset),
        (p, 2, 4)
    );
    let read_back = [(2, "v2"), (3, "v3"), (4, "v4")];
    h.event(BrokerEvent::Fetched {
        fetch: fetch.fetch,
        result: Ok(Fetched {
            records: read_back
                .iter()
                .map(|&(offset, value)| record("t", p, offset, "k", value))
                .collect(),
            first_offset: 2,
            next_offset: fetch.to_offset + 1,
        }),
    });
    assert_eq!(
        h.frames(3),
        vec![
            format!("recovered {e}:2"),
            format!("recovered {e}:3"),
            format!("recovered {e}:4"),
            "sync".to_string(),
        ]
    );
}

#[test]
fn a_subscriber_that_leaves_before_its_partition_is_read_gets_nothing() {
    let mut h = Harness::new();
    let p = partition_of("k");
    h.core.connect(ClientId(1));
    h.subscribe(1, "/t/k", None);
    h.unsubscribe(1, "/t/k");
    assert_eq!(h.core.gateway.stats().starts_parked, 0);
    h.reading(p, 0);
    h.records(p, &[(0, "k", "v0")]);
    h.ready(p);
    assert_eq!(h.frames(1), vec!["ok", "ok"]);
    // Read but unwanted: released after the grace period.
    h.core.advance_to(h.core.now_ms + GRACE_MS, ClientId(1));
    assert_eq!(
        h.watches(),
        vec![format!("watch {p}"), format!("unwatch {p}")]
    );
}

#[test]
fn subscribers_waiting_through_a_deleted_topic_are_served_when_it_returns() {
    // Found by the simulator (tier 2 on Kafka, seed 58): the partition's entry was
    // dropped while the topic was gone, so its subscribers waited forever.
    let mut h = Harness::new();
    let p = partition_of("k");
    h.core.connect(ClientId(1));
    h.subscribe(1, "/t/k", None);
    h.watches();
    h.event(BrokerEvent::TopicMeta {
        topic: Arc::from("t"),
        partitions: Vec::new(),
    });
    h.core
        .advance_to(h.core.now_ms + 10 * GRACE_MS, ClientId(1));
    assert_eq!(h.watches(), Vec::<String>::new(), "nothing to read");
    // Created again: the partition is watched afresh and the start goes on.
    h.core.topic("t", PARTITIONS, 0);
    assert_eq!(h.watches(), vec![format!("watch {p}")]);
    h.reading(p, 0);
    h.records(p, &[(0, "k", "back")]);
    h.ready(p);
    let frames = h.frames(1);
    assert_eq!(
        frames.last(),
        Some(&format!("snapshot {}:0", epoch(p))),
        "{frames:?}"
    );
}
