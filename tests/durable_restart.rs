//! The embedded broker's log on disk, with real `sluice serve` processes: a gateway
//! killed with SIGKILL while publishes are being acknowledged comes back with every
//! acknowledged publish exactly once, in order, under the same epochs, so clients
//! resume with no gap; a damaged segment tail is cut, with a log line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::http::metric;
use common::process::GatewayProcess;
use common::RawClient;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// Small segments, so the log rolls files while the test runs.
const CONFIG: &str = r#"
[gateway]
exposed_topics = ["demo"]
publish_rate_per_s = 0
message_cache_messages_per_subject_max = 4
[broker.embedded]
segment_bytes_max = 4096
"#;

const SUBJECTS: u64 = 4;

fn subject(n: u64) -> String {
    format!("/demo/s{}", n % SUBJECTS)
}

/// An acknowledged publish.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    subject: String,
    data: String,
    epoch: String,
    seq: u64,
}

async fn publish(client: &mut RawClient, id: u64, subject: &str, data: &str) -> Acked {
    let ack = client
        .request(&json!({"op":"publish","id":id,"subject":subject,"data":data}).to_string())
        .await;
    assert_eq!(ack["op"], "ack", "{ack}");
    Acked {
        subject: subject.to_owned(),
        data: data.to_owned(),
        epoch: ack["epoch"].as_str().unwrap().to_owned(),
        seq: ack["seq"].as_u64().unwrap(),
    }
}

/// Publishes `data-{round}-{n}` to the subjects, up to 32 unacknowledged at a
/// time, until the connection breaks; returns what was acknowledged.
async fn publish_until_the_connection_breaks(
    url: &str,
    round: u64,
    first_ack: tokio::sync::oneshot::Sender<()>,
) -> Vec<Acked> {
    let mut first_ack = Some(first_ack);
    let (mut sink, mut source) = RawClient::connect(url, "sluice.v1.json").await.split();
    let in_flight = Arc::new(Semaphore::new(32));
    let sent: Arc<Mutex<BTreeMap<u64, (String, String)>>> = Arc::default();
    let sender = {
        let (in_flight, sent) = (in_flight.clone(), sent.clone());
        tokio::spawn(async move {
            for id in 1.. {
                let Ok(permit) = in_flight.acquire().await else {
                    break;
                };
                permit.forget();
                let (subject, data) = (subject(id), format!("data-{round}-{id}"));
                sent.lock()
                    .await
                    .insert(id, (subject.clone(), data.clone()));
                let frame = json!({"op":"publish","id":id,"subject":subject,"data":data});
                if sink
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let mut acked = Vec::new();
    while let Some(Ok(message)) = source.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["op"] != "ack" {
            continue;
        }
        let id = frame["id"].as_u64().unwrap();
        let (subject, data) = sent.lock().await[&id].clone();
        acked.push(Acked {
            subject,
            data,
            epoch: frame["epoch"].as_str().unwrap().to_owned(),
            seq: frame["seq"].as_u64().unwrap(),
        });
        if let Some(first) = first_ack.take() {
            let _ = first.send(());
        }
        in_flight.add_permits(1);
    }
    in_flight.close();
    sender.abort();
    acked
}

/// Everything after `from` on its subject, read back by resuming from it: the
/// messages up to the `sync` that ends the resume. Fails on `resync`.
async fn read_after(url: &str, from: &Acked) -> Vec<(u64, String)> {
    let mut reader = RawClient::connect(url, "sluice.v1.json").await;
    let resume = json!({"op":"subscribe","id":1,"subjects":[from.subject],
        "resume":{from.subject.clone():{"epoch":from.epoch,"seq":from.seq}}});
    assert_eq!(reader.request(&resume.to_string()).await["op"], "ok");
    let mut got = Vec::new();
    loop {
        let frame = reader.recv().await;
        if frame["op"] == "status" {
            assert_eq!(frame["status"], "sync", "resumed with no gap: {frame}");
            return got;
        }
        assert_eq!(frame["op"], "message", "{frame}");
        assert_eq!(
            frame["epoch"],
            from.epoch.as_str(),
            "same epoch after restart"
        );
        got.push((
            frame["seq"].as_u64().unwrap(),
            frame["data"].as_str().unwrap().to_owned(),
        ));
    }
}

/// An empty working directory for this test's gateways.
fn fresh_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-durable-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path) -> GatewayProcess {
    GatewayProcess::start_in(dir, Some(CONFIG), &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_write_keeps_every_acknowledged_publish_exactly_once() {
    let dir = fresh_dir("kill");
    let mut gateway = start(&dir);
    // One marker per subject to resume from, acknowledged before the load.
    let mut client = RawClient::connect(&gateway.url, "sluice.v1.json").await;
    let mut markers = Vec::new();
    for n in 0..SUBJECTS {
        markers.push(publish(&mut client, n + 1, &subject(n), "marker").await);
    }
    drop(client);

    let mut acked: Vec<Acked> = Vec::new();
    for (round, kill_after_ms) in [(1u64, 150u64), (2, 400), (3, 50)] {
        let (first_ack, acking) = tokio::sync::oneshot::channel();
        let publisher = tokio::spawn({
            let url = gateway.url.clone();
            async move { publish_until_the_connection_breaks(&url, round, first_ack).await }
        });
        // Killed while publishes are being written: some time after the first ack
        // (counted from it, so a slow machine does not kill before any write).
        acking.await.expect("the publisher got a first ack");
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        gateway.signal("KILL");
        let this_round = publisher.await.unwrap();
        assert!(
            !this_round.is_empty(),
            "round {round}: some publishes were acknowledged"
        );
        eprintln!(
            "round {round}: {} publishes acknowledged before the kill",
            this_round.len()
        );
        acked.extend(this_round);
        gateway.kill();
        gateway = start(&dir);
    }

    let acked_data: BTreeSet<&str> = acked.iter().map(|a| a.data.as_str()).collect();
    for marker in &markers {
        let log = read_after(&gateway.url, marker).await;
        let seqs: Vec<u64> = log.iter().map(|(seq, _)| *seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{}: in order, no duplicate",
            marker.subject
        );
        let mut seen = BTreeSet::new();
        for (_, data) in &log {
            assert!(seen.insert(data.clone()), "{data} read twice");
        }
        let expected: Vec<(u64, String)> = acked
            .iter()
            .filter(|a| a.subject == marker.subject)
            .map(|a| (a.seq, a.data.clone()))
            .collect();
        let found: Vec<(u64, String)> = log
            .iter()
            .filter(|(_, data)| acked_data.contains(data.as_str()))
            .cloned()
            .collect();
        let mut expected_in_order = expected.clone();
        expected_in_order.sort();
        assert_eq!(
            found, expected_in_order,
            "{}: every acknowledged publish, at its acknowledged position",
            marker.subject
        );
    }
    drop(gateway);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_damaged_segment_tail_is_cut_with_a_log_line_and_the_rest_is_kept() {
    let dir = fresh_dir("tail");
    let mut gateway = start(&dir);
    let mut client = RawClient::connect(&gateway.url, "sluice.v1.json").await;
    let first = publish(&mut client, 1, "/demo/tail", "first").await;
    let second = publish(&mut client, 2, "/demo/tail", "second").await;
    drop(client);
    gateway.kill();

    // Half a record at the end of the segment that holds them.
    let partition_dir = |p: &str| dir.join("sluice-data/topics/demo").join(p);
    let segment = (0..4)
        .flat_map(|p| std::fs::read_dir(partition_dir(&p.to_string())).unwrap())
        .map(|entry| entry.unwrap().path())
        .find(|path| std::fs::metadata(path).unwrap().len() > 0)
        .expect("a segment with the records");
    let whole = std::fs::metadata(&segment).unwrap().len();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 0xde, 0xad]);
    std::fs::write(&segment, bytes).unwrap();

    let gateway = start(&dir);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        whole,
        "tail cut"
    );
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    assert!(
        log.contains("truncated the segment's tail"),
        "a log line says so: {log}"
    );
    let after_first = read_after(&gateway.url, &first).await;
    assert_eq!(after_first, [(second.seq, "second".to_owned())]);
    drop(gateway);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_log_on_disk_is_in_the_metrics() {
    let dir = fresh_dir("metrics");
    let gateway = start(&dir);
    let mut client = RawClient::connect(&gateway.url, "sluice.v1.json").await;
    for id in 1..=10 {
        publish(&mut client, id, "/demo/metered", "0123456789").await;
    }
    let admin = gateway
        .admin_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let (_, body) = common::http::get(admin, "/metrics").await;
    assert_eq!(metric(&body, "sluice_log_records"), 10.0);
    // Key "metered" (7 bytes) plus payload (10 bytes) per record.
    assert_eq!(metric(&body, "sluice_log_bytes"), 170.0);
    // One segment per partition of demo, as of the exposed topics.
    assert_eq!(metric(&body, "sluice_log_segments"), 4.0);
    assert!(
        metric(&body, "sluice_log_syncs_total") >= 1.0,
        "fsync always syncs"
    );
    assert!(metric(&body, "sluice_log_sync_seconds_total") > 0.0);
    drop(gateway);
    std::fs::remove_dir_all(&dir).unwrap();
}
