//! One QUIC connection carrying one session: the reader feeds the core with
//! length-prefixed binary frames, the writer drains it the same way.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use quinn::{Connection, Incoming, RecvStream, SendStream, VarInt, ZeroRttAccepted};
use sluice_core::close_code;
use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
use sluice_core::protocol::{binary, Encoding, Message, MessageKind, RecordOrigin, ServerFrame};
use sluice_driver::{ClientHandle, Runtime};

use crate::config::QuicConfig;
use crate::stats::Counters;
use crate::TRANSPORT;

/// Largest chunk read from the stream at once.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why a session ends: a close code and reason for the client, or none when the
/// client went away.
type Ending = Option<(u16, &'static str)>;

pub async fn run(
    incoming: Incoming,
    runtime: Runtime,
    config: QuicConfig,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let connecting = incoming.accept().map_err(io::Error::other)?;
    let open = OpenConnection::new(&counters);
    // A server's conversion always succeeds: it can read 0-RTT data at once, and
    // `handshake_done` resolves when the client's Finished has arrived.
    let (connection, handshake_done) = match connecting.into_0rtt() {
        Ok((connection, handshake_done)) => (connection, Some(handshake_done)),
        Err(connecting) => (connecting.await.map_err(io::Error::other)?, None),
    };
    // A client opens its stream with its first request; until then the connection
    // is held by the idle timeout (and `connections_max`) alone.
    let (send, recv) = connection.accept_bi().await.map_err(io::Error::other)?;
    let client = runtime.connect(Encoding::Binary);
    runtime.observer().connected(TRANSPORT);
    let ending = tokio::select! {
        ending = read(&connection, recv, &client, &config, &counters, handshake_done) => ending,
        ending = write(send, &client, &runtime, &config) => ending,
    };
    drop(client);
    runtime
        .observer()
        .disconnected(TRANSPORT, close_reason(ending));
    // Counted closed before the client can learn of it.
    drop(open);
    if let Some((code, reason)) = ending {
        connection.close(VarInt::from_u32(u32::from(code)), reason.as_bytes());
    }
    Ok(())
}

/// Counts a connection open from its handshake to its end, whatever the path.
struct OpenConnection<'a>(&'a Counters);

impl<'a> OpenConnection<'a> {
    fn new(counters: &'a Counters) -> Self {
        Counters::add(&counters.connections_accepted_total);
        counters.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(counters)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn read(
    connection: &Connection,
    mut recv: RecvStream,
    client: &ClientHandle,
    config: &QuicConfig,
    counters: &Counters,
    mut handshake_done: Option<ZeroRttAccepted>,
) -> Ending {
    let mut frames = FrameReader::new(config.frame_bytes_max);
    let mut remote = connection.remote_address();
    loop {
        let chunk = match recv.read_chunk(READ_CHUNK_BYTES, true).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return None,
            Err(err) => {
                tracing::debug!(%err, "QUIC read ended");
                return None;
            }
        };
        if connection.remote_address() != remote {
            remote = connection.remote_address();
            Counters::add(&counters.migrations_total);
            tracing::debug!(%remote, "client migrated");
        }
        frames.push(&chunk.bytes);
        loop {
            let frame = match frames.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(err) => {
                    tracing::debug!(%err, "client frame over the limit");
                    return Some((close_code::TOO_BIG, "frame too large"));
                }
            };
            // 0-RTT data can be replayed by an attacker: a publish waits until the
            // handshake proves the client is live. Order is kept, since every later
            // frame waits behind it.
            if !binary::is_replay_safe(&frame) {
                if let Some(mut done) = handshake_done.take() {
                    let complete =
                        poll_fn(|cx| Poll::Ready(Pin::new(&mut done).poll(cx).is_ready())).await;
                    if !complete {
                        Counters::add(&counters.early_frames_held_total);
                        done.await;
                    }
                }
            }
            client.receive(frame);
        }
    }
}

/// The disconnect reason as a metric label, as the WebSocket transport reports it.
fn close_reason(ending: Ending) -> &'static str {
    match ending {
        None => "client_closed",
        Some((_, "frame too large")) => "frame_too_large",
        Some((_, reason)) => reason,
    }
}

async fn write(
    mut send: SendStream,
    client: &ClientHandle,
    runtime: &Runtime,
    config: &QuicConfig,
) -> Ending {
    // Grows with the batches actually written: an idle connection stays small.
    let mut frames: Vec<ServerFrame> = Vec::new();
    let mut origins: Vec<RecordOrigin> = Vec::new();
    let mut buffer = Vec::new();
    loop {
        if let Err(closed) = client
            .next_frames(&mut frames, config.write_batch_frames_max)
            .await
        {
            return Some((closed.code, closed.reason));
        }
        buffer.clear();
        for frame in frames.drain(..) {
            if let ServerFrame::Message(Message {
                kind: MessageKind::Update,
                headers: None,
                headers_truncated: false,
                origin: Some(origin),
                ..
            }) = &frame
            {
                origins.push(origin.clone());
            }
            write_frame(&mut buffer, &Encoding::Binary.encode_server_shared(&frame));
        }
        tokio::select! {
            written = send.write_all(&buffer) => if written.is_err() {
                return None;
            },
            closed = client.closed() => return Some((closed.code, closed.reason)),
        }
        if !origins.is_empty() {
            runtime.observer().delivered(TRANSPORT, &origins);
            origins.clear();
        }
    }
}
