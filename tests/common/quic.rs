//! A raw QUIC client that sees exactly the frames the gateway sends: protocol v1's
//! binary encoding, length-prefixed, on one bidirectional stream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, ConnectionError, Endpoint, RecvStream, SendStream};
use sluice::server::Server;
use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
use sluice_core::protocol::{binary, ClientFrame, ServerFrame, ALPN_QUIC};

use tokio::net::UdpSocket;
use tokio::sync::Notify;

use super::HANG_GUARD;

pub struct RawQuic {
    pub connection: Connection,
    send: SendStream,
    recv: RecvStream,
    frames: FrameReader,
    _endpoint: Endpoint,
}

/// Connects to the gateway's QUIC listener offering `alpn`, trusting its pin.
pub async fn handshake(
    server: &Server,
    alpn: &[u8],
) -> (Endpoint, Result<Connection, ConnectionError>) {
    let pin = server.tls_fingerprint().expect("TLS is on");
    let tls = sluice_tls::client_config(&[pin], &[alpn], false).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()));
    let endpoint = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.quic_url().unwrap()["quic://".len()..]
        .parse()
        .unwrap();
    let connecting = endpoint.connect_with(config, addr, "localhost").unwrap();
    (endpoint, connecting.await)
}

impl RawQuic {
    pub async fn connect(server: &Server) -> RawQuic {
        let (endpoint, connection) = handshake(server, ALPN_QUIC).await;
        let connection = connection.expect("handshake");
        let (send, recv) = connection.open_bi().await.unwrap();
        RawQuic {
            connection,
            send,
            recv,
            frames: FrameReader::new(64 << 20),
            _endpoint: endpoint,
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_bytes(&binary::encode_client(frame)).await;
    }

    /// Sends `bytes` as one frame, length prefix and all.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let mut framed = Vec::new();
        write_frame(&mut framed, bytes);
        self.send_raw(&framed).await;
    }

    /// Writes `bytes` to the stream as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.send.write_all(bytes).await.expect("send");
    }

    /// The next frame from the gateway.
    pub async fn recv(&mut self) -> ServerFrame {
        loop {
            if let Some(frame) = self.frames.next_frame().unwrap() {
                return binary::decode_server(&frame).expect("the gateway sends valid frames");
            }
            let chunk = tokio::time::timeout(HANG_GUARD, self.recv.read_chunk(64 * 1024, true))
                .await
                .expect("a frame within the hang guard")
                .expect("stream open")
                .expect("stream not finished");
            self.frames.push(&chunk.bytes);
        }
    }

    /// How the gateway closed the connection: its code and reason.
    pub async fn closed(&self) -> (u64, String) {
        let error = tokio::time::timeout(HANG_GUARD, self.connection.closed())
            .await
            .expect("closed within the hang guard");
        match error {
            ConnectionError::ApplicationClosed(close) => (
                close.error_code.into_inner(),
                String::from_utf8_lossy(&close.reason).into_owned(),
            ),
            other => panic!("closed without an application code: {other}"),
        }
    }
}

/// A UDP relay between clients and the gateway's QUIC port. Told to, it lets the
/// next connection's first flight (Initial and 0-RTT data) through and, once the
/// gateway has answered, holds every further client datagram (the handshake
/// Finished among them) until released: the gateway then has the client's early
/// data but no completed handshake, as with a replayed first flight.
pub struct HandshakeRelay {
    pub addr: SocketAddr,
    state: Arc<Mutex<RelayState>>,
    release: Arc<Notify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelayState {
    Forwarding,
    /// Waiting for a client Initial packet.
    Armed,
    /// The Initial went through; the gateway's first answer starts the hold.
    AwaitingAnswer,
    Holding,
}

impl HandshakeRelay {
    pub async fn start(gateway: SocketAddr) -> HandshakeRelay {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let state = Arc::new(Mutex::new(RelayState::Forwarding));
        let release = Arc::new(Notify::new());
        tokio::spawn(relay(socket, gateway, state.clone(), release.clone()));
        HandshakeRelay {
            addr,
            state,
            release,
        }
    }

    pub fn hold_next_handshake(&self) {
        *self.state.lock().unwrap() = RelayState::Armed;
    }

    pub fn release(&self) {
        self.release.notify_one();
    }
}

async fn relay(
    socket: UdpSocket,
    gateway: SocketAddr,
    state: Arc<Mutex<RelayState>>,
    release: Arc<Notify>,
) {
    let mut buf = vec![0u8; 65536];
    let mut client = None;
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { return };
                let datagram = &buf[..len];
                let to = if from == gateway {
                    let mut state = state.lock().unwrap();
                    if *state == RelayState::AwaitingAnswer {
                        *state = RelayState::Holding;
                    }
                    match client {
                        Some(client) => client,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    let mut state = state.lock().unwrap();
                    // A QUIC v1 Initial: long header, packet type 0.
                    let initial = datagram.first().is_some_and(|b| b & 0xb0 == 0x80);
                    match *state {
                        RelayState::Armed if initial => *state = RelayState::AwaitingAnswer,
                        RelayState::Holding => {
                            held.push(datagram.to_vec());
                            continue;
                        }
                        _ => {}
                    }
                    gateway
                };
                let _ = socket.send_to(datagram, to).await;
            }
            () = release.notified() => {
                *state.lock().unwrap() = RelayState::Forwarding;
                for datagram in held.drain(..) {
                    let _ = socket.send_to(&datagram, gateway).await;
                }
            }
        }
    }
}
