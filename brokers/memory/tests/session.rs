//! Sessions: what a gateway attached with `connect` receives and how it is answered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_core::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, FetchId, FetchRequest,
    PartitionMeta, ProduceId, ProduceRequest,
};
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Only a guard against hanging; no test depends on how fast anything is.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn config(topics: &[(&str, u32)]) -> MemoryBrokerConfig {
    MemoryBrokerConfig {
        topics: topics
            .iter()
            .map(|(name, partitions)| TopicConfig {
                name: (*name).to_owned(),
                partitions: *partitions,
            })
            .collect(),
        ..MemoryBrokerConfig::default()
    }
}

fn bytes(text: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(text.as_bytes()))
}

async fn next(events: &mut mpsc::Receiver<BrokerEvent>) -> BrokerEvent {
    timeout(HANG_GUARD, events.recv())
        .await
        .expect("an event within the hang guard")
        .expect("session still running")
}

fn topic_meta(event: BrokerEvent) -> (Arc<str>, Vec<PartitionMeta>) {
    match event {
        BrokerEvent::TopicMeta { topic, partitions } => (topic, partitions),
        other => panic!("expected TopicMeta, got {other:?}"),
    }
}

/// Receives `Records` events until `count` records arrived; anything else fails.
async fn records(events: &mut mpsc::Receiver<BrokerEvent>, count: usize) -> Vec<BrokerRecord> {
    let mut records = Vec::new();
    while records.len() < count {
        match next(events).await {
            BrokerEvent::Records(batch) => {
                assert!(!batch.is_empty(), "no empty batches");
                records.extend(batch);
            }
            other => panic!("expected Records, got {other:?}"),
        }
    }
    assert_eq!(records.len(), count, "no more records than produced");
    records
}

fn offsets_of(records: &[BrokerRecord], topic: &str, partition: u32) -> Vec<u64> {
    records
        .iter()
        .filter(|r| &*r.topic == topic && r.partition == partition)
        .map(|r| r.offset)
        .collect()
}

#[tokio::test]
async fn session_sends_topic_meta_then_every_record_in_order_including_later_ones() {
    let broker = MemoryBroker::new(config(&[("a", 2), ("b", 1)])).unwrap();
    broker
        .produce("a", 0, bytes("k"), bytes("0"), Vec::new())
        .unwrap();
    broker
        .produce("a", 1, bytes("k"), bytes("1"), Vec::new())
        .unwrap();
    broker
        .produce("a", 0, bytes("k"), bytes("2"), Vec::new())
        .unwrap();
    broker
        .produce("b", 0, bytes("k"), bytes("3"), Vec::new())
        .unwrap();

    let (_commands, mut events) = broker.connect();
    let mut metas = [
        topic_meta(next(&mut events).await),
        topic_meta(next(&mut events).await),
    ];
    metas.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(&*metas[0].0, "a");
    assert_eq!(metas[0].1, broker.topic_meta("a").unwrap());
    assert_eq!(&*metas[1].0, "b");
    assert_eq!(metas[1].1, broker.topic_meta("b").unwrap());
    assert!(metas.iter().flat_map(|m| &m.1).all(|p| p.start_offset == 0));

    let before = records(&mut events, 4).await;
    assert_eq!(offsets_of(&before, "a", 0), [0, 1]);
    assert_eq!(offsets_of(&before, "a", 1), [0]);
    assert_eq!(offsets_of(&before, "b", 0), [0]);

    broker
        .produce("a", 0, bytes("k"), bytes("4"), Vec::new())
        .unwrap();
    broker
        .produce("b", 0, bytes("k"), bytes("5"), Vec::new())
        .unwrap();
    broker
        .produce("a", 0, bytes("k"), bytes("6"), Vec::new())
        .unwrap();
    let after = records(&mut events, 3).await;
    assert_eq!(offsets_of(&after, "a", 0), [2, 3]);
    assert_eq!(offsets_of(&after, "b", 0), [1]);
    let payloads: Vec<_> = offsets_of(&after, "a", 0)
        .iter()
        .map(|offset| broker.read("a", 0, *offset, 1)[0].payload.clone())
        .collect();
    assert_eq!(payloads, [bytes("4"), bytes("6")]);
}

#[tokio::test]
async fn session_streams_a_long_log_in_bounded_batches() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    for i in 0..2000 {
        broker
            .produce("t", 0, bytes("k"), bytes(&i.to_string()), Vec::new())
            .unwrap();
    }
    let (_commands, mut events) = broker.connect();
    topic_meta(next(&mut events).await);
    let mut offsets = Vec::new();
    while offsets.len() < 2000 {
        match next(&mut events).await {
            BrokerEvent::Records(batch) => {
                assert!(batch.len() < 2000, "batches are bounded");
                offsets.extend(batch.iter().map(|r| r.offset));
            }
            other => panic!("expected Records, got {other:?}"),
        }
    }
    assert_eq!(offsets, (0..2000).collect::<Vec<u64>>());
}

#[tokio::test]
async fn produce_command_is_answered_with_its_offset_and_streamed_back() {
    let broker = MemoryBroker::new(config(&[("t", 2)])).unwrap();
    broker
        .produce("t", 1, bytes("k"), bytes("old"), Vec::new())
        .unwrap();
    let (commands, mut events) = broker.connect();
    topic_meta(next(&mut events).await);
    records(&mut events, 1).await;

    commands
        .send(BrokerCommand::Produce(ProduceRequest {
            produce: ProduceId(7),
            topic: Arc::from("t"),
            partition: 1,
            key: bytes("k"),
            payload: Bytes::from_static(b"new"),
            headers: Vec::new(),
        }))
        .await
        .unwrap();

    // The answer and the streamed record may come in either order, as with Kafka.
    let mut answer = None;
    let mut streamed = Vec::new();
    while answer.is_none() || streamed.is_empty() {
        match next(&mut events).await {
            BrokerEvent::Produced { produce, result } => answer = Some((produce, result)),
            BrokerEvent::Records(batch) => streamed.extend(batch),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answer, Some((ProduceId(7), Ok(1))));
    assert_eq!(streamed.len(), 1);
    assert_eq!((streamed[0].partition, streamed[0].offset), (1, 1));
    assert_eq!(streamed[0].payload, bytes("new"));
}

#[tokio::test]
async fn produce_command_to_an_unknown_topic_is_answered_with_the_error() {
    let broker = MemoryBroker::new(config(&[])).unwrap();
    let (commands, mut events) = broker.connect();
    commands
        .send(BrokerCommand::Produce(ProduceRequest {
            produce: ProduceId(1),
            topic: Arc::from("nope"),
            partition: 0,
            key: None,
            payload: Bytes::from_static(b"v"),
            headers: Vec::new(),
        }))
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        BrokerEvent::Produced {
            produce: ProduceId(1),
            result: Err(BrokerError::UnknownTopic),
        }
    );
}

#[tokio::test]
async fn fetch_command_is_answered_with_the_matching_records() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    for key in ["a", "b", "a"] {
        broker
            .produce("t", 0, bytes(key), bytes("v"), Vec::new())
            .unwrap();
    }
    let (commands, mut events) = broker.connect();
    let (_, partitions) = topic_meta(next(&mut events).await);
    records(&mut events, 3).await;

    commands
        .send(BrokerCommand::Fetch(FetchRequest {
            from_log_start: false,
            fetch: FetchId(3),
            topic: Arc::from("t"),
            partition: 0,
            epoch: partitions[0].epoch.clone(),
            key: bytes("a"),
            from_offset: 0,
            to_offset: 2,
        }))
        .await
        .unwrap();
    match next(&mut events).await {
        BrokerEvent::Fetched { fetch, result } => {
            assert_eq!(fetch, FetchId(3));
            let fetched = result.unwrap();
            let offsets: Vec<u64> = fetched.records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [0, 2]);
            assert_eq!(fetched.next_offset, 3);
        }
        other => panic!("expected Fetched, got {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_broker_answers_unavailable_and_streams_nothing_until_resumed() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    broker.set_available(false);

    let (commands, mut events) = broker.connect();
    commands
        .send(BrokerCommand::Produce(ProduceRequest {
            produce: ProduceId(1),
            topic: Arc::from("t"),
            partition: 0,
            key: bytes("k"),
            payload: Bytes::from_static(b"v"),
            headers: Vec::new(),
        }))
        .await
        .unwrap();
    commands
        .send(BrokerCommand::Fetch(FetchRequest {
            from_log_start: false,
            fetch: FetchId(2),
            topic: Arc::from("t"),
            partition: 0,
            epoch: Epoch::new("whatever-0"),
            key: bytes("k"),
            from_offset: 0,
            to_offset: 0,
        }))
        .await
        .unwrap();
    // Nothing is streamed while paused, so the answers are the first events.
    assert!(matches!(
        next(&mut events).await,
        BrokerEvent::Produced {
            produce: ProduceId(1),
            result: Err(BrokerError::Unavailable(_))
        }
    ));
    assert!(matches!(
        next(&mut events).await,
        BrokerEvent::Fetched {
            fetch: FetchId(2),
            result: Err(BrokerError::Unavailable(_))
        }
    ));
    assert_eq!(
        broker.high_watermark("t", 0),
        Some(1),
        "nothing was written"
    );

    broker.set_available(true);
    let (_, partitions) = topic_meta(next(&mut events).await);
    assert_eq!(partitions[0].start_offset, 0);
    let streamed = records(&mut events, 1).await;
    assert_eq!(streamed[0].offset, 0);
}

#[tokio::test]
async fn session_overtaken_by_retention_announces_the_new_start_before_going_on() {
    let broker = MemoryBroker::new(MemoryBrokerConfig {
        retention_records_max: 4,
        // One event in flight at most, so the session falls behind the producer.
        events_queue_max: 1,
        ..config(&[("t", 1)])
    })
    .unwrap();
    for _ in 0..3 {
        broker
            .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
            .unwrap();
    }
    let (_commands, mut events) = broker.connect();
    let (_, first) = topic_meta(next(&mut events).await);
    assert_eq!(first[0].start_offset, 0);

    // Offsets 3..13; only 9..13 are retained.
    for _ in 0..10 {
        broker
            .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
            .unwrap();
    }
    assert_eq!(broker.topic_meta("t").unwrap()[0].start_offset, 9);

    // Whatever was already on its way may still arrive; then the session must say
    // the log now starts at 9 before it sends offset 9.
    let mut early = Vec::new();
    let announced = loop {
        match next(&mut events).await {
            BrokerEvent::Records(batch) => early.extend(batch.into_iter().map(|r| r.offset)),
            BrokerEvent::TopicMeta { topic, partitions } => break (topic, partitions),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        early.iter().all(|offset| *offset < 3),
        "only pre-existing records: {early:?}"
    );
    assert_eq!(&*announced.0, "t");
    assert_eq!(announced.1[0].start_offset, 9);
    assert_eq!(
        announced.1[0].epoch, first[0].epoch,
        "same log, only shorter"
    );

    let rest = records(&mut events, 4).await;
    assert_eq!(offsets_of(&rest, "t", 0), [9, 10, 11, 12]);
}

#[tokio::test]
async fn session_announces_created_deleted_and_recreated_topics() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    let (_commands, mut events) = broker.connect();
    let (topic, original) = topic_meta(next(&mut events).await);
    assert_eq!(&*topic, "t");

    broker.create_topic("u", 3).unwrap();
    let (topic, created) = topic_meta(next(&mut events).await);
    assert_eq!(&*topic, "u");
    assert_eq!(created.len(), 3);

    assert!(broker.delete_topic("t"));
    let (topic, deleted) = topic_meta(next(&mut events).await);
    assert_eq!(&*topic, "t");
    assert!(deleted.is_empty(), "a deleted topic has no partitions");

    broker.create_topic("t", 1).unwrap();
    let (topic, recreated) = topic_meta(next(&mut events).await);
    assert_eq!(&*topic, "t");
    assert_ne!(recreated[0].epoch, original[0].epoch);
    assert_eq!(recreated[0].start_offset, 0);

    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    let streamed = records(&mut events, 1).await;
    assert_eq!(streamed[0].offset, 0, "a new incarnation starts at 0 again");
}

#[tokio::test]
async fn session_ends_when_the_command_sender_is_dropped() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    let (commands, mut events) = broker.connect();
    drop(commands);
    // The session owns the only event sender, so the stream ends only if it does.
    timeout(HANG_GUARD, async { while events.recv().await.is_some() {} })
        .await
        .expect("session ended");
}

#[tokio::test]
async fn session_ends_when_the_event_receiver_is_dropped() {
    let broker = MemoryBroker::new(config(&[("t", 1)])).unwrap();
    for _ in 0..10 {
        broker
            .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
            .unwrap();
    }
    let (commands, events) = broker.connect();
    drop(events);
    // The session owns the only command receiver, so this resolves only if it ends.
    timeout(HANG_GUARD, commands.closed())
        .await
        .expect("session ended");
}
