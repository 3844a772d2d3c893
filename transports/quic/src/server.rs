//! The QUIC listener: one endpoint, one task per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, EndpointConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt};
use sluice_driver::Runtime;
use tokio::task::JoinHandle;

use crate::config::QuicConfig;
use crate::session;
use crate::stats::{Counters, QuicStats, QuicStatsReader};

/// A QUIC listener serving protocol v1. Dropping it closes the endpoint.
pub struct QuicServer {
    endpoint: Endpoint,
    counters: Arc<Counters>,
    accept: JoinHandle<()>,
}

impl QuicServer {
    /// Binds `addr` and serves sessions on `runtime`. `tls` must offer the ALPN
    /// `sluice/1` and accept early data (see `sluice_tls::server_config`).
    pub fn bind(
        addr: SocketAddr,
        runtime: Runtime,
        config: QuicConfig,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<QuicServer> {
        let crypto = QuicServerConfig::try_from(tls).map_err(io::Error::other)?;
        let mut server_config = ServerConfig::with_crypto(Arc::new(crypto));
        server_config.transport_config(Arc::new(transport_config(&config)?));
        server_config.max_incoming(config.connections_max);
        let socket = udp_socket(addr, config.udp_receive_buffer_bytes)?;
        let endpoint = Endpoint::new(
            EndpointConfig::default(),
            Some(server_config),
            socket,
            quinn::default_runtime().ok_or_else(|| io::Error::other("no async runtime"))?,
        )?;
        let counters = Arc::new(Counters::default());
        runtime.observer().listening(crate::TRANSPORT);
        let accept = tokio::spawn(accept_loop(
            endpoint.clone(),
            runtime,
            config,
            counters.clone(),
        ));
        Ok(QuicServer {
            endpoint,
            counters,
            accept,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub fn stats(&self) -> QuicStats {
        self.counters.snapshot()
    }

    /// A handle that reads these counters, for metrics.
    pub fn stats_reader(&self) -> QuicStatsReader {
        QuicStatsReader(self.counters.clone())
    }
}

impl Drop for QuicServer {
    fn drop(&mut self) {
        self.accept.abort();
        self.endpoint
            .close(VarInt::from_u32(0), b"gateway stopping");
    }
}

/// One session per connection: the client opens one bidirectional stream, and
/// nothing else is allowed.
fn transport_config(config: &QuicConfig) -> io::Result<TransportConfig> {
    let idle = IdleTimeout::try_from(Duration::from_millis(config.idle_timeout_ms))
        .map_err(|_| io::Error::other("quic.idle_timeout_ms is too large"))?;
    let mut transport = TransportConfig::default();
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(Duration::from_millis(config.keep_alive_interval_ms)))
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

async fn accept_loop(
    endpoint: Endpoint,
    runtime: Runtime,
    config: QuicConfig,
    counters: Arc<Counters>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let open = counters.connections_open.load(Ordering::Relaxed);
        if open >= config.connections_max as u64 {
            Counters::add(&counters.connections_refused_total);
            incoming.refuse();
            continue;
        }
        let peer = incoming.remote_address();
        let runtime = runtime.clone();
        let config = config.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            if let Err(err) = session::run(incoming, runtime, config, counters).await {
                tracing::debug!(%peer, %err, "QUIC connection ended with an error");
            }
        });
    }
}

/// The listener's UDP socket, with the receive buffer `receive_bytes` asked for.
/// The kernel may grant less (up to `net.core.rmem_max`); that is logged, not an
/// error: the gateway still serves.
fn udp_socket(addr: SocketAddr, receive_bytes: usize) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(err) = socket.set_recv_buffer_size(receive_bytes) {
        tracing::warn!(%err, receive_bytes, "cannot size the QUIC socket's receive buffer");
    }
    let granted = socket.recv_buffer_size().unwrap_or(0);
    // Linux reports twice the size it was asked for (the other half is its own).
    if granted < receive_bytes {
        tracing::info!(
            asked = receive_bytes,
            granted,
            "QUIC receive buffer smaller than configured (net.core.rmem_max)"
        );
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_socket_gets_the_receive_buffer_asked_for() {
        // Below the usual default (208 KiB), so the size seen is the one asked
        // for, whatever `net.core.rmem_max` is (Linux reports it doubled).
        let asked = 16 * 1024;
        let socket = udp_socket(SocketAddr::from(([127, 0, 0, 1], 0)), asked).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        assert!(
            (asked..=2 * asked).contains(&granted),
            "asked {asked}, granted {granted}"
        );
    }
}
