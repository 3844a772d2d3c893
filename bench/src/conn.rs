//! One load connection, over WebSocket or QUIC: the generator's side of each
//! transport, behind one small interface (send, receive, split for publishers).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use quinn::crypto::rustls::QuicClientConfig;
use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
use sluice_core::protocol::ALPN_QUIC;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::wire::Wire;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Read buffer of each load WebSocket. tungstenite's default (128 KiB) is zeroed
/// on every read: with thousands of connections that made the generator, not the
/// system, the storm's bottleneck (perf: page faults and memset).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Largest frame a QUIC load connection accepts.
const QUIC_FRAME_BYTES_MAX: usize = 16 << 20;

/// Where and how the load connects: a WebSocket URL, or a QUIC endpoint.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub wire: Arc<dyn Wire>,
    pub quic: Option<Arc<QuicClient>>,
}

/// The generator's QUIC side: one endpoint (one UDP socket) for every connection,
/// trusting the gateway's certificate by its pin.
pub struct QuicClient {
    endpoint: quinn::Endpoint,
    server: SocketAddr,
}

impl QuicClient {
    pub fn new(server: SocketAddr, pin: sluice_tls::Fingerprint) -> anyhow::Result<QuicClient> {
        let tls = sluice_tls::client_config(&[pin], &[ALPN_QUIC], false)?;
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| anyhow!("{e}"))?;
        let mut endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            None,
            client_socket()?,
            quinn::default_runtime().ok_or_else(|| anyhow!("no async runtime"))?,
        )?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        Ok(QuicClient { endpoint, server })
    }
}

/// The one UDP socket every load QUIC connection goes through, with a 4 MiB
/// receive buffer (the kernel caps it at `net.core.rmem_max`): a storm's
/// handshakes overflowed the usual 208 KiB and timed out.
fn client_socket() -> anyhow::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(4 * 1024 * 1024)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    Ok(socket.into())
}

/// An open load connection.
pub enum Conn {
    WebSocket(Box<Socket>),
    Quic(Box<QuicConn>),
}

pub struct QuicConn {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    frames: FrameReader,
    /// Kept so the connection lives as long as its streams.
    _connection: quinn::Connection,
}

/// The sending half of a split connection (publishers read nothing they need).
pub enum ConnSink {
    WebSocket(SplitSink<Socket, Message>, Arc<dyn Wire>),
    Quic(quinn::SendStream, Vec<u8>),
}

impl Conn {
    /// Opens connection number `index` to `target`, and says hello.
    pub async fn open(target: &Target, index: usize) -> anyhow::Result<Conn> {
        let mut conn = match &target.quic {
            Some(quic) => {
                let connection = quic
                    .endpoint
                    .connect(quic.server, "localhost")?
                    .await
                    .context("QUIC handshake")?;
                let (send, recv) = connection.open_bi().await?;
                Conn::Quic(Box::new(QuicConn {
                    send,
                    recv,
                    frames: FrameReader::new(QUIC_FRAME_BYTES_MAX),
                    _connection: connection,
                }))
            }
            None => Conn::WebSocket(Box::new(websocket(target, index).await?)),
        };
        for hello in target.wire.hello() {
            conn.send(target.wire.as_ref(), hello).await?;
        }
        Ok(conn)
    }

    pub async fn send(&mut self, wire: &dyn Wire, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Conn::WebSocket(socket) => Ok(socket.send(frame(wire, bytes)).await?),
            Conn::Quic(quic) => {
                let mut framed = Vec::with_capacity(bytes.len() + 4);
                write_frame(&mut framed, &bytes);
                Ok(quic.send.write_all(&framed).await?)
            }
        }
    }

    /// The next protocol message; `None` when the server closed the connection.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Bytes>> {
        match self {
            Conn::WebSocket(socket) => loop {
                match socket.next().await {
                    Some(Ok(Message::Binary(data))) => return Ok(Some(data)),
                    Some(Ok(Message::Text(text))) => {
                        return Ok(Some(Bytes::copy_from_slice(text.as_bytes())))
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(None),
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Err(error.into()),
                }
            },
            Conn::Quic(quic) => loop {
                if let Some(frame) = quic.frames.next_frame().map_err(|e| anyhow!("{e:?}"))? {
                    return Ok(Some(frame));
                }
                match quic.recv.read_chunk(64 * 1024, true).await? {
                    Some(chunk) => quic.frames.push(&chunk.bytes),
                    None => return Ok(None),
                }
            },
        }
    }

    /// Splits off the receiving side into a task that reads and drops everything.
    pub fn into_sink(self, wire: Arc<dyn Wire>) -> (ConnSink, tokio::task::JoinHandle<()>) {
        match self {
            Conn::WebSocket(socket) => {
                let (sink, mut stream) = (*socket).split();
                let draining =
                    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
                (ConnSink::WebSocket(sink, wire), draining)
            }
            Conn::Quic(quic) => {
                let QuicConn {
                    send,
                    mut recv,
                    _connection,
                    ..
                } = *quic;
                let draining = tokio::spawn(async move {
                    let _connection = _connection;
                    while let Ok(Some(_)) = recv.read_chunk(64 * 1024, true).await {}
                });
                (ConnSink::Quic(send, Vec::new()), draining)
            }
        }
    }
}

impl ConnSink {
    /// Queues a message; [`ConnSink::flush`] sends the batch.
    pub async fn feed(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            ConnSink::WebSocket(sink, wire) => Ok(sink.feed(frame(wire.as_ref(), bytes)).await?),
            ConnSink::Quic(_, batch) => {
                write_frame(batch, &bytes);
                Ok(())
            }
        }
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            ConnSink::WebSocket(sink, _) => Ok(sink.flush().await?),
            ConnSink::Quic(send, batch) => {
                send.write_all(batch).await?;
                batch.clear();
                Ok(())
            }
        }
    }
}

/// A WebSocket from source address 127.0.0.(2 + index % 250), so one machine can
/// open tens of thousands without running out of ports.
async fn websocket(target: &Target, index: usize) -> anyhow::Result<Socket> {
    let url = &target.url;
    let mut request = url.as_str().into_client_request()?;
    if let Some(subprotocol) = target.wire.subprotocol() {
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
    let (socket, _) = tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(stream),
        Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)),
    )
    .await
    .context("WebSocket handshake")?;
    Ok(socket)
}

/// Wraps an outgoing protocol message as the system expects it.
fn frame(wire: &dyn Wire, bytes: Vec<u8>) -> Message {
    if wire.text_frames() {
        Message::text(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        Message::binary(bytes)
    }
}
