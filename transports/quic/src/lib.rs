//! # sluice-quic
//!
//! Serves protocol v1 over QUIC (quinn), ALPN `sluice/1`. A client opens one
//! bidirectional stream per connection; it carries the binary encoding, each frame
//! preceded by its 32-bit big-endian length (`docs/protocol.md` §12). The session
//! is the same as over WebSocket — the same core, the same ordering, acks, resume
//! and slow-consumer bound — but survives the client changing networks (connection
//! migration) and may start in 0-RTT, where only replay-safe requests are acted on
//! before the handshake completes. This crate only moves frames.

mod config;
mod server;
mod session;
mod stats;

pub use config::QuicConfig;
pub use server::QuicServer;
pub use stats::{QuicStats, QuicStatsReader};

/// The transport label of connection and delivery metrics.
pub(crate) const TRANSPORT: &str = "quic";
