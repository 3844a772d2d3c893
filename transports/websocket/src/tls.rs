//! `wss://`: the TLS handshake in front of the WebSocket one.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use sluice_driver::{Refusal, Runtime};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::admission::Admitted;
use crate::config::WebSocketConfig;
use crate::connection;

pub async fn run(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    runtime: Runtime,
    config: Arc<WebSocketConfig>,
    admitted: Result<Admitted, Refusal>,
) -> io::Result<()> {
    let deadline = Duration::from_millis(config.handshake_timeout_ms);
    let stream = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(accepted) => accepted?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        }
    };
    connection::run(stream, runtime, config, admitted).await
}
