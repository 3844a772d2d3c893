//! `quic://`: one QUIC connection per session, one bidirectional stream carrying
//! length-prefixed binary frames (`docs/protocol.md` §12).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{
    ConnectionError, Endpoint, IdleTimeout, ReadError, RecvStream, SendStream, TransportConfig,
    VarInt, WriteError, ZeroRttAccepted,
};
use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
use sluice_core::protocol::{ClientFrame, Encoding, ALPN_QUIC};
use sluice_tls::Fingerprint;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::stats::Counters;
use crate::transport::Incoming;

/// Largest chunk read from the stream at once.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest frame accepted from the gateway: the same as tungstenite's default
/// message limit, so both transports accept the same frames.
const SERVER_FRAME_BYTES_MAX: usize = 64 << 20;

/// The client's QUIC endpoint: one UDP socket for all its connections, kept across
/// reconnects together with the TLS session tickets that make 0-RTT possible.
#[derive(Debug)]
pub(crate) struct QuicConnector {
    endpoint: Endpoint,
    config: quinn::ClientConfig,
    /// A 0-RTT start's handshake must complete within this, as any connect
    /// attempt must, or a gateway that is gone would hold the client for the
    /// whole idle timeout before it fails over.
    handshake_timeout: Duration,
    counters: Arc<Counters>,
}

impl QuicConnector {
    /// Binds a dual-stack UDP socket (`[::]:0`), so both IPv4 gateways and the
    /// IPv6-only networks many phones are on work; a host without IPv6 gets an
    /// IPv4 socket.
    pub(crate) fn new(
        config: &ClientConfig,
        pins: &[Fingerprint],
        counters: Arc<Counters>,
    ) -> Result<QuicConnector, ClientError> {
        let invalid = |what: String| ClientError::InvalidConfig(what);
        let tls = sluice_tls::client_config(pins, &[ALPN_QUIC], config.quic_zero_rtt)
            .map_err(|e| invalid(e.to_string()))?;
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| invalid(e.to_string()))?;
        let idle = IdleTimeout::try_from(Duration::from_millis(config.quic_idle_timeout_ms))
            .map_err(|_| invalid("`quic_idle_timeout_ms` is too large".into()))?;
        let mut transport = TransportConfig::default();
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(Duration::from_millis(
                config.quic_keep_alive_interval_ms,
            )))
            .max_concurrent_bidi_streams(VarInt::from_u32(0))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .datagram_receive_buffer_size(None);
        let mut quic_config = quinn::ClientConfig::new(Arc::new(crypto));
        quic_config.transport_config(Arc::new(transport));
        let dual_stack = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
        let ipv4 = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0));
        let endpoint = Endpoint::client(dual_stack)
            .or_else(|_| Endpoint::client(ipv4))
            .map_err(|e| ClientError::Connect(format!("binding a UDP socket: {e}")))?;
        Ok(QuicConnector {
            endpoint,
            config: quic_config,
            handshake_timeout: config.connect_timeout(),
            counters,
        })
    }

    /// Moves the endpoint to a new UDP socket bound to `addr`, as a phone switching
    /// networks does. Open connections migrate to it and keep their session.
    pub(crate) fn rebind(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        // Connections of a dual-stack socket hold IPv4 peers as mapped IPv6
        // addresses, which an IPv4 socket could not send to: stay IPv6.
        let addr = match addr {
            SocketAddr::V4(v4) if self.endpoint.local_addr()?.is_ipv6() => {
                SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
            }
            other => other,
        };
        let socket = std::net::UdpSocket::bind(addr)?;
        self.endpoint.rebind(socket)?;
        self.endpoint.local_addr()
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Connects and opens the session stream. With a session ticket from an earlier
    /// connection to this server, the link starts in 0-RTT.
    pub(crate) async fn connect(&self, uri: &Uri) -> Result<QuicLink, String> {
        let host = uri.host().ok_or("no host")?;
        let server_name = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().ok_or("no port")?;
        // A dual-stack socket reaches both families (quinn maps IPv4 addresses);
        // an IPv4 one, after `rebind_quic` to an IPv4 address say, only IPv4.
        let any_family = self.endpoint.local_addr().is_ok_and(|a| a.is_ipv6());
        let addr = tokio::net::lookup_host((server_name, port))
            .await
            .map_err(|e| format!("resolving {server_name}: {e}"))?
            .find(|addr| any_family || addr.is_ipv4())
            .ok_or_else(|| format!("{server_name} has no IPv4 address for this IPv4 socket"))?;
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), addr, server_name)
            .map_err(|e| e.to_string())?;
        let (connection, early) = match connecting.into_0rtt() {
            // Only with a session ticket, and only when `quic_zero_rtt` turned
            // early data on in TLS.
            Ok((connection, accepted)) => {
                Counters::add(&self.counters.quic_zero_rtt_attempted_total);
                (connection, Some(accepted))
            }
            Err(connecting) => (connecting.await.map_err(describe)?, None),
        };
        let (send, recv) = connection.open_bi().await.map_err(describe)?;
        Ok(QuicLink {
            connection,
            send,
            recv,
            frames: FrameReader::new(SERVER_FRAME_BYTES_MAX),
            early,
            handshake_deadline: Instant::now() + self.handshake_timeout,
            stream_refused: false,
        })
    }
}

/// A connection error as the application should read it (a refused certificate
/// names the pin mismatch).
fn describe(error: ConnectionError) -> String {
    error.to_string()
}

pub(crate) struct QuicLink {
    connection: quinn::Connection,
    send: SendStream,
    recv: RecvStream,
    frames: FrameReader,
    /// Resolves when a 0-RTT start's handshake completes; `None` otherwise.
    early: Option<ZeroRttAccepted>,
    /// When a 0-RTT start gives up on its handshake.
    handshake_deadline: Instant,
    /// The gateway refused the early data, which took the stream with it: a new
    /// one is opened before anything else is read or sent.
    stream_refused: bool,
}

impl QuicLink {
    pub(crate) async fn send(&mut self, frames: &[ClientFrame]) -> Result<(), String> {
        let mut buffer = Vec::new();
        for frame in frames {
            write_frame(&mut buffer, &Encoding::Binary.encode_client(frame));
        }
        match self.send.write_all(&buffer).await {
            // Only early data can be refused; `next` reports the refusal, and the
            // connection task then sends these requests again.
            Err(WriteError::ZeroRttRejected) => {
                self.early = None;
                self.stream_refused = true;
                Ok(())
            }
            written => written.map_err(|e| e.to_string()),
        }
    }

    pub(crate) fn is_early(&self) -> bool {
        self.early.is_some() || self.stream_refused
    }

    pub(crate) async fn next(&mut self) -> Incoming {
        if self.stream_refused {
            // Cancel-safe: an `open_bi` dropped before it completes opens nothing,
            // and the next call tries again.
            match self.connection.open_bi().await {
                Ok((send, recv)) => {
                    (self.send, self.recv) = (send, recv);
                    self.frames = FrameReader::new(SERVER_FRAME_BYTES_MAX);
                    self.stream_refused = false;
                    return Incoming::HandshakeDone {
                        early_data_accepted: false,
                    };
                }
                Err(error) => return Incoming::Failed(describe(error)),
            }
        }
        let QuicLink {
            recv,
            frames,
            early,
            handshake_deadline,
            stream_refused,
            ..
        } = self;
        loop {
            match frames.next_frame() {
                Ok(Some(frame)) => {
                    return match Encoding::Binary.decode_server(&frame) {
                        Ok(frame) => Incoming::Frame(frame),
                        Err(error) => Incoming::Undecodable(error.to_string()),
                    }
                }
                Ok(None) => {}
                Err(error) => return Incoming::Undecodable(error.to_string()),
            }
            let read = tokio::select! {
                accepted = async { early.as_mut().expect("guarded by the branch condition").await },
                    if early.is_some() =>
                {
                    *early = None;
                    if !accepted {
                        *stream_refused = true;
                        return Incoming::Nothing;
                    }
                    return Incoming::HandshakeDone { early_data_accepted: true };
                }
                () = tokio::time::sleep_until(*handshake_deadline), if early.is_some() => {
                    return Incoming::Failed("no answer to the 0-RTT start within the connect timeout".into());
                }
                read = recv.read_chunk(READ_CHUNK_BYTES, true) => read,
            };
            match read {
                Ok(Some(chunk)) => frames.push(&chunk.bytes),
                // The read may learn of the refusal before `early` resolves.
                Err(ReadError::ZeroRttRejected) => {
                    *early = None;
                    *stream_refused = true;
                    return Incoming::Nothing;
                }
                Ok(None) => return Incoming::Failed("the gateway ended the session stream".into()),
                Err(ReadError::ConnectionLost(ConnectionError::ApplicationClosed(close))) => {
                    return Incoming::Closed {
                        code: u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX),
                        reason: String::from_utf8_lossy(&close.reason).into_owned(),
                    }
                }
                Err(error) => return Incoming::Failed(error.to_string()),
            }
        }
    }

    pub(crate) fn close(&mut self) {
        self.connection
            .close(VarInt::from_u32(0), b"client closing");
    }
}
