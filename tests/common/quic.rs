//! A raw QUIC client that sees exactly the frames the gateway sends: protocol v1's
//! binary encoding, length-prefixed, on one bidirectional stream.

use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, ConnectionError, Endpoint, RecvStream, SendStream};
use sluice::server::Server;
use sluice_core::protocol::stream_framing::{write_frame, FrameReader};
use sluice_core::protocol::{binary, ClientFrame, ServerFrame, ALPN_QUIC};

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
