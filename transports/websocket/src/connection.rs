//! One client connection: one loop feeds the core what the client sends and
//! writes what the core queues for it.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sluice_core::close_code;
use sluice_core::protocol::{Encoding, Message, MessageKind, RecordOrigin, ServerFrame};
use sluice_driver::{ClientHandle, Closed, Refusal, Runtime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::futures::Notified;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig as WsProtocolConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use crate::admission::Admitted;
use crate::config::WebSocketConfig;
use crate::deflating::{self, Deflater};
use crate::flush_buffered::FlushBuffered;
use crate::handshake::{self, Accepted};
use crate::inflating::{InflateError, Inflating};
use crate::permessage_deflate::ContextSlots;
use crate::plain_http;
use crate::request_head::{Head, Replayed};
use crate::TRANSPORT;

/// Disconnect reasons that are not a close the gateway sends.
mod reason {
    pub const CLIENT_CLOSED: &str = "client_closed";
    pub const CONNECTION_ERROR: &str = "connection_error";
}

/// How a connection ends: with a close frame the gateway sends, or without one
/// (the client left, or the socket failed).
enum Ending {
    Close(u16, &'static str),
    Quiet(&'static str),
}

impl Ending {
    /// The disconnect reason as a metric label (`slow_consumer`, `ping_timeout`, ...).
    fn reason(&self) -> &'static str {
        match self {
            Ending::Quiet(reason) => reason,
            Ending::Close(_, "frame too large") => "frame_too_large",
            Ending::Close(_, "ping timeout") => "ping_timeout",
            Ending::Close(_, "text message is not UTF-8") => "invalid_utf8",
            Ending::Close(_, reason) => reason,
        }
    }
}

/// Serves one connection: plain TCP, or TLS already negotiated. `admitted` is its
/// place under the connection limits, or why it has none (then the handshake
/// answers with the refusal).
///
/// Not an `async fn`, which would store its arguments twice in every task.
#[allow(clippy::manual_async_fn)]
pub fn run<S>(
    stream: S,
    runtime: Runtime,
    config: Arc<WebSocketConfig>,
    admitted: Result<Admitted, Refusal>,
) -> impl Future<Output = io::Result<()>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async move {
        let refused = admitted.as_ref().err().copied();
        // Boxed, and freed once done: the handshake's state (3.7 KiB, the request
        // parser's included) would otherwise size every connection's task.
        let deflate_contexts = admitted.as_ref().ok().map(|a| a.deflate_contexts().clone());
        let upgrading = upgrade(stream, &runtime, &config, refused, deflate_contexts);
        let Some((ws, accepted)) = Box::pin(upgrading).await? else {
            // A plain HTTP request, answered with a file or a refusal.
            return Ok(());
        };
        let client = match accepted.grant {
            Some(grant) => runtime.connect_with_grant(accepted.encoding, grant),
            None => runtime.connect(accepted.encoding),
        };
        runtime.observer().connected(TRANSPORT);
        let deflater = accepted
            .deflate
            .map(|negotiated| Deflater::new(negotiated, config.deflate_min_bytes));
        let takeover = accepted.deflate_slot.is_some();
        if deflater.is_some() {
            runtime.observer().deflate_connection(takeover, true);
        }
        let deflating = deflater.is_some();
        open(ws, client, &runtime, &config, deflater).await;
        if deflating {
            runtime.observer().deflate_connection(takeover, false);
        }
        // Held until here: the connection's place among those keeping contexts.
        drop(accepted.deflate_slot);
        drop(admitted);
        Ok(())
    }
}

/// The upgraded socket: frames batched for writing, over the client's frames
/// inflated if compressed (permessage-deflate), over the request head's replay.
type Socket<S> = WebSocketStream<FlushBuffered<Inflating<Replayed<S>>>>;

/// The WebSocket upgrade (the HTTP handshake and its checks), within
/// `handshake_timeout_ms`; or, for a plain HTTP request (no `Upgrade: websocket`),
/// its answer (`plain_http`) and `None`.
async fn upgrade<S>(
    stream: S,
    runtime: &Runtime,
    config: &Arc<WebSocketConfig>,
    refused: Option<Refusal>,
    deflate_contexts: Option<Arc<ContextSlots>>,
) -> io::Result<Option<(Socket<S>, Accepted)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut protocol = WsProtocolConfig::default();
    protocol.max_message_size = Some(config.frame_bytes_max);
    protocol.max_frame_size = Some(config.frame_bytes_max);
    protocol.read_buffer_size = config.read_buffer_bytes;
    // Every frame straight down to `FlushBuffered`, which batches until a flush.
    protocol.write_buffer_size = 0;
    let chosen: Arc<Mutex<Option<Accepted>>> = Arc::new(Mutex::new(None));
    let chosen_in_callback = chosen.clone();
    let (runtime_in_callback, config_in_callback) = (runtime.clone(), config.clone());
    let head_then_accept = async move {
        let mut stream = Replayed::new(stream);
        if let Head::Plain { method, path } = stream.read_head().await? {
            let answer = match refused {
                Some(refusal) => plain_http::refusal(refusal),
                None => plain_http::answer(&method, &path, &config_in_callback),
            };
            plain_http::respond(&mut stream, &answer).await?;
            return Ok(None);
        }
        let accept = tokio_tungstenite::accept_hdr_async_with_config(
            FlushBuffered::new(Inflating::new(stream)),
            move |request: &_, response| {
                let (response, accepted) = handshake::negotiate(
                    request,
                    response,
                    refused,
                    &config_in_callback,
                    &runtime_in_callback,
                    deflate_contexts.as_ref(),
                )?;
                *chosen_in_callback.lock().unwrap_or_else(|p| p.into_inner()) = Some(accepted);
                Ok(response)
            },
            Some(protocol),
        );
        accept.await.map(Some).map_err(io::Error::other)
    };
    let deadline = Duration::from_millis(config.handshake_timeout_ms);
    let ws = match tokio::time::timeout(deadline, head_then_accept).await {
        Ok(Ok(Some(ws))) => ws,
        Ok(Ok(None)) => return Ok(None),
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            runtime.count_refusal(Refusal::HandshakeTimeout);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshake timed out",
            ));
        }
    };
    let accepted = chosen.lock().unwrap_or_else(|p| p.into_inner()).take();
    match accepted {
        Some(accepted) => {
            let mut ws = ws;
            if let Some(negotiated) = accepted.deflate {
                ws.get_mut()
                    .get_mut()
                    .enable(negotiated, config.frame_bytes_max);
            }
            Ok(Some((ws, accepted)))
        }
        None => Err(io::Error::other("handshake accepted without negotiation")),
    }
}

/// The upgraded connection, from the client's connect to its close. Not an
/// `async fn`: that would store `ws` twice in the task (argument and local).
#[allow(clippy::manual_async_fn)]
fn open<'a, S>(
    mut ws: Socket<S>,
    client: ClientHandle,
    runtime: &'a Runtime,
    config: &'a WebSocketConfig,
    deflater: Option<Deflater>,
) -> impl Future<Output = ()> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
{
    async move {
        let ending = serve(&mut ws, &client, runtime, config, deflater).await;
        drop(client);
        runtime.observer().disconnected(TRANSPORT, ending.reason());
        if let Ending::Close(code, reason) = ending {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let _ = ws.send(WsMessage::Close(Some(frame))).await;
        }
        let _ = SinkExt::close(&mut ws).await;
    }
}

/// What the connection does next.
enum Event {
    Read(Option<Result<WsMessage, WsError>>),
    /// The core has frames for the client (in the batch), or closed it.
    Frames(Result<(), Closed>),
    /// The batch (and any ping) is written and flushed.
    Written(Result<(), WsError>),
    Ping,
}

/// The open connection, until it ends: one loop owns the WebSocket, so an idle
/// connection is one small future (no split halves behind a shared lock, no
/// second task state). It reads while a write waits for the socket, as a
/// separate reader would, and takes turns between reading and writing so
/// neither a busy client nor a busy subject starves the other.
async fn serve<S>(
    ws: &mut Socket<S>,
    client: &ClientHandle,
    runtime: &Runtime,
    config: &WebSocketConfig,
    mut deflater: Option<Deflater>,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let encoding = client.encoding();
    let max = config.write_batch_frames_max;
    let mut wake = pin!(client.notified());
    // Grows with the batches actually written, and is freed when the queue
    // drained: an idle connection holds no batch.
    let mut frames: Vec<ServerFrame> = Vec::new();
    let mut origins: Vec<RecordOrigin> = Vec::new();
    // While a batch is written: how many of `frames` went to the socket.
    let mut writing: Option<usize> = None;
    let mut ping_due = false;
    // Bytes compressed since the last report: (before, after).
    let mut deflated = (0u64, 0u64);
    let mut ping = tokio::time::interval(Duration::from_millis(config.ping_interval_ms));
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut read_first = false;
    loop {
        read_first = !read_first;
        let event = poll_fn(|cx| {
            if read_first {
                if let Poll::Ready(message) = ws.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Read(message));
                }
            }
            if let Some(sent) = writing.as_mut() {
                let written = poll_write(
                    ws,
                    cx,
                    (&frames, sent),
                    &mut ping_due,
                    encoding,
                    deflater.as_mut(),
                    &mut deflated,
                );
                if let Poll::Ready(written) = written {
                    return Poll::Ready(Event::Written(written));
                }
            } else {
                if let Poll::Ready(next) = poll_frames(client, &mut wake, cx, &mut frames, max) {
                    return Poll::Ready(Event::Frames(next));
                }
                if ping.poll_tick(cx).is_ready() {
                    return Poll::Ready(Event::Ping);
                }
            }
            if !read_first {
                if let Poll::Ready(message) = ws.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Read(message));
                }
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Read(message) => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(WsMessage::Text(text))) => client.receive(Bytes::from(text)),
                    Some(Ok(WsMessage::Binary(data))) => client.receive(data),
                    Some(Ok(WsMessage::Close(_))) | None => {
                        return Ending::Quiet(reason::CLIENT_CLOSED)
                    }
                    // Pings are answered by tungstenite; pongs only refresh last_heard.
                    Some(Ok(_)) => {}
                    Some(Err(WsError::Capacity(err))) => {
                        tracing::debug!(%err, "client frame over the limit");
                        return Ending::Close(close_code::TOO_BIG, "frame too large");
                    }
                    Some(Err(WsError::Utf8(err))) => {
                        tracing::debug!(%err, "text message is not UTF-8");
                        return Ending::Close(
                            close_code::INVALID_DATA,
                            "text message is not UTF-8",
                        );
                    }
                    Some(Err(WsError::Io(err))) => {
                        let Some(refused) = InflateError::of(&err) else {
                            tracing::debug!(%err, "read failed");
                            return Ending::Quiet(reason::CONNECTION_ERROR);
                        };
                        tracing::debug!(%refused, "compressed client message refused");
                        return Ending::Close(refused.close_code(), refused.close_reason());
                    }
                    Some(Err(err)) => {
                        tracing::debug!(%err, "read failed");
                        return Ending::Quiet(reason::CONNECTION_ERROR);
                    }
                }
            }
            Event::Frames(Err(closed)) => return Ending::Close(closed.code, closed.reason),
            Event::Frames(Ok(())) => {
                origins.extend(frames.iter().filter_map(|frame| match frame {
                    ServerFrame::Message(Message {
                        kind: MessageKind::Update,
                        headers: None,
                        headers_truncated: false,
                        origin: Some(origin),
                        ..
                    }) => Some(origin.clone()),
                    _ => None,
                }));
                writing = Some(0);
            }
            Event::Written(Err(_)) => return Ending::Quiet(reason::CONNECTION_ERROR),
            Event::Written(Ok(())) => {
                writing = None;
                if deflated.0 > 0 {
                    runtime.observer().deflated(deflated.0, deflated.1);
                    deflated = (0, 0);
                }
                if !origins.is_empty() {
                    runtime.observer().delivered(TRANSPORT, &origins);
                    origins.clear();
                }
                // A short batch emptied the core's queue.
                if frames.len() < max {
                    frames = Vec::new();
                } else {
                    frames.clear();
                }
            }
            Event::Ping => {
                if last_heard.elapsed() > Duration::from_millis(config.pong_timeout_ms) {
                    return Ending::Close(close_code::POLICY, "ping timeout");
                }
                ping_due = true;
                writing = Some(0);
            }
        }
    }
}

/// Waits for the core's next frames for the client, or its close.
fn poll_frames<'c>(
    client: &'c ClientHandle,
    wake: &mut Pin<&mut Notified<'c>>,
    cx: &mut Context<'_>,
    frames: &mut Vec<ServerFrame>,
    max: usize,
) -> Poll<Result<(), Closed>> {
    loop {
        if let Err(closed) = client.take_frames(frames, max) {
            return Poll::Ready(Err(closed));
        }
        if !frames.is_empty() {
            return Poll::Ready(Ok(()));
        }
        ready!(wake.as_mut().poll(cx));
        wake.set(client.notified());
    }
}

/// Hands the due ping and `frames[*sent..]` to the socket, then flushes.
///
/// The frames are framed here and appended to the batch in one go
/// (`FlushBuffered::append_frames`); tungstenite only writes the ping. With
/// permessage-deflate, each is compressed when that pays (`deflating`).
fn poll_write<S>(
    ws: &mut Socket<S>,
    cx: &mut Context<'_>,
    (frames, sent): (&[ServerFrame], &mut usize),
    ping_due: &mut bool,
    encoding: Encoding,
    deflater: Option<&mut Deflater>,
    deflated: &mut (u64, u64),
) -> Poll<Result<(), WsError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if *ping_due {
        ready!(ws.poll_ready_unpin(cx))?;
        ws.start_send_unpin(WsMessage::Ping(Bytes::new()))?;
        *ping_due = false;
    }
    if *sent < frames.len() {
        // A live update's bytes are shared with its other subscribers' frames.
        let mut deflater = deflater;
        let encoded: Vec<(Bytes, bool)> = frames[*sent..]
            .iter()
            .map(|frame| {
                let plain = encoding.encode_server_shared(frame);
                match deflater.as_deref_mut() {
                    None => (plain, false),
                    Some(deflater) => match compress(frame, &plain, encoding, deflater) {
                        Some(compressed) => {
                            deflated.0 += plain.len() as u64;
                            deflated.1 += compressed.len() as u64;
                            (compressed, true)
                        }
                        None => (plain, false),
                    },
                }
            })
            .collect();
        let header = data_frame_header(encoding);
        let batch_bytes = encoded
            .iter()
            .map(|(bytes, _)| header.len(bytes.len() as u64) + bytes.len())
            .sum();
        ws.get_mut().append_frames(batch_bytes, |batch| {
            for (bytes, compressed) in &encoded {
                let header = FrameHeader {
                    rsv1: *compressed,
                    ..header.clone()
                };
                header
                    .format(bytes.len() as u64, batch)
                    .expect("writing to a Vec cannot fail");
                batch.extend_from_slice(bytes);
            }
        });
        *sent = frames.len();
    }
    ws.poll_flush_unpin(cx)
}

/// A frame's bytes compressed for a permessage-deflate connection, or `None` to
/// send them plain. Without context takeover the compression is shared by all
/// subscribers of a live update, like its encoding.
fn compress(
    frame: &ServerFrame,
    plain: &Bytes,
    encoding: Encoding,
    deflater: &mut Deflater,
) -> Option<Bytes> {
    if deflater.is_stateless() {
        let min_bytes = deflater.min_bytes();
        encoding.compress_server_shared(frame, plain, |bytes| {
            deflating::compress_stateless(bytes, min_bytes)
        })
    } else {
        deflater.compress(plain).map(Bytes::from)
    }
}

/// The header of every data frame to a client: final, unmasked (a server's
/// frames are never masked), text for JSON and binary for the binary encoding.
fn data_frame_header(encoding: Encoding) -> FrameHeader {
    let data = match encoding {
        // The JSON encoder only produces UTF-8.
        Encoding::Json => Data::Text,
        Encoding::Binary => Data::Binary,
    };
    FrameHeader {
        opcode: OpCode::Data(data),
        ..FrameHeader::default()
    }
}
