//! The load: many connections (`conn.rs`) to one system, subscribers counting what
//! they receive and how late, publishers sending timestamped payloads at a fixed
//! total rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};

use crate::conn::Conn;
use crate::resume_check::SequenceCheck;
use crate::wire::{Ack, Wire};

/// Latencies are recorded in microseconds, up to a minute, to two significant
/// digits (1%): 20 KiB per subscriber. Three digits took 130 KiB, and 10,000
/// subscribers making theirs (1.3 GB for the kernel to zero) stalled the
/// generator for longer than the warm-up.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid histogram bounds")
}

/// Microseconds since `origin`, the clock every payload's timestamp uses.
pub fn micros_since(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

/// Digits of the send time at the start of every payload.
const STAMP_DIGITS: usize = 16;

/// A payload of `bytes` bytes (at least 16) starting with the send time as 16 hex
/// digits: ASCII, so it is valid as a JSON string for text protocols too.
pub fn payload(origin: Instant, bytes: usize) -> Vec<u8> {
    let mut payload = format!("{:016x}", micros_since(origin)).into_bytes();
    payload.resize(bytes.max(STAMP_DIGITS), b'x');
    payload
}

/// The send time a payload carries, in µs since the origin.
pub fn sent_micros(payload: &[u8]) -> Option<u64> {
    hex_at(payload, 0)
}

/// A [`payload`] that also carries `number`, its place in its subject's sequence
/// (16 more hex digits), so subscribers can check what they receive.
pub fn numbered_payload(origin: Instant, bytes: usize, number: u64) -> Vec<u8> {
    let mut payload = format!("{:016x}{number:016x}", micros_since(origin)).into_bytes();
    payload.resize(bytes.max(2 * STAMP_DIGITS), b'x');
    payload
}

/// The number a [`numbered_payload`] carries.
pub fn payload_number(payload: &[u8]) -> Option<u64> {
    hex_at(payload, STAMP_DIGITS)
}

fn hex_at(payload: &[u8], at: usize) -> Option<u64> {
    let digits = std::str::from_utf8(payload.get(at..at + STAMP_DIGITS)?).ok()?;
    u64::from_str_radix(digits, 16).ok()
}

/// Reads until the system names this connection's session (Pusher's socket id);
/// `None` for systems that have none.
pub async fn session(conn: &mut Conn, wire: &dyn Wire) -> anyhow::Result<Option<String>> {
    if !wire.needs_session() {
        return Ok(None);
    }
    while let Some(message) = conn.recv().await? {
        if let Some(session) = wire.session(&message) {
            return Ok(Some(session));
        }
    }
    Err(anyhow!(
        "the connection ended before the session was established"
    ))
}

/// What a subscriber measured.
pub struct SubscriberReport {
    /// Messages received inside the measurement window, whenever they were sent:
    /// the system's delivery rate. Counting only the messages sent in the window
    /// (as the latencies do) would leave out, past saturation, everything still
    /// queued when the run ends, and rank a system that queues (Sluice) below one
    /// that drops.
    pub deliveries: u64,
    /// `None` if it timed nothing: a histogram is 20 KiB (once 130), and allocating one per
    /// subscriber up front made the generator, not the system, the storm's
    /// bottleneck (zeroing 2.4 GB for 18,000 clients).
    pub latency_us: Option<Histogram<u64>>,
    /// For a resumed subscriber: what it received, checked.
    pub check: Option<SequenceCheck>,
    /// `resync`s received (a resume point refused).
    pub resynced: u64,
    pub subject: String,
}

/// How a subscriber starts its subscription.
#[derive(Debug, Clone)]
pub enum Start {
    /// A plain subscribe; started once confirmed.
    Plain,
    /// A subscribe resuming after message number `after` of the subject, written at
    /// `from`; started once the resume ends (`sync`, or `resync`). The subscriber
    /// also says when it has received every message up to number `through`.
    Resume { from: Ack, after: u64, through: u64 },
}

/// What a subscriber tells the harness as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Subscribed (and resumed, for a resume start).
    Started,
    /// Received every message up to its `Start::Resume::through`.
    Reached,
}

/// Shared between the harness and all subscribers of a run.
pub struct Window {
    pub origin: Instant,
    /// The window opens (µs since `origin`): latencies are those of the messages
    /// sent inside it, deliveries those received inside it.
    pub measure_from_us: AtomicU64,
    /// ... and closes. Publishers stop with it: one that fell behind would
    /// otherwise catch up afterwards and send more than the window offered.
    pub measure_until_us: AtomicU64,
    /// Whether this run times its messages (fan-out, broadcast): its subscribers
    /// then make their latency histogram at their first message, in the warm-up.
    pub timed: bool,
}

impl Window {
    pub fn new(timed: bool) -> Self {
        Window {
            timed,
            origin: Instant::now(),
            measure_from_us: AtomicU64::new(0),
            measure_until_us: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether `at_us` (a send or receive time) is inside the window.
    fn contains(&self, at_us: u64) -> bool {
        let from = self.measure_from_us.load(Ordering::Relaxed);
        from > 0 && at_us >= from && at_us < self.measure_until_us.load(Ordering::Relaxed)
    }
}

/// A subscriber: subscribes to `subject` as `start` says, reports its progress
/// on `ready`, then reads until `stop`, timing every payload sent inside the
/// measurement window.
pub async fn subscriber(
    mut conn: Conn,
    wire: Arc<dyn Wire>,
    subject: String,
    start: Start,
    window: Arc<Window>,
    ready: mpsc::Sender<Progress>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SubscriberReport> {
    let session = session(&mut conn, wire.as_ref()).await?;
    let (subscribe, mut check, through) = match &start {
        Start::Plain => (wire.subscribe(&subject, 1, session.as_deref()), None, 0),
        Start::Resume {
            from,
            after,
            through,
        } => (
            wire.subscribe_resuming(&subject, 1, from)
                .ok_or_else(|| anyhow!("this system's protocol has no resume"))?,
            Some(SequenceCheck::after(*after)),
            *through,
        ),
    };
    conn.send(wire.as_ref(), subscribe).await?;
    let mut partial = Vec::new();
    let mut latency_us: Option<Histogram<u64>> = None;
    let mut deliveries = 0;
    let mut resynced = 0;
    let mut started = false;
    let mut reached = false;
    loop {
        let message = tokio::select! {
            message = conn.recv() => message?,
            _ = stop.changed() => break,
        };
        let Some(data) = message else {
            return Err(anyhow!("the server closed the connection"));
        };
        let received = wire.receive(&data, &mut partial);
        for reply in received.replies {
            conn.send(wire.as_ref(), reply).await?;
        }
        resynced += received.resynced as u64;
        let starting = match check {
            None => received.confirmed > 0,
            Some(_) => received.synced + received.resynced > 0,
        };
        if starting && !started {
            started = true;
            let _ = ready.send(Progress::Started).await;
        }
        let now = micros_since(window.origin);
        if let (Some(check), true) = (check.as_mut(), received.resynced > 0) {
            // The position is void; the snapshot that may follow restarts it.
            check.resync();
        }
        for payload in received.payloads {
            if let Some(check) = check.as_mut() {
                match payload_number(&payload) {
                    Some(number) => check.receive(number),
                    None => return Err(anyhow!("a message without its number on {subject}")),
                }
                if !reached && check.reached(through) {
                    reached = true;
                    let _ = ready.send(Progress::Reached).await;
                }
            }
            let Some(sent) = sent_micros(&payload) else {
                continue;
            };
            if window.timed && latency_us.is_none() {
                // Not at the first message of the window: 2,000 subscribers making
                // (and the kernel zeroing) 130 KiB each at once stalled the window's
                // first tens of milliseconds, which were every system's p99.
                latency_us = Some(new_histogram());
            }
            if window.contains(now) {
                deliveries += 1;
            }
            if window.contains(sent) {
                latency_us
                    .get_or_insert_with(new_histogram)
                    .saturating_record(now.saturating_sub(sent).max(1));
            }
        }
    }
    Ok(SubscriberReport {
        deliveries,
        latency_us,
        check,
        resynced,
        subject,
    })
}

/// A publisher: sends `rate_per_s` payloads a second, round robin over
/// `subjects`, until `stop`; answers (acks) are read and dropped.
pub async fn publisher(
    mut conn: Conn,
    wire: Arc<dyn Wire>,
    subjects: Vec<String>,
    rate_per_s: f64,
    payload_bytes: usize,
    origin: Instant,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    // Pusher only lets a connection trigger events on channels it is subscribed to.
    if let Some(session) = session(&mut conn, wire.as_ref()).await? {
        let mut partial = Vec::new();
        for (id, subject) in subjects.iter().enumerate() {
            let subscribe = wire.subscribe(subject, id as u64, Some(&session));
            conn.send(wire.as_ref(), subscribe).await?;
        }
        let mut confirmed = 0;
        while confirmed < subjects.len() {
            match conn.recv().await? {
                Some(message) => confirmed += wire.receive(&message, &mut partial).confirmed,
                None => {
                    return Err(anyhow!(
                        "the publisher's connection ended while subscribing"
                    ))
                }
            }
        }
    }
    let (mut sink, draining) = conn.into_sink(Arc::clone(&wire));
    let tick = Duration::from_millis(5);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut next_subject = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        let due = (started.elapsed().as_secs_f64() * rate_per_s) as u64;
        // A publisher behind its rate stops with the window rather than catching up.
        while sent < due && !*stop.borrow() {
            let subject = &subjects[next_subject % subjects.len()];
            next_subject += 1;
            sent += 1;
            let publish = wire.publish(subject, &payload(origin, payload_bytes), sent);
            sink.feed(publish).await?;
        }
        sink.flush().await?;
    }
    draining.abort();
    Ok(sent)
}
