//! The link to one gateway, whatever carries it: a WebSocket (`ws://`, `wss://`)
//! or a QUIC stream (`quic://`). The connection task sees frames, not sockets.

use futures_util::{SinkExt, StreamExt};
use sluice_core::protocol::{ClientFrame, Encoding, ServerFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::connection::Socket;
#[cfg(feature = "quic")]
use crate::quic_link::QuicLink;

/// WebSocket close code for "no status received", used when the gateway closes
/// without a close frame payload.
const CLOSE_CODE_NO_STATUS: u16 = 1005;

pub(crate) enum Transport {
    WebSocket(Box<Socket>),
    #[cfg(feature = "quic")]
    Quic(Box<QuicLink>),
}

/// What the link has to say.
pub(crate) enum Incoming {
    Frame(ServerFrame),
    /// The gateway sent bytes that are not a frame.
    Undecodable(String),
    /// The gateway closed the session with a code and reason.
    Closed {
        code: u16,
        reason: String,
    },
    /// The connection failed or ended without a close code.
    Failed(String),
    /// Nothing for the session (a WebSocket ping, answered by tungstenite).
    Nothing,
    /// The QUIC handshake completed after a 0-RTT start: whether the gateway took
    /// the early data. Requests held back can go now.
    #[cfg_attr(not(feature = "quic"), allow(dead_code))]
    HandshakeDone {
        early_data_accepted: bool,
    },
}

impl Transport {
    /// Writes frames with one flush.
    pub(crate) async fn send(
        &mut self,
        encoding: Encoding,
        frames: &[ClientFrame],
    ) -> Result<(), String> {
        match self {
            Transport::WebSocket(socket) => {
                for frame in frames {
                    socket
                        .feed(encode(encoding, frame))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                socket.flush().await.map_err(|e| e.to_string())
            }
            #[cfg(feature = "quic")]
            Transport::Quic(link) => link.send(frames).await,
        }
    }

    /// The next thing the gateway says. Cancel-safe: nothing is lost when the
    /// future is dropped before it completes.
    pub(crate) async fn next(&mut self, encoding: Encoding) -> Incoming {
        match self {
            Transport::WebSocket(socket) => websocket_incoming(socket.next().await, encoding),
            #[cfg(feature = "quic")]
            Transport::Quic(link) => link.next().await,
        }
    }

    /// QUIC has no upgrade request to carry a token: it goes in an `auth` frame.
    pub(crate) fn is_quic(&self) -> bool {
        match self {
            Transport::WebSocket(_) => false,
            #[cfg(feature = "quic")]
            Transport::Quic(_) => true,
        }
    }

    /// In a 0-RTT start, before the handshake completed: only idempotent requests
    /// (the restoring subscribes) may be sent.
    pub(crate) fn is_early(&self) -> bool {
        match self {
            Transport::WebSocket(_) => false,
            #[cfg(feature = "quic")]
            Transport::Quic(link) => link.is_early(),
        }
    }

    /// Says goodbye to the gateway.
    pub(crate) async fn close(&mut self) {
        match self {
            Transport::WebSocket(socket) => {
                let _ = (**socket).close(None).await;
            }
            #[cfg(feature = "quic")]
            Transport::Quic(link) => link.close(),
        }
    }
}

fn websocket_incoming(
    message: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    encoding: Encoding,
) -> Incoming {
    let decoded = match message {
        None => return Incoming::Failed("the connection ended without a close frame".into()),
        Some(Err(error)) => return Incoming::Failed(error.to_string()),
        Some(Ok(WsMessage::Close(frame))) => {
            let (code, reason) = frame.map_or((CLOSE_CODE_NO_STATUS, String::new()), |f| {
                (u16::from(f.code), f.reason.to_string())
            });
            return Incoming::Closed { code, reason };
        }
        // Either kind is decoded with the negotiated encoding; being lenient
        // about the WebSocket frame type costs nothing.
        Some(Ok(WsMessage::Text(text))) => encoding.decode_server(text.as_bytes()),
        Some(Ok(WsMessage::Binary(data))) => encoding.decode_server(&data),
        // Pings are answered by tungstenite itself.
        Some(Ok(_)) => return Incoming::Nothing,
    };
    match decoded {
        Ok(frame) => Incoming::Frame(frame),
        Err(error) => Incoming::Undecodable(error.to_string()),
    }
}

/// JSON frames travel as text messages, binary frames as binary messages.
fn encode(encoding: Encoding, frame: &ClientFrame) -> WsMessage {
    let bytes = encoding.encode_client(frame);
    match encoding {
        Encoding::Json => match String::from_utf8(bytes) {
            Ok(text) => WsMessage::text(text),
            // serde_json writes UTF-8, so this is unreachable; the gateway would
            // refuse the frame rather than the client panic.
            Err(error) => WsMessage::binary(error.into_bytes()),
        },
        Encoding::Binary => WsMessage::binary(bytes),
    }
}
