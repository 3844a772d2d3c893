//! The soak's load, all through the Rust SDK: apps that connect, subscribe, drop
//! their connection and resume, stall, and leave; publishers whose acks go in the
//! ledger; witnesses that hold every subject for the whole run; and sockets that
//! open and never finish the handshake, for the gateway to time out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_client::{Client, ClientConfig, Event, Events, PublishOptions, SyncStatus};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};

use super::gateway::TOPIC;
use super::ledger::Ledger;

/// Counts of what the load did, for the summary.
#[derive(Debug, Default)]
pub struct ChurnCounts {
    pub connects: AtomicU64,
    pub connect_errors: AtomicU64,
    pub closes: AtomicU64,
    pub kills: AtomicU64,
    pub stalls: AtomicU64,
    pub messages: AtomicU64,
    pub publishes: AtomicU64,
    pub publish_errors: AtomicU64,
    pub handshake_timeouts: AtomicU64,
}

impl ChurnCounts {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The subject of number `n`.
pub fn subject(n: usize) -> String {
    format!("/{TOPIC}/s{n}")
}

fn client_config(url: &str) -> ClientConfig {
    ClientConfig {
        backoff_initial_ms: 100,
        backoff_max_ms: 2_000,
        request_timeout_ms: 10_000,
        // Small, so a stalled app backs up into the gateway's queue quickly.
        events_queue_max: 256,
        ..ClientConfig::with_servers([url.to_owned()])
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// Reads events until `until`; `on_event` sees each.
async fn drain_until(events: &mut Events, until: Instant, mut on_event: impl FnMut(Event)) {
    while let Ok(Some(event)) = tokio::time::timeout_at(until, events.next()).await {
        on_event(event);
    }
}

/// One app, over and over: connects, subscribes to 1–3 subjects, lives 5–40 s
/// reading its messages, and in that life may lose its connection (and resume)
/// or stall (stop reading for 10 s); then it closes.
pub async fn app(
    url: String,
    subjects: usize,
    seed: u64,
    counts: Arc<ChurnCounts>,
    stop: watch::Receiver<bool>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    // Spread the first connects over a few seconds.
    sleep(Duration::from_millis(rng.random_range(0..5_000))).await;
    while !stopped(&stop) {
        let (client, mut events) = match Client::connect(client_config(&url)).await {
            Ok(connected) => connected,
            Err(_) => {
                ChurnCounts::add(&counts.connect_errors);
                sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        ChurnCounts::add(&counts.connects);
        let mine: Vec<String> = (0..rng.random_range(1..=3))
            .map(|_| subject(rng.random_range(0..subjects)))
            .collect();
        let mine: Vec<&str> = mine.iter().map(String::as_str).collect();
        // Answers travel with messages: read while the subscribe waits.
        let subscribing = client.subscribe(&mine);
        tokio::pin!(subscribing);
        loop {
            tokio::select! {
                _ = &mut subscribing => break,
                event = events.next() => if event.is_none() { break },
            }
        }
        let life = Duration::from_millis(rng.random_range(5_000..40_000));
        let end = Instant::now() + life;
        let messages = |event: Event| {
            if matches!(event, Event::Message(_)) {
                ChurnCounts::add(&counts.messages);
            }
        };
        match rng.random_range(0..10) {
            // Loses its connection halfway, and resumes.
            0..3 => {
                drain_until(&mut events, Instant::now() + life / 2, messages).await;
                client.kill_connection().await;
                ChurnCounts::add(&counts.kills);
            }
            // Stops reading for 10 s: the gateway's queue for it fills.
            3 => {
                sleep(Duration::from_secs(10)).await;
                ChurnCounts::add(&counts.stalls);
            }
            _ => {}
        }
        drain_until(&mut events, end, messages).await;
        client.close().await;
        ChurnCounts::add(&counts.closes);
    }
}

/// Publishes `rate_per_s` messages a second over random subjects until stopped,
/// each in its own task; acks go in the ledger.
pub async fn publisher(
    url: String,
    subjects: usize,
    rate_per_s: f64,
    seed: u64,
    counts: Arc<ChurnCounts>,
    ledger: Arc<Ledger>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (client, mut events) = Client::connect(client_config(&url)).await?;
    // Publishers read nothing they need; their events are dropped.
    tokio::spawn(async move { while events.next().await.is_some() {} });
    let every = Duration::from_secs_f64(1.0 / rate_per_s.max(0.001));
    let mut tick = tokio::time::interval(every);
    let mut n = 0u64;
    while !stopped(&stop) {
        tick.tick().await;
        n += 1;
        let subject = subject(rng.random_range(0..subjects));
        let payload = Bytes::from(format!("{seed}-{n}-{}", "x".repeat(200)));
        let (client, counts, ledger) = (client.clone(), counts.clone(), ledger.clone());
        tokio::spawn(async move {
            ChurnCounts::add(&counts.publishes);
            match client
                .publish(&subject, payload, PublishOptions::default())
                .await
            {
                Ok(ack) => ledger.acked((subject, ack.epoch.to_string(), ack.seq)),
                Err(_) => ChurnCounts::add(&counts.publish_errors),
            }
        });
    }
    client.close().await;
    Ok(())
}

/// A witness: subscribed to every subject for the whole run, noting each
/// message in the ledger; every 20–60 s its connection drops and it resumes.
/// Runs until `done` (after the publishers stopped and the last messages came).
pub async fn witness(
    url: String,
    subjects: usize,
    index: usize,
    seed: u64,
    ledger: Arc<Ledger>,
    done: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (client, mut events) = Client::connect(client_config(&url)).await?;
    let all: Vec<String> = (0..subjects).map(subject).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let subscribing = client.subscribe(&all);
    tokio::pin!(subscribing);
    let note = |event: Event| match event {
        Event::Message(message) => ledger.seen(
            index,
            (
                message.subject.to_string(),
                message.epoch.to_string(),
                message.seq,
            ),
        ),
        Event::Status {
            subject,
            status: SyncStatus::Resync,
        } => ledger.resynced(index, &subject),
        _ => {}
    };
    loop {
        tokio::select! {
            outcome = &mut subscribing => { outcome?; break }
            event = events.next() => match event { Some(event) => note(event), None => anyhow::bail!("witness closed") },
        }
    }
    while !stopped(&done) {
        let next_kill = Instant::now() + Duration::from_secs(rng.random_range(20..60));
        drain_until(&mut events, next_kill, note).await;
        if !stopped(&done) {
            client.kill_connection().await;
        }
    }
    client.close().await;
    // What was queued before the close still counts.
    while let Some(event) = events.next().await {
        note(event);
    }
    Ok(())
}

/// Keeps `count` sockets open that never send a byte: the gateway must close
/// each after its handshake timeout, and its file descriptor must go with it.
pub async fn idle_sockets(
    addr: std::net::SocketAddr,
    count: usize,
    counts: Arc<ChurnCounts>,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let (counts, stop) = (counts.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stopped(&stop) {
                let Ok(mut socket) = TcpStream::connect(addr).await else {
                    sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let mut buffer = [0u8; 64];
                // Closed by the gateway (read 0 or reset) within its timeout.
                if let Ok(Ok(0) | Err(_)) =
                    timeout(Duration::from_secs(60), socket.read(&mut buffer)).await
                {
                    ChurnCounts::add(&counts.handshake_timeouts);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}
