//! One client connection: the reader feeds the core, the writer drains it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sluice_core::close_code;
use sluice_core::protocol::{Encoding, Message, MessageKind, RecordOrigin, ServerFrame};
use sluice_runtime::{Refusal, Runtime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig as WsProtocolConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::admission::Admitted;
use crate::config::WebSocketConfig;
use crate::handshake::{self, Accepted};
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
pub async fn run<S>(
    stream: S,
    runtime: Runtime,
    config: WebSocketConfig,
    admitted: Result<Admitted, Refusal>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let refused = admitted.as_ref().err().copied();
    let mut protocol = WsProtocolConfig::default();
    protocol.max_message_size = Some(config.frame_bytes_max);
    protocol.max_frame_size = Some(config.frame_bytes_max);
    protocol.read_buffer_size = config.read_buffer_bytes;
    let chosen: Arc<Mutex<Option<Accepted>>> = Arc::new(Mutex::new(None));
    let chosen_in_callback = chosen.clone();
    let (runtime_in_callback, config_in_callback) = (runtime.clone(), config.clone());
    let accept = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        move |request: &_, response| {
            let (response, accepted) = handshake::negotiate(
                request,
                response,
                refused,
                &config_in_callback,
                &runtime_in_callback,
            )?;
            *chosen_in_callback.lock().unwrap_or_else(|p| p.into_inner()) = Some(accepted);
            Ok(response)
        },
        Some(protocol),
    );
    // Boxed: the handshake's state (3.7 KiB, the request parser's included) would
    // otherwise stay in every connection's task for as long as it is open.
    let handshake = Box::pin(tokio::time::timeout(
        Duration::from_millis(config.handshake_timeout_ms),
        accept,
    ));
    let ws = match handshake.await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => return Err(io::Error::other(err)),
        Err(_) => {
            runtime.count_refusal(Refusal::HandshakeTimeout);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshake timed out",
            ));
        }
    };
    // Taken out of its cell, which is freed here rather than held for the
    // connection's life.
    let accepted = chosen.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(chosen);
    let Some(Accepted { encoding, grant }) = accepted else {
        return Err(io::Error::other("handshake accepted without negotiation"));
    };
    let client = match grant {
        Some(grant) => runtime.connect_with_grant(encoding, grant),
        None => runtime.connect(encoding),
    };
    runtime.observer().connected(TRANSPORT);
    let (mut sink, mut source) = ws.split();
    let last_heard = Arc::new(Mutex::new(Instant::now()));

    let reader = {
        let last_heard = last_heard.clone();
        let client = &client;
        async move {
            while let Some(message) = source.next().await {
                *last_heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                match message {
                    Ok(WsMessage::Text(text)) => client.receive(Bytes::from(text)),
                    Ok(WsMessage::Binary(data)) => client.receive(data),
                    Ok(WsMessage::Close(_)) => return Ending::Quiet(reason::CLIENT_CLOSED),
                    Ok(_) => {} // pings are answered by tungstenite; pongs only refresh last_heard
                    Err(WsError::Capacity(err)) => {
                        tracing::debug!(%err, "client frame over the limit");
                        return Ending::Close(close_code::TOO_BIG, "frame too large");
                    }
                    Err(WsError::Utf8(err)) => {
                        tracing::debug!(%err, "text message is not UTF-8");
                        return Ending::Close(
                            close_code::INVALID_DATA,
                            "text message is not UTF-8",
                        );
                    }
                    Err(err) => {
                        tracing::debug!(%err, "read failed");
                        return Ending::Quiet(reason::CONNECTION_ERROR);
                    }
                }
            }
            Ending::Quiet(reason::CLIENT_CLOSED)
        }
    };

    let writer = async {
        // Grows with the batches actually written, and is freed when the queue
        // drained: an idle connection holds no batch.
        let mut frames: Vec<ServerFrame> = Vec::new();
        let mut origins: Vec<RecordOrigin> = Vec::new();
        let mut ping = tokio::time::interval(Duration::from_millis(config.ping_interval_ms));
        ping.tick().await;
        loop {
            tokio::select! {
                next = client.next_frames(&mut frames, config.write_batch_frames_max) => {
                    if let Err(closed) = next {
                        return Ending::Close(closed.code, closed.reason);
                    }
                    // A short batch emptied the core's queue.
                    let drained = frames.len() < config.write_batch_frames_max;
                    for frame in frames.drain(..) {
                        if let ServerFrame::Message(Message { kind: MessageKind::Update, origin: Some(origin), .. }) = &frame {
                            origins.push(origin.clone());
                        }
                        if sink.feed(encode(encoding, &frame)).await.is_err() {
                            return Ending::Quiet(reason::CONNECTION_ERROR);
                        }
                    }
                    if sink.flush().await.is_err() {
                        return Ending::Quiet(reason::CONNECTION_ERROR);
                    }
                    if !origins.is_empty() {
                        runtime.observer().delivered(TRANSPORT, &origins);
                        origins.clear();
                    }
                    if drained {
                        frames = Vec::new();
                    }
                }
                _ = ping.tick() => {
                    let silent = last_heard.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                    if silent > Duration::from_millis(config.pong_timeout_ms) {
                        return Ending::Close(close_code::POLICY, "ping timeout");
                    }
                    if sink.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                        return Ending::Quiet(reason::CONNECTION_ERROR);
                    }
                }
            }
        }
    };

    // Whichever side ends first decides how the connection closes.
    let ending = tokio::select! {
        ending = reader => ending,
        ending = writer => ending,
    };
    drop(client);
    runtime.observer().disconnected(TRANSPORT, ending.reason());
    if let Ending::Close(code, reason) = ending {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = sink.send(WsMessage::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
    Ok(())
}

fn encode(encoding: Encoding, frame: &ServerFrame) -> WsMessage {
    let bytes = encoding.encode_server(frame);
    match encoding {
        // The JSON encoder only produces UTF-8.
        Encoding::Json => match String::from_utf8(bytes) {
            Ok(text) => WsMessage::Text(text.into()),
            Err(err) => WsMessage::Binary(Bytes::from(err.into_bytes())),
        },
        Encoding::Binary => WsMessage::Binary(Bytes::from(bytes)),
    }
}
