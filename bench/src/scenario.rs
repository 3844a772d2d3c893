//! The scenarios. Each starts from a freshly started system, so one run's
//! connections and memory never count in the next.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::conn::Conn;
use crate::history;
use crate::kafka_source;
use crate::load::{self, new_histogram, Progress, Start, Window};
use crate::proc_stats::{self, ProcSample};
use crate::prometheus_text;
use crate::resume_check::Violations;
use crate::system::{Running, SystemKind};
use crate::wire::Ack;

/// Handshakes in flight at once while connecting subscribers (a storm is the
/// exception: it opens everything at once).
const CONNECTS_IN_FLIGHT_MAX: usize = 256;
/// Publisher connections sharing the publish rate.
const PUBLISHERS: usize = 2;
/// Messages published to every subject before a storm, for its clients to resume
/// from. Below the bench gateway's `message_cache_messages_per_subject_max` (16):
/// a storm's resumes are served from the cache, as after a short outage.
const STORM_HISTORY: u64 = 12;
/// How long a storm's clients may take to receive the message published after it.
const STORM_LIVE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// N subscribers spread over S subjects; messages published at a fixed total rate.
    Fanout,
    /// One subject, N subscribers.
    Broadcast,
    /// N clients connect, subscribe and resume at once (protocols without resume
    /// only subscribe).
    Storm,
    /// N subscribed idle connections: memory per connection.
    Idle,
    /// Acknowledged publishes per second and ack latency with the embedded log in
    /// memory and on disk with each fsync policy (Sluice only).
    Durability,
    /// W5, Kafka-sourced fan-out: a back-end producer (rdkafka) writes records
    /// across S keys of a topic at a fixed rate into librdkafka's mock cluster;
    /// N subscribers spread over the S subjects receive them through a gateway on
    /// Kafka (`sluice-kafka` only).
    Kafka,
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub system: SystemKind,
    pub scenario: ScenarioKind,
    pub connections: usize,
    pub subjects: usize,
    pub publish_rate_per_s: f64,
    pub payload_bytes: usize,
    pub offered_deliveries_per_s: f64,
    pub deliveries_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_p999_ms: f64,
    pub latency_max_ms: f64,
    /// CPU of the system's process over the measurement, in percent of one core.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    /// RSS growth from the idle process to the loaded one, per connection.
    pub rss_per_connection_bytes: f64,
    /// Time to open and subscribe every connection (and, in a storm, to resume).
    pub connect_s: f64,
    /// Clients that resumed (a storm against a system with resume).
    pub resumed: usize,
    /// Messages the resumed clients received: recovered, then the one live message.
    pub resumed_messages: u64,
    /// Resume points the system refused (`resync`).
    pub resyncs: u64,
    /// Gaps and duplicates in what the resumed clients received.
    pub violations: Violations,
    /// On Kafka: the gateway's own share of the latency (the consumer handing the
    /// record over → written to the socket), from its `sluice_gateway_latency_seconds`
    /// over the window, interpolated within the buckets as Prometheus does.
    pub gateway_share_p50_ms: Option<f64>,
    pub gateway_share_p99_ms: Option<f64>,
    pub gateway_share_p999_ms: Option<f64>,
    /// On Kafka: bytes of records the gateway consumed per second over the window
    /// (`sluice_kafka_consumed_bytes_total`: keys, values and headers).
    pub kafka_consumed_bytes_per_s: Option<f64>,
    /// On Kafka: what the gateway's snapshot and message caches hold at the end of
    /// the window, in bytes (the memory that follows what it reads).
    pub kafka_cache_bytes: Option<f64>,
    /// Latency CDF points: (latency ms, fraction at or below).
    #[serde(skip)]
    pub cdf: Vec<(f64, f64)>,
}

/// The load of one run.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub subjects: usize,
    pub publish_rate_per_s: f64,
    pub payload_bytes: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// W5: subscribers take only the keys on the first `watched` of the topic's
    /// `partitions` (where librdkafka's default partitioner puts them), as clients
    /// of one gateway watching part of a topic. `None`: every key.
    pub watched_partitions: Option<WatchedPartitions>,
}

/// See [`Load::watched_partitions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedPartitions {
    pub partitions: u32,
    pub watched: u32,
}

impl Load {
    /// The key indexes subscribers take, in turn.
    fn subscribed_keys(&self) -> Vec<usize> {
        let keys = 0..self.subjects.max(1);
        let Some(w) = self.watched_partitions else {
            return keys.collect();
        };
        let consistent = sluice_core::partitioner::Partitioner::Consistent;
        keys.filter(|i| {
            consistent.partition(Some(format!("s{i}").as_bytes()), w.partitions) < w.watched
        })
        .collect()
    }
}

/// Subscribers connected and subscribed, with what it took.
struct Connected {
    stop: watch::Sender<bool>,
    subscribers: Vec<tokio::task::JoinHandle<anyhow::Result<load::SubscriberReport>>>,
    /// Further progress (resumed clients reaching the live message).
    progress: mpsc::Receiver<Progress>,
    connect_s: f64,
}

/// Connects subscriber `index` for every entry of `starts`, subscribing as it says.
async fn connect_subscribers(
    system: &Running,
    load: Load,
    in_flight_max: usize,
    starts: Vec<Start>,
    window: &Arc<Window>,
) -> anyhow::Result<Connected> {
    let (stop, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready) = mpsc::channel(1024);
    let gate = Arc::new(Semaphore::new(in_flight_max));
    let started = Instant::now();
    let mut subscribers = Vec::with_capacity(load.connections);
    let keys = load.subscribed_keys();
    anyhow::ensure!(!keys.is_empty(), "no key is on the watched partitions");
    for (index, start) in starts.into_iter().enumerate() {
        let target = system.target.clone();
        let subject = subject(keys[index % keys.len()]);
        let (window, ready_tx, stop_rx, gate) = (
            Arc::clone(window),
            ready_tx.clone(),
            stop_rx.clone(),
            Arc::clone(&gate),
        );
        subscribers.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let conn = Conn::open(&target, index).await?;
            drop(permit);
            let wire = Arc::clone(&target.wire);
            load::subscriber(conn, wire, subject, start, window, ready_tx, stop_rx).await
        }));
    }
    drop(ready_tx);
    let mut confirmed = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    while confirmed < load.connections {
        tokio::select! {
            got = ready.recv() => match got {
                Some(Progress::Started) => confirmed += 1,
                Some(Progress::Reached) => {}
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    if confirmed < load.connections {
        let failed = subscribers.iter().filter(|s| s.is_finished()).count();
        // The first failure's reason; the task is finished, so this does not wait.
        let mut first = String::from("none ended");
        if let Some(task) = subscribers.into_iter().find(|s| s.is_finished()) {
            first = match task.await {
                Ok(Err(err)) => format!("{err:#}"),
                Ok(Ok(_)) => "ended without error".into(),
                Err(err) => err.to_string(),
            };
        }
        bail!(
            "only {confirmed} of {} subscribers were confirmed ({failed} connections failed; the first: {first})",
            load.connections
        );
    }
    Ok(Connected {
        stop,
        subscribers,
        progress: ready,
        connect_s: started.elapsed().as_secs_f64(),
    })
}

fn subject(index: usize) -> String {
    format!("/bench/s{index}")
}

/// A storm's resumes: subscriber `index` resumes after message
/// `index / subjects % STORM_HISTORY` of its subject, so some have nothing to
/// recover and others all but the first message; all are checked through the
/// message published after the storm (number `STORM_HISTORY`).
fn resume_starts(connections: usize, acks: &[Vec<Ack>]) -> Vec<Start> {
    (0..connections)
        .map(|index| {
            let after = (index / acks.len()) as u64 % STORM_HISTORY;
            Start::Resume {
                from: acks[index % acks.len()][after as usize].clone(),
                after,
                through: STORM_HISTORY,
            }
        })
        .collect()
}

/// Waits until `count` resumed subscribers have reported reaching the live message,
/// or the timeout; the check counts any that did not.
async fn await_reached(progress: &mut mpsc::Receiver<Progress>, count: usize) {
    let deadline = tokio::time::Instant::now() + STORM_LIVE_TIMEOUT;
    let mut reached = 0;
    while reached < count {
        match tokio::time::timeout_at(deadline, progress.recv()).await {
            Ok(Some(Progress::Reached)) => reached += 1,
            Ok(Some(Progress::Started)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}

/// For a system on Kafka: the buckets of the gateway's own latency share, the
/// bytes it has consumed, and the bytes its caches hold.
async fn kafka_scrape(system: &Running) -> Option<(Vec<(f64, f64)>, f64, f64)> {
    system.kafka_bootstrap()?;
    let text = prometheus_text::scrape(system.admin?).await.ok()?;
    let buckets = prometheus_text::buckets(
        &text,
        "sluice_gateway_latency_seconds",
        "transport=\"websocket\"",
    );
    let consumed = prometheus_text::gauge_sum(&text, "sluice_kafka_consumed_bytes_total");
    let cached = ["sluice_snapshot_cache_bytes", "sluice_message_cache_bytes"]
        .iter()
        .map(|name| prometheus_text::gauge_sum(&text, name))
        .sum();
    Some((buckets, consumed, cached))
}

fn sample(system: &Running) -> anyhow::Result<ProcSample> {
    proc_stats::sample(system.pid).with_context(|| format!("{} exited", system.kind.name()))
}

/// Runs `scenario` with `load` against `system`, freshly started.
pub async fn run(
    scenario: ScenarioKind,
    system: &Running,
    load: Load,
) -> anyhow::Result<RunResult> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let publishing = matches!(
        scenario,
        ScenarioKind::Fanout | ScenarioKind::Broadcast | ScenarioKind::Kafka
    );
    let window = Arc::new(Window::new(publishing));
    let wire = Arc::clone(&system.target.wire);
    let subjects: Vec<String> = (0..load.subjects.max(1)).map(subject).collect();
    // A storm resumes from history published first, by a connection kept for the
    // message published after it.
    let mut history_publisher = None;
    let starts = if scenario == ScenarioKind::Storm && wire.resumes() {
        let mut conn = Conn::open(&system.target, load.connections + PUBLISHERS).await?;
        let acks = history::publish_rounds(
            &mut conn,
            wire.as_ref(),
            &subjects,
            0..STORM_HISTORY,
            load.payload_bytes,
            window.origin,
        )
        .await
        .context("publishing the storm's history")?;
        history_publisher = Some(conn);
        resume_starts(load.connections, &acks)
    } else {
        vec![Start::Plain; load.connections]
    };
    // After the history, so the messages it cached are not counted per connection.
    let idle = sample(system)?;
    let in_flight = match scenario {
        ScenarioKind::Storm => load.connections,
        _ => CONNECTS_IN_FLIGHT_MAX,
    };
    let mut connected = connect_subscribers(system, load, in_flight, starts, &window).await?;
    if let Some(mut conn) = history_publisher {
        history::publish_rounds(
            &mut conn,
            wire.as_ref(),
            &subjects,
            STORM_HISTORY..STORM_HISTORY + 1,
            load.payload_bytes,
            window.origin,
        )
        .await
        .context("publishing after the storm")?;
        await_reached(&mut connected.progress, load.connections).await;
    }
    let (cpu_percent, measured_s);
    let mut gateway_share = [None; 3];
    let (mut kafka_consumed_bytes_per_s, mut kafka_cache_bytes) = (None, None);
    if publishing {
        let (stop_publishers, stop_rx) = watch::channel(false);
        let mut publishers = Vec::new();
        let mut producer = None;
        if scenario == ScenarioKind::Kafka {
            let bootstrap = system
                .kafka_bootstrap()
                .context("W5 needs a system on Kafka (sluice-kafka)")?;
            producer = Some(kafka_source::produce(
                bootstrap,
                load.subjects,
                load.publish_rate_per_s,
                load.payload_bytes,
                window.origin,
                stop_rx.clone(),
            )?);
        }
        for p in (0..PUBLISHERS).filter(|_| producer.is_none()) {
            let conn = Conn::open(&system.target, load.connections + p).await?;
            publishers.push(tokio::spawn(load::publisher(
                conn,
                Arc::clone(&system.target.wire),
                subjects.clone(),
                load.publish_rate_per_s / PUBLISHERS as f64,
                load.payload_bytes,
                window.origin,
                stop_rx.clone(),
            )));
        }
        tokio::time::sleep(load.warmup).await;
        let from = load::micros_since(window.origin);
        window.measure_from_us.store(from, Ordering::Relaxed);
        let before = sample(system)?;
        let share_before = kafka_scrape(system).await;
        let start = Instant::now();
        tokio::time::sleep(load.measure).await;
        measured_s = start.elapsed().as_secs_f64();
        let until = load::micros_since(window.origin);
        window.measure_until_us.store(until, Ordering::Relaxed);
        let after = sample(system)?;
        let share_after = kafka_scrape(system).await;
        cpu_percent = 100.0 * (after.cpu_s - before.cpu_s) / measured_s;
        let _ = stop_publishers.send(true);
        for publisher in publishers {
            publisher.await??;
        }
        if let Some(producer) = producer {
            producer
                .join()
                .map_err(|_| anyhow::anyhow!("the W5 producer panicked"))??;
        }
        if let (Some((before, consumed_before, _)), Some((after, consumed_after, cached))) =
            (share_before, share_after)
        {
            gateway_share = [0.5, 0.99, 0.999]
                .map(|q| prometheus_text::quantile_between(&before, &after, q).map(|s| s * 1000.0));
            kafka_consumed_bytes_per_s = Some((consumed_after - consumed_before) / measured_s);
            kafka_cache_bytes = Some(cached);
        }
        // Let what was sent in the window arrive.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        measured_s = 0.0;
        cpu_percent = 0.0;
    }
    let loaded = sample(system)?;
    let _ = connected.stop.send(true);
    let mut latency_us = new_histogram();
    let mut deliveries = 0;
    let (mut resumed, mut resumed_messages, mut resyncs) = (0, 0, 0);
    let mut violations = Violations::default();
    for subscriber in connected.subscribers {
        let report = subscriber.await??;
        deliveries += report.deliveries;
        if let Some(measured) = &report.latency_us {
            latency_us.add(measured)?;
        }
        resyncs += report.resynced;
        if let Some(check) = report.check {
            resumed += 1;
            resumed_messages += check.received;
            let wrong = check.finish(STORM_HISTORY);
            if wrong.any() && !violations.any() {
                eprintln!(
                    "first wrong resume: {} resumed after {}, received {:?}",
                    report.subject, check.after, check.numbers
                );
            }
            violations.add(wrong);
        }
    }
    let fanout = load.connections as f64 / load.subjects.max(1) as f64;
    let ms = |q: f64| latency_us.value_at_quantile(q) as f64 / 1000.0;
    let cdf = (0..=200)
        .map(|i| {
            let q = 1.0 - 10f64.powf(-(i as f64) / 50.0); // dense near the tail
            (ms(q), q)
        })
        .collect();
    Ok(RunResult {
        system: system.kind,
        scenario,
        connections: load.connections,
        subjects: load.subjects,
        publish_rate_per_s: if publishing {
            load.publish_rate_per_s
        } else {
            0.0
        },
        payload_bytes: load.payload_bytes,
        offered_deliveries_per_s: if publishing {
            load.publish_rate_per_s * fanout
        } else {
            0.0
        },
        deliveries_per_s: if measured_s > 0.0 {
            deliveries as f64 / measured_s
        } else {
            0.0
        },
        latency_p50_ms: ms(0.5),
        latency_p99_ms: ms(0.99),
        latency_p999_ms: ms(0.999),
        latency_max_ms: latency_us.max() as f64 / 1000.0,
        cpu_percent,
        rss_bytes: loaded.rss_bytes,
        rss_per_connection_bytes: loaded.rss_bytes.saturating_sub(idle.rss_bytes) as f64
            / load.connections.max(1) as f64,
        connect_s: connected.connect_s,
        gateway_share_p50_ms: gateway_share[0],
        gateway_share_p99_ms: gateway_share[1],
        gateway_share_p999_ms: gateway_share[2],
        kafka_consumed_bytes_per_s,
        kafka_cache_bytes,
        resumed,
        resumed_messages,
        resyncs,
        violations,
        cdf,
    })
}
