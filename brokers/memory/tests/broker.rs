//! The broker's direct API: what tools and tests that act like a Kafka client see.

use bytes::Bytes;
use sluice_core::{BrokerError, Epoch, FetchId, FetchRequest, Fetched, Header};
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig, TopicError};

fn broker_with(config: MemoryBrokerConfig) -> MemoryBroker {
    MemoryBroker::new(config).expect("valid config")
}

/// A fetch as the gateway asks it (never from below the log's start).
fn fetch(
    broker: &MemoryBroker,
    (topic, partition): (&str, u32),
    epoch: &Epoch,
    key: Option<&[u8]>,
    from_offset: u64,
    to_offset: u64,
) -> Result<Fetched, BrokerError> {
    broker.fetch(&FetchRequest {
        fetch: FetchId(0),
        topic: topic.into(),
        partition,
        epoch: epoch.clone(),
        key: key.map(Bytes::copy_from_slice),
        from_offset,
        to_offset,
        from_log_start: false,
    })
}

fn broker(topic: &str, partitions: u32) -> MemoryBroker {
    broker_with(MemoryBrokerConfig {
        topics: vec![TopicConfig {
            name: topic.to_owned(),
            partitions,
        }],
        ..MemoryBrokerConfig::default()
    })
}

fn bytes(text: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(text.as_bytes()))
}

fn epoch(broker: &MemoryBroker, topic: &str, partition: u32) -> Epoch {
    broker.topic_meta(topic).expect("topic exists")[partition as usize]
        .epoch
        .clone()
}

#[test]
fn offsets_increase_from_zero_per_partition() {
    let broker = broker("t", 2);
    for expected in 0..3 {
        assert_eq!(
            broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new()),
            Ok(expected)
        );
    }
    assert_eq!(
        broker.produce("t", 1, bytes("k"), bytes("v"), Vec::new()),
        Ok(0),
        "each partition has its own offsets"
    );
    assert_eq!(broker.high_watermark("t", 0), Some(3));
    assert_eq!(broker.high_watermark("t", 1), Some(1));
}

#[test]
fn produced_record_reads_back_with_everything_it_was_given() {
    let broker = broker("t", 1);
    let headers = vec![Header {
        name: "retained".to_owned(),
        value: Bytes::from_static(b"false"),
    }];
    broker
        .produce("t", 0, bytes("1/speed"), bytes("42"), headers.clone())
        .unwrap();
    broker
        .produce("t", 0, bytes("1/speed"), None, Vec::new())
        .unwrap();

    let records = broker.read("t", 0, 0, 10);
    assert_eq!(records.len(), 2);
    assert_eq!(&*records[0].topic, "t");
    assert_eq!(records[0].partition, 0);
    assert_eq!(records[0].offset, 0);
    assert_eq!(records[0].key, bytes("1/speed"));
    assert_eq!(records[0].payload, bytes("42"));
    assert_eq!(*records[0].headers, *headers);
    assert!(records[0].timestamp_ms > 0, "stamped with the wall clock");
    assert_eq!(records[1].payload, None, "a tombstone stays a tombstone");
}

#[test]
fn keyed_produce_lands_on_the_kafka_murmur2_partition() {
    let broker = broker("t", 7);
    // Hashes from Kafka's `UtilsTest.testMurmur2`, taken `& 0x7fffffff % 7`.
    for (key, expected) in [("21", 3), ("foobar", 0), ("abc", 4)] {
        let (partition, offset) = broker
            .produce_keyed("t", bytes(key), bytes("v"), Vec::new())
            .unwrap();
        assert_eq!(partition, expected, "key {key}");
        assert_eq!(offset, 0);
        assert_eq!(broker.read("t", expected, 0, 10)[0].key, bytes(key));
    }
    let (partition, _) = broker
        .produce_keyed("t", None, bytes("v"), Vec::new())
        .unwrap();
    assert_eq!(partition, 0, "null keys go to partition 0");
}

#[test]
fn retention_drops_oldest_and_fetch_below_start_is_out_of_range() {
    let broker = broker_with(MemoryBrokerConfig {
        topics: vec![TopicConfig {
            name: "t".to_owned(),
            partitions: 1,
        }],
        retention_records_max: 3,
        ..MemoryBrokerConfig::default()
    });
    for i in 0..5 {
        broker
            .produce("t", 0, bytes("k"), bytes(&i.to_string()), Vec::new())
            .unwrap();
    }
    let meta = broker.topic_meta("t").unwrap();
    assert_eq!(meta[0].start_offset, 2);
    let offsets: Vec<u64> = broker
        .read("t", 0, 0, 10)
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(offsets, [2, 3, 4]);

    let epoch = epoch(&broker, "t", 0);
    assert_eq!(
        fetch(&broker, ("t", 0), &epoch, Some(&b"k"[..]), 1, 4),
        Err(BrokerError::OffsetOutOfRange)
    );
    let fetched = fetch(&broker, ("t", 0), &epoch, Some(&b"k"[..]), 2, 4).unwrap();
    assert_eq!(fetched.records.len(), 3);
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new()),
        Ok(5),
        "offsets are never reused"
    );
}

#[test]
fn byte_retention_bounds_key_plus_payload_and_refuses_oversized_records() {
    let broker = broker_with(MemoryBrokerConfig {
        topics: vec![TopicConfig {
            name: "t".to_owned(),
            partitions: 1,
        }],
        retention_bytes_max: 10,
        ..MemoryBrokerConfig::default()
    });
    // 1 key byte + 4 payload bytes each: two fit in 10 bytes.
    for _ in 0..3 {
        broker
            .produce("t", 0, bytes("k"), bytes("vvvv"), Vec::new())
            .unwrap();
    }
    assert_eq!(broker.topic_meta("t").unwrap()[0].start_offset, 1);
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("0123456789"), Vec::new()),
        Err(BrokerError::TooLarge)
    );
    assert_eq!(broker.high_watermark("t", 0), Some(3));
}

#[test]
fn fetch_filters_by_key_and_pages_with_next_offset() {
    let broker = broker_with(MemoryBrokerConfig {
        topics: vec![TopicConfig {
            name: "t".to_owned(),
            partitions: 1,
        }],
        fetch_records_max: 4,
        ..MemoryBrokerConfig::default()
    });
    // Key "a" on offsets 0, 3, 6, 9; "b" elsewhere.
    for i in 0..10 {
        let key = if i % 3 == 0 { "a" } else { "b" };
        broker
            .produce("t", 0, bytes(key), bytes(&i.to_string()), Vec::new())
            .unwrap();
    }
    let epoch = epoch(&broker, "t", 0);

    // Page through as a gateway would, until next_offset passes to_offset.
    let to_offset = 8;
    let mut from_offset = 0;
    let mut pages = Vec::new();
    while from_offset <= to_offset {
        let fetched = fetch(
            &broker,
            ("t", 0),
            &epoch,
            Some(&b"a"[..]),
            from_offset,
            to_offset,
        )
        .unwrap();
        assert!(fetched.next_offset > from_offset, "every answer progresses");
        let offsets: Vec<u64> = fetched.records.iter().map(|r| r.offset).collect();
        pages.push((offsets, fetched.next_offset));
        from_offset = fetched.next_offset;
    }
    assert_eq!(
        pages,
        [(vec![0, 3], 4), (vec![6], 8), (vec![], 9)],
        "4 offsets examined per answer; offset 9 is past to_offset"
    );
}

#[test]
fn recreating_a_topic_changes_its_epochs() {
    let broker = broker("t", 2);
    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    let before = broker.topic_meta("t").unwrap();
    assert_eq!(before[0].epoch.as_str().split('-').nth(1), Some("0"));
    assert_eq!(before[1].epoch.as_str().split('-').nth(1), Some("1"));

    assert!(broker.delete_topic("t"));
    assert_eq!(broker.topic_meta("t"), None);
    assert!(!broker.delete_topic("t"), "already gone");
    broker.create_topic("t", 2).unwrap();

    let after = broker.topic_meta("t").unwrap();
    assert_ne!(before[0].epoch, after[0].epoch);
    assert_ne!(before[1].epoch, after[1].epoch);
    assert_eq!(
        broker.high_watermark("t", 0),
        Some(0),
        "the old records are gone"
    );
    assert_eq!(
        fetch(&broker, ("t", 0), &before[0].epoch, Some(&b"k"[..]), 0, 0),
        Err(BrokerError::EpochChanged)
    );
}

#[test]
fn unknown_topics_and_partitions_are_reported() {
    let broker = broker("t", 1);
    let epoch = epoch(&broker, "t", 0);
    assert_eq!(
        broker.produce("nope", 0, None, bytes("v"), Vec::new()),
        Err(BrokerError::UnknownTopic)
    );
    assert_eq!(
        broker.produce("t", 1, None, bytes("v"), Vec::new()),
        Err(BrokerError::UnknownTopic)
    );
    assert_eq!(
        broker.produce_keyed("nope", None, bytes("v"), Vec::new()),
        Err(BrokerError::UnknownTopic)
    );
    assert_eq!(
        fetch(&broker, ("t", 1), &epoch, None, 0, 0),
        Err(BrokerError::UnknownTopic)
    );
    assert_eq!(broker.high_watermark("t", 1), None);
    assert!(broker.read("nope", 0, 0, 10).is_empty());
}

#[test]
fn bad_topics_are_refused() {
    let broker = broker("t", 1);
    assert_eq!(
        broker.create_topic("t", 1),
        Err(TopicError::AlreadyExists("t".to_owned()))
    );
    assert_eq!(
        broker.create_topic("u", 0),
        Err(TopicError::NoPartitions("u".to_owned()))
    );
    assert_eq!(
        broker.create_topic("a/b", 1),
        Err(TopicError::InvalidName("a/b".to_owned()))
    );
    assert!(MemoryBroker::new(MemoryBrokerConfig {
        topics: vec![
            TopicConfig {
                name: "t".to_owned(),
                partitions: 1,
            };
            2
        ],
        ..MemoryBrokerConfig::default()
    })
    .is_err());
}

#[test]
fn unavailable_broker_refuses_produce_and_fetch_but_keeps_records() {
    let broker = broker("t", 1);
    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    let epoch = epoch(&broker, "t", 0);

    broker.set_available(false);
    assert!(!broker.is_available());
    assert!(matches!(
        broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new()),
        Err(BrokerError::Unavailable(_))
    ));
    assert!(matches!(
        fetch(&broker, ("t", 0), &epoch, Some(&b"k"[..]), 0, 0),
        Err(BrokerError::Unavailable(_))
    ));

    broker.set_available(true);
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new()),
        Ok(1)
    );
    let fetched = fetch(&broker, ("t", 0), &epoch, Some(&b"k"[..]), 0, 1).unwrap();
    assert_eq!(fetched.records.len(), 2);
}
