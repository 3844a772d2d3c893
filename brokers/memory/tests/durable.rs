//! The durable embedded log: what survives a restart, a crash and a power loss.
//!
//! Power loss runs on a `SimulatedDisk`, which keeps only what was synced (plus a
//! torn prefix of the rest); restarts on real files use a temporary directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_core::{BrokerCommand, BrokerError, BrokerEvent, Epoch, ProduceId, ProduceRequest};
use sluice_memory_broker::{
    DurableConfig, FsyncPolicy, MemoryBroker, MemoryBrokerConfig, SimulatedDisk, Storage,
    TopicConfig, TopicError,
};
use tokio::time::timeout;

const HANG_GUARD: Duration = Duration::from_secs(10);

fn config(data_dir: &Path, fsync: FsyncPolicy) -> MemoryBrokerConfig {
    MemoryBrokerConfig {
        topics: vec![TopicConfig {
            name: "t".into(),
            partitions: 2,
        }],
        durable: Some(DurableConfig {
            fsync,
            ..DurableConfig::new(data_dir)
        }),
        ..MemoryBrokerConfig::default()
    }
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-durable-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bytes(text: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(text.as_bytes()))
}

fn epochs(broker: &MemoryBroker) -> Vec<Epoch> {
    broker
        .topic_meta("t")
        .expect("topic exists")
        .into_iter()
        .map(|meta| meta.epoch)
        .collect()
}

/// Every record of partition `partition`, as (offset, payload).
fn log(broker: &MemoryBroker, partition: u32) -> Vec<(u64, String)> {
    broker
        .read("t", partition, 0, usize::MAX)
        .into_iter()
        .map(|r| {
            let payload = r.payload.as_deref().unwrap_or_default();
            (r.offset, String::from_utf8_lossy(payload).into_owned())
        })
        .collect()
}

#[test]
fn records_and_epochs_survive_a_restart_and_offsets_continue() {
    let dir = temp_dir("restart");
    let config = config(&dir, FsyncPolicy::Always);
    let broker = MemoryBroker::new(config.clone()).unwrap();
    for i in 0..5 {
        broker
            .produce("t", 0, bytes("k"), bytes(&i.to_string()), Vec::new())
            .unwrap();
    }
    broker
        .produce("t", 1, None, bytes("other"), Vec::new())
        .unwrap();
    broker.sync().unwrap();
    let before = epochs(&broker);
    drop(broker);

    let broker = MemoryBroker::new(config).unwrap();
    assert_eq!(
        epochs(&broker),
        before,
        "same epochs: clients resume without resync"
    );
    let expected: Vec<_> = (0..5).map(|i| (i, i.to_string())).collect();
    assert_eq!(log(&broker, 0), expected);
    assert_eq!(log(&broker, 1), [(0, "other".to_owned())]);
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("5"), Vec::new()),
        Ok(5)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wiped_data_directory_gives_new_epochs() {
    let dir = temp_dir("wiped");
    let config = config(&dir, FsyncPolicy::Always);
    let first = epochs(&MemoryBroker::new(config.clone()).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let second = epochs(&MemoryBroker::new(config).unwrap());
    assert_ne!(first[0], second[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_broker_cannot_open_a_data_directory_in_use() {
    let dir = temp_dir("locked");
    let config = config(&dir, FsyncPolicy::Always);
    let _first = MemoryBroker::new(config.clone()).unwrap();
    let err = MemoryBroker::new(config).unwrap_err();
    let TopicError::Storage(reason) = err else {
        panic!("expected a storage error, got {err:?}");
    };
    assert!(
        reason.contains("in use by another sluice process"),
        "{reason}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_fsync_always_a_record_is_visible_only_after_its_sync() {
    let disk = SimulatedDisk::new();
    let broker = MemoryBroker::with_storage(
        config(Path::new("/data"), FsyncPolicy::Always),
        Arc::new(disk.clone()),
    )
    .unwrap();
    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    assert_eq!(broker.high_watermark("t", 0), Some(0));
    assert!(
        log(&broker, 0).is_empty(),
        "not streamed before it is durable"
    );
    let syncs = disk.syncs();
    broker.sync().unwrap();
    assert!(disk.syncs() > syncs);
    assert_eq!(broker.high_watermark("t", 0), Some(1));
    assert_eq!(log(&broker, 0).len(), 1);
}

#[test]
fn a_torn_tail_is_truncated_and_the_log_goes_on_from_the_last_whole_record() {
    let disk = SimulatedDisk::new();
    let config = config(Path::new("/data"), FsyncPolicy::Always);
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    for i in 0..3 {
        broker
            .produce("t", 0, bytes("k"), bytes(&i.to_string()), Vec::new())
            .unwrap();
    }
    broker.sync().unwrap();
    let epochs_before = epochs(&broker);
    drop(broker);
    let segment = Path::new("/data/topics/t/0/00000000000000000000.log");
    let mut damaged = disk.contents(segment).expect("segment exists");
    let whole = damaged.len();
    damaged.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
    disk.replace(segment, damaged);

    let broker = MemoryBroker::with_storage(config, Arc::new(disk.clone())).unwrap();
    assert_eq!(disk.contents(segment).unwrap().len(), whole, "tail cut");
    assert_eq!(log(&broker, 0).len(), 3);
    assert_eq!(
        epochs(&broker),
        epochs_before,
        "a torn tail was never visible"
    );
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("3"), Vec::new()),
        Ok(3)
    );
}

#[test]
fn damage_before_the_end_loses_what_follows_and_changes_the_epoch() {
    let disk = SimulatedDisk::new();
    let mut config = config(Path::new("/data"), FsyncPolicy::Always);
    // About two records per segment.
    config.durable.as_mut().unwrap().segment_bytes_max = 80;
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    for i in 0..10 {
        broker
            .produce("t", 0, bytes("k"), bytes(&format!("value-{i}")), Vec::new())
            .unwrap();
    }
    broker.sync().unwrap();
    let epochs_before = epochs(&broker);
    assert!(broker.segment_count("t", 0).unwrap() > 2);
    drop(broker);
    let first = Path::new("/data/topics/t/0/00000000000000000000.log");
    let mut damaged = disk.contents(first).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    disk.replace(first, damaged);

    let broker = MemoryBroker::with_storage(config, Arc::new(disk)).unwrap();
    let kept = log(&broker, 0);
    assert!(kept.len() < 10, "records after the damage are gone");
    assert_ne!(
        epochs(&broker)[0],
        epochs_before[0],
        "partition 0 starts a new epoch"
    );
    assert_eq!(
        epochs(&broker)[1],
        epochs_before[1],
        "partition 1 was not damaged"
    );
    let next = kept.len() as u64;
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("new"), Vec::new()),
        Ok(next)
    );
}

#[test]
fn retention_deletes_whole_segments_and_keeps_offsets() {
    let disk = SimulatedDisk::new();
    let mut config = config(Path::new("/data"), FsyncPolicy::Never);
    config.retention_records_max = 5;
    config.durable.as_mut().unwrap().segment_bytes_max = 100;
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    for i in 0..200 {
        broker
            .produce("t", 0, bytes("k"), bytes(&format!("value-{i}")), Vec::new())
            .unwrap();
    }
    let segments = broker.segment_count("t", 0).unwrap();
    assert!(segments <= 5, "{segments} segments for 5 retained records");
    drop(broker);
    let broker = MemoryBroker::with_storage(config, Arc::new(disk)).unwrap();
    let kept = log(&broker, 0);
    assert_eq!(kept.len(), 5);
    assert_eq!(kept.last().unwrap(), &(199, "value-199".to_owned()));
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("x"), Vec::new()),
        Ok(200)
    );
}

#[test]
fn after_a_power_loss_a_broker_that_acked_before_syncing_starts_new_epochs() {
    let disk = SimulatedDisk::new();
    let config = config(Path::new("/data"), FsyncPolicy::Never);
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    broker
        .produce("t", 0, bytes("k"), bytes("v"), Vec::new())
        .unwrap();
    let before = epochs(&broker);
    drop(broker);
    // A restart of the process alone (same boot) keeps the epochs...
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    assert_eq!(epochs(&broker), before);
    drop(broker);
    // ...a power loss does not: what readers saw may be gone.
    disk.power_loss(|_, _| 0);
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    let after = epochs(&broker);
    assert!(
        before.iter().zip(&after).all(|(b, a)| b != a),
        "{before:?} {after:?}"
    );
    // A clean stop syncs everything: a power loss after it keeps the epochs.
    broker
        .produce("t", 0, bytes("k"), bytes("w"), Vec::new())
        .unwrap();
    broker.close();
    drop(broker);
    disk.power_loss(|_, _| 0);
    let broker = MemoryBroker::with_storage(config, Arc::new(disk)).unwrap();
    assert_eq!(epochs(&broker), after);
    assert_eq!(log(&broker, 0).last().unwrap().1, "w");
}

/// What a run of produces through a session acknowledged, per partition.
type Acked = BTreeMap<u32, Vec<(u64, String)>>;

/// Sends `count` produces over a session, spread over both partitions, and
/// returns those acknowledged among the first `answers_read` answers.
async fn produce_through_session(broker: &MemoryBroker, count: u64, answers_read: u64) -> Acked {
    let (commands, mut events) = broker.connect();
    let mut sent = BTreeMap::new();
    for id in 0..count {
        let partition = u32::from(id % 3 == 0);
        let payload = format!("p{id}");
        sent.insert(id, (partition, payload.clone()));
        commands
            .send(BrokerCommand::Produce(ProduceRequest {
                produce: ProduceId(id),
                topic: "t".into(),
                partition,
                key: bytes("k"),
                payload: Bytes::from(payload),
                headers: Vec::new(),
            }))
            .await
            .unwrap();
    }
    let mut acked = Acked::new();
    let mut answers = 0;
    while answers < answers_read {
        let event = timeout(HANG_GUARD, events.recv()).await.unwrap().unwrap();
        if let BrokerEvent::Produced { produce, result } = event {
            answers += 1;
            if let Ok(offset) = result {
                let (partition, payload) = sent[&produce.0].clone();
                acked.entry(partition).or_default().push((offset, payload));
            }
        }
    }
    acked
}

/// Every acknowledged record is in the recovered log once, at its offset; the
/// recovered offsets are dense. Returns what is wrong.
fn check_recovered(broker: &MemoryBroker, acked: &Acked) -> Vec<String> {
    let mut wrong = Vec::new();
    for partition in 0..2 {
        let recovered = log(broker, partition);
        if recovered
            .iter()
            .zip(0..)
            .any(|((offset, _), expected)| *offset != expected)
        {
            wrong.push(format!("partition {partition}: offsets not dense"));
        }
        for (offset, payload) in acked.get(&partition).into_iter().flatten() {
            let found: Vec<_> = recovered.iter().filter(|(_, p)| p == payload).collect();
            if found != [&(*offset, payload.clone())] {
                wrong.push(format!(
                    "partition {partition}: acked {payload} at {offset}, recovered {found:?}"
                ));
            }
        }
    }
    wrong
}

/// Produces through a session, loses power at a random point with a random
/// torn tail on every file, restarts, and checks the acknowledged records.
async fn power_loss_run(seed: u64, ignore_syncs: bool) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let disk = SimulatedDisk::new();
    if ignore_syncs {
        disk.ignore_syncs();
    }
    let config = config(Path::new("/data"), FsyncPolicy::Always);
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    let before = epochs(&broker);
    let count = rng.random_range(1..200);
    let answers_read = rng.random_range(0..=count);
    let acked = produce_through_session(&broker, count, answers_read).await;
    // The power goes now, whatever the broker was doing.
    let mut torn = StdRng::seed_from_u64(seed ^ 0x5eed);
    disk.power_loss(|_, unsynced| torn.random_range(0..=unsynced));
    drop(broker);
    let restarted = MemoryBroker::with_storage(config, Arc::new(disk)).unwrap();
    let mut wrong = check_recovered(&restarted, &acked);
    if epochs(&restarted) != before {
        wrong.push("epochs changed".into());
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fsync_always_every_acknowledged_produce_survives_power_loss() {
    for seed in 0..40 {
        let wrong = power_loss_run(seed, false).await;
        assert!(wrong.is_empty(), "seed {seed}: {wrong:?}");
    }
}

/// The check above would catch a log that acknowledges before its data is
/// synced: with the disk ignoring syncs (what skipping fsync leaves), acknowledged
/// records are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_power_loss_check_catches_a_log_whose_syncs_do_nothing() {
    let mut caught = 0;
    for seed in 0..40 {
        if !power_loss_run(seed, true).await.is_empty() {
            caught += 1;
        }
    }
    assert!(caught > 20, "caught only {caught} of 40");
}

#[test]
fn a_failed_append_is_refused_not_acknowledged() {
    let disk = SimulatedDisk::new();
    let broker = MemoryBroker::with_storage(
        config(Path::new("/data"), FsyncPolicy::Always),
        Arc::new(disk.clone()),
    )
    .unwrap();
    // The partition's directory vanishes under the broker.
    disk.remove_dir_all(Path::new("/data/topics/t/0")).unwrap();
    let refused = broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new());
    assert!(
        matches!(refused, Err(BrokerError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        broker.produce("t", 1, bytes("k"), bytes("v"), Vec::new()),
        Ok(0)
    );
    // The file is back, but whatever the failed write left at its end would cut
    // off later records at recovery: the partition stays refused until a restart.
    disk.create_dir_all(Path::new("/data/topics/t/0")).unwrap();
    disk.replace(
        Path::new("/data/topics/t/0/00000000000000000000.log"),
        Vec::new(),
    );
    let again = broker.produce("t", 0, bytes("k"), bytes("v"), Vec::new());
    assert!(
        matches!(again, Err(BrokerError::Unavailable(_))),
        "{again:?}"
    );
}

#[test]
fn records_older_than_the_retention_age_are_dropped_even_while_idle() {
    let disk = SimulatedDisk::new();
    let mut config = config(Path::new("/data"), FsyncPolicy::Always);
    config.retention_ms = Some(100);
    config.durable.as_mut().unwrap().segment_bytes_max = 60;
    let broker = MemoryBroker::with_storage(config, Arc::new(disk)).unwrap();
    for i in 0..6 {
        broker
            .produce("t", 0, bytes("k"), bytes(&format!("old-{i}")), Vec::new())
            .unwrap();
    }
    broker.sync().unwrap();
    assert!(broker.segment_count("t", 0).unwrap() > 1);
    // No append comes: the broker's own timer (every second) drops them, keeping
    // the newest, as every retention does.
    let deadline = std::time::Instant::now() + HANG_GUARD;
    while log(&broker, 0).len() > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(log(&broker, 0), [(5, "old-5".to_owned())]);
    assert_eq!(
        broker.segment_count("t", 0),
        Some(1),
        "their segments are deleted"
    );
    assert_eq!(
        broker.produce("t", 0, bytes("k"), bytes("new"), Vec::new()),
        Ok(6)
    );
}

#[test]
fn an_unreadable_topic_file_refuses_the_start_instead_of_losing_the_topic() {
    let disk = SimulatedDisk::new();
    let config = config(Path::new("/data"), FsyncPolicy::Always);
    let broker = MemoryBroker::with_storage(config.clone(), Arc::new(disk.clone())).unwrap();
    broker
        .produce("t", 0, bytes("k"), bytes("kept"), Vec::new())
        .unwrap();
    broker.sync().unwrap();
    drop(broker);
    disk.replace(
        Path::new("/data/topics/t/topic.json"),
        b"{not json".to_vec(),
    );
    let err = MemoryBroker::with_storage(config, Arc::new(disk.clone())).unwrap_err();
    assert!(
        err.to_string().contains("topic.json is unreadable"),
        "{err}"
    );
    let segment = Path::new("/data/topics/t/0/00000000000000000000.log");
    assert!(
        !disk.contents(segment).unwrap().is_empty(),
        "the records are still there"
    );
}
