/// WebSocket transport settings. `README.md` documents the TOML keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Largest message accepted from a client; larger ones close with 1009. Set from
    /// the gateway's `frame_bytes_max`, so it is not a key of its own.
    #[serde(skip)]
    pub frame_bytes_max: usize,
    /// How often the gateway pings an idle client.
    pub ping_interval_ms: u64,
    /// A client that has not answered a ping for this long is dropped.
    pub pong_timeout_ms: u64,
    /// Frames moved from the core's queue to the socket per write batch.
    pub write_batch_frames_max: usize,
    /// Time allowed for the TCP + WebSocket handshake.
    pub handshake_timeout_ms: u64,
    /// Connections the kernel queues before the gateway accepts them. A burst of
    /// connects beyond it is dropped and retried by clients a second later.
    pub listen_backlog: u32,
    /// Read buffer of each connection. Clients send little, so a small buffer keeps
    /// an idle connection cheap (tungstenite's default is 128 KiB per connection).
    pub read_buffer_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            frame_bytes_max: 1024 * 1024,
            ping_interval_ms: 20_000,
            pong_timeout_ms: 60_000,
            write_batch_frames_max: 256,
            handshake_timeout_ms: 10_000,
            listen_backlog: 4096,
            read_buffer_bytes: 1024,
        }
    }
}
