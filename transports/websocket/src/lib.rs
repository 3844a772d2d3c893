//! # sluice-websocket
//!
//! Serves protocol v1 on `GET /v1/ws` over WebSocket. The subprotocol picks the
//! encoding (`sluice.v1.json`, the default, or `sluice.v1.bin`). This crate only
//! moves frames between sockets and the [`sluice_driver::Runtime`]; every decision
//! is the core's.

// tungstenite's handshake callback fixes its error type to a full HTTP response.
#![allow(clippy::result_large_err)]

/// `AsyncWrite` for a wrapper of a socket (a struct with an `inner` field) that
/// only changes what is read: writes go straight through.
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}

mod admission;
mod config;
mod connection;
mod deflating;
mod flush_buffered;
mod handshake;
mod inflating;
mod permessage_deflate;
mod plain_http;
mod request_head;
mod shard;
#[cfg(feature = "tls")]
mod tls;

pub use config::WebSocketConfig;
/// The permessage-deflate reading path, for its fuzz target (`fuzz/`).
#[doc(hidden)]
pub use inflating::{inflate_frames, InflateError};
#[cfg(not(madsim))]
pub use shard::Shard;
use shard::Shards;

/// The transport label of connection and delivery metrics.
pub(crate) const TRANSPORT: &str = "websocket";

use std::future::Future;
use std::io;

use sluice_driver::Runtime;
use tokio::net::TcpListener;

/// Binds the listener for [`serve`] with `config.listen_backlog` (tokio's own
/// `bind` asks for a backlog of 128, which a reconnect storm overflows).
#[cfg(not(madsim))]
pub fn bind(addr: std::net::SocketAddr, config: &WebSocketConfig) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(config.listen_backlog)
}

/// What secures the connections: nothing (`ws://`), or TLS (`wss://`).
#[cfg(feature = "tls")]
type Security = Option<tokio_rustls::TlsAcceptor>;
#[cfg(not(feature = "tls"))]
type Security = Option<std::convert::Infallible>;

/// Accepts `ws://` connections on `listener` until the task is dropped.
///
/// The transport is reported to the runtime's observer as listening before this
/// returns, so its metrics exist from then on.
pub fn serve(
    listener: TcpListener,
    runtime: Runtime,
    config: WebSocketConfig,
) -> impl Future<Output = io::Result<()>> {
    runtime.observer().listening(TRANSPORT);
    accept_loop(listener, Shards::local_only(runtime), config, None)
}

/// [`serve`] or [`serve_tls`] (with `tls`), dealing the connections out in turn to
/// `runtime`, on this task's tokio runtime, and to the `others` shards.
#[cfg(not(madsim))]
pub fn serve_sharded(
    listener: TcpListener,
    runtime: Runtime,
    others: Vec<Shard>,
    config: WebSocketConfig,
    #[cfg(feature = "tls")] tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> impl Future<Output = io::Result<()>> {
    runtime.observer().listening(TRANSPORT);
    #[cfg(feature = "tls")]
    let security = tls.map(Into::into);
    #[cfg(not(feature = "tls"))]
    let security = None;
    accept_loop(listener, Shards::new(runtime, others), config, security)
}

/// Accepts `wss://` connections on `listener` until the task is dropped. The TLS
/// handshake has `handshake_timeout_ms` of its own, before the WebSocket upgrade's.
/// The certificate comes from `tls`'s resolver, so it can change while serving.
#[cfg(feature = "tls")]
pub fn serve_tls(
    listener: TcpListener,
    runtime: Runtime,
    config: WebSocketConfig,
    tls: std::sync::Arc<rustls::ServerConfig>,
) -> impl Future<Output = io::Result<()>> {
    runtime.observer().listening(TRANSPORT);
    accept_loop(
        listener,
        Shards::local_only(runtime),
        config,
        Some(tls.into()),
    )
}

async fn accept_loop(
    listener: TcpListener,
    mut shards: Shards,
    config: WebSocketConfig,
    security: Security,
) -> io::Result<()> {
    let admission = admission::Admission::new(
        config.connections_max,
        config.connections_per_ip_max,
        config.deflate_context_takeover_connections_max,
    );
    // Shared: every connection's task would otherwise hold a copy.
    let config = std::sync::Arc::new(config);
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
            shards.local().count_refusal(refusal);
        }
        let config = std::sync::Arc::clone(&config);
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let security = security.clone();
        let spawned = shards.spawn(stream, move |stream, runtime| async move {
            let served = match security {
                None => connection::run(stream, runtime, config, admitted).await,
                #[cfg(feature = "tls")]
                // Boxed: the TLS session is large, and every plain connection's task
                // would otherwise be sized for it.
                Some(acceptor) => {
                    Box::pin(tls::run(acceptor, stream, runtime, config, admitted)).await
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            };
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
        if let Err(err) = spawned {
            tracing::warn!(%peer, %err, "cannot hand a connection to its shard");
        }
    }
}
