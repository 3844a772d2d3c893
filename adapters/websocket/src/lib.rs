//! # sluice-websocket
//!
//! Serves protocol v1 on `GET /v1/ws` over WebSocket. The subprotocol picks the
//! encoding (`sluice.v1.json`, the default, or `sluice.v1.bin`). This crate only
//! moves frames between sockets and the [`sluice_runtime::Runtime`]; every decision
//! is the core's.

// tungstenite's handshake callback fixes its error type to a full HTTP response.
#![allow(clippy::result_large_err)]

mod admission;
mod config;
mod connection;
mod handshake;

pub use config::WebSocketConfig;

use std::io;

use sluice_runtime::Runtime;
use tokio::net::TcpListener;

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    runtime: Runtime,
    config: WebSocketConfig,
) -> io::Result<()> {
    let admission =
        admission::Admission::new(config.connections_max, config.connections_per_ip_max);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let admitted = admission.admit(peer.ip());
        if let Err(refusal) = admitted {
            runtime.count_refusal(refusal);
        }
        let runtime = runtime.clone();
        let config = config.clone();
        tokio::spawn(async move {
            if let Err(err) = connection::run(stream, runtime, config, admitted).await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
}
