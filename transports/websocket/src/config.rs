/// WebSocket transport settings. `docs/configuration.md` documents the TOML keys.
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
    /// Time allowed for the TCP + WebSocket handshake (against slowloris).
    pub handshake_timeout_ms: u64,
    /// Connections the kernel queues before the gateway accepts them. A burst of
    /// connects beyond it is dropped and retried by clients a second later.
    pub listen_backlog: u32,
    /// Read buffer of each connection. Clients send little, so a small buffer keeps
    /// an idle connection cheap (tungstenite's default is 128 KiB per connection).
    pub read_buffer_bytes: usize,
    /// Connections open at once, handshakes included; beyond it HTTP 503.
    pub connections_max: usize,
    /// Connections open at once from one source address; beyond it HTTP 429.
    pub connections_per_ip_max: usize,
    /// `Origin`s browsers may connect from; empty allows any. Requests without an
    /// `Origin` (not from a browser) are not affected. Others get HTTP 403.
    pub allowed_origins: Vec<String>,
    /// Serve the demo page at `GET /` (the JavaScript SDK at `/sdk/sluice.js` is
    /// served either way). Turn it off in production.
    pub demo_page: bool,
    /// Accept permessage-deflate (RFC 7692) when a client offers it, as browsers do.
    pub deflate: bool,
    /// Keep a compression context per connection from message to message: better
    /// ratios on similar messages, for a compressor (300 KiB, measured) and a
    /// decompressor (43 KiB) per connection. Off: each message is compressed on its
    /// own, and a connection keeps no deflate state.
    pub deflate_context_takeover: bool,
    /// With `deflate_context_takeover`: how many connections at once may keep
    /// their contexts (about 340 KiB each); later ones compress each message on its
    /// own.
    pub deflate_context_takeover_connections_max: usize,
    /// Messages to a client smaller than this go uncompressed.
    pub deflate_min_bytes: usize,
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
            connections_max: 10_000,
            connections_per_ip_max: 256,
            allowed_origins: Vec::new(),
            demo_page: true,
            deflate: true,
            deflate_context_takeover: false,
            deflate_context_takeover_connections_max: 1000,
            deflate_min_bytes: 128,
        }
    }
}
