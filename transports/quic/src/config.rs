use std::net::SocketAddr;

/// QUIC transport settings. `docs/configuration.md` documents the TOML keys. The defaults suit
/// phones: a keep-alive well inside the 30 s after which many NATs forget a UDP
/// flow, and an idle timeout long enough to ride out a tunnel or a network switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuicConfig {
    /// UDP address to serve QUIC on; QUIC is off when unset. Needs TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Largest frame accepted from a client; larger closes with 1009. Set from the
    /// gateway's `frame_bytes_max`, so it is not a key of its own.
    #[serde(skip)]
    pub frame_bytes_max: usize,
    /// A connection silent this long (no packet, not even a keep-alive) is closed.
    pub idle_timeout_ms: u64,
    /// The gateway sends a keep-alive when it has sent nothing for this long.
    pub keep_alive_interval_ms: u64,
    /// Connections open at once; further handshakes are refused.
    pub connections_max: usize,
    /// Frames moved from the core's queue to the stream per write.
    pub write_batch_frames_max: usize,
    /// Receive buffer asked of the kernel for the UDP socket (it caps the request at
    /// `net.core.rmem_max`). Every connection's packets arrive through this one
    /// socket: a storm of 2,000 handshakes overflowed the usual 208 KiB default
    /// (12,342 datagrams dropped in one storm) and some timed out.
    pub udp_receive_buffer_bytes: usize,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            listen: None,
            frame_bytes_max: 1024 * 1024,
            idle_timeout_ms: 60_000,
            keep_alive_interval_ms: 15_000,
            connections_max: 100_000,
            write_batch_frames_max: 256,
            udp_receive_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}
