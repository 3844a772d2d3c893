//! The load: many WebSocket connections to one system, subscribers counting what
//! they receive and how late, publishers sending timestamped payloads at a fixed
//! total rate. Connections spread over 127.0.0.2–127.0.0.251 as source addresses,
//! so one machine can open tens of thousands without running out of ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::wire::Wire;

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Latencies are recorded in microseconds, up to a minute.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Opens connection number `index` to `url`.
pub async fn connect(url: &str, wire: &dyn Wire, index: usize) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    if let Some(subprotocol) = wire.subprotocol() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(subprotocol),
        );
    }
    let host = request
        .uri()
        .host()
        .ok_or_else(|| anyhow!("no host in {url}"))?;
    let port = request.uri().port_u16().unwrap_or(80);
    let server = SocketAddr::new(host.parse()?, port);
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (index % 250) as u8));
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await.context("TCP connect")?;
    stream.set_nodelay(true)?;
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(stream), None)
            .await
            .context("WebSocket handshake")?;
    for hello in wire.hello() {
        socket.send(Message::binary(hello)).await?;
    }
    Ok(socket)
}

/// Microseconds since `origin`, the clock every payload's timestamp uses.
pub fn micros_since(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

/// A payload of `bytes` bytes (at least 8) starting with the send time.
pub fn payload(origin: Instant, bytes: usize) -> Vec<u8> {
    let mut payload = vec![b'x'; bytes.max(8)];
    payload[..8].copy_from_slice(&micros_since(origin).to_be_bytes());
    payload
}

/// What a subscriber measured.
pub struct SubscriberReport {
    pub deliveries: u64,
    pub latency_us: Histogram<u64>,
}

/// Shared between the harness and all subscribers of a run.
pub struct Window {
    pub origin: Instant,
    /// Deliveries counted so far, by every subscriber.
    pub deliveries: AtomicU64,
    /// Only messages sent at or after this (µs since `origin`) are measured.
    pub measure_from_us: AtomicU64,
}

/// A subscriber: subscribes to `subject`, says so on `ready`, then reads until
/// `stop`, timing every payload sent inside the measurement window.
pub async fn subscriber(
    mut socket: Socket,
    wire: Arc<dyn Wire>,
    subject: String,
    window: Arc<Window>,
    ready: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SubscriberReport> {
    socket
        .send(Message::binary(wire.subscribe(&subject, 1)))
        .await?;
    let mut partial = Vec::new();
    let mut latency_us = new_histogram();
    let mut deliveries = 0;
    let mut confirmed = false;
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = stop.changed() => break,
        };
        let data = match message {
            Some(Ok(Message::Binary(data))) => data,
            Some(Ok(Message::Text(text))) => text.as_bytes().to_vec().into(),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => return Err(anyhow!("the server closed the connection")),
        };
        let received = wire.receive(&data, &mut partial);
        for reply in received.replies {
            socket.send(Message::binary(reply)).await?;
        }
        if received.confirmed > 0 && !confirmed {
            confirmed = true;
            let _ = ready.send(()).await;
        }
        let now = micros_since(window.origin);
        let from = window.measure_from_us.load(Ordering::Relaxed);
        for payload in received.payloads {
            let Some(stamp) = payload.get(..8) else {
                continue;
            };
            let sent = u64::from_be_bytes(stamp.try_into().unwrap_or([0; 8]));
            if sent >= from && from > 0 {
                deliveries += 1;
                window.deliveries.fetch_add(1, Ordering::Relaxed);
                latency_us.saturating_record(now.saturating_sub(sent).max(1));
            }
        }
    }
    Ok(SubscriberReport {
        deliveries,
        latency_us,
    })
}

/// A publisher: sends `rate_per_s` payloads a second, round robin over
/// `subjects`, until `stop`; answers (acks) are read and dropped.
pub async fn publisher(
    socket: Socket,
    wire: Arc<dyn Wire>,
    subjects: Vec<String>,
    rate_per_s: f64,
    payload_bytes: usize,
    origin: Instant,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    let (mut sink, mut stream) = socket.split();
    let draining = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
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
        while sent < due {
            let subject = &subjects[next_subject % subjects.len()];
            next_subject += 1;
            sent += 1;
            let frame = wire.publish(subject, &payload(origin, payload_bytes), sent);
            sink.feed(Message::binary(frame)).await?;
        }
        sink.flush().await?;
    }
    draining.abort();
    Ok(sent)
}
