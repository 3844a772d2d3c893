//! # sluice-client
//!
//! The Rust client of the Sluice gateway: a tokio driver of the sans-IO
//! `sluice-client-protocol`, which holds every rule of the protocol. It keeps one connection to a gateway —
//! a WebSocket (`ws://`, `wss://`) or QUIC (`quic://`, which survives network
//! changes and reconnects in 0-RTT) —, subscribes and publishes, and rides out connection losses: it reconnects with
//! jittered exponential backoff, moving through the configured servers, restores
//! every subscription from the last message seen on it, and drops the duplicates a
//! resume may send, so the application sees each message once and never a silent
//! gap (a gap it cannot close is reported as [`SyncStatus::Resync`]).
//!
//! ```no_run
//! use sluice_client::{Client, ClientConfig, Event, PublishOptions};
//!
//! # async fn run() -> Result<(), sluice_client::ClientError> {
//! let config = ClientConfig::with_servers(["ws://gw-1:8080/v1/ws", "ws://gw-2:8080/v1/ws"]);
//! let (client, mut events) = Client::connect(config).await?;
//! // Answers travel with messages, so drain events while awaiting calls.
//! tokio::spawn(async move {
//!     while let Some(event) = events.next().await {
//!         match event {
//!             Event::Message(message) => println!("{}: {:?}", message.subject, message.data),
//!             other => println!("{other:?}"),
//!         }
//!     }
//! });
//! let outcome = client.subscribe(&["/vehicles/1/speed"]).await?;
//! assert!(outcome.all_accepted());
//! let ack = client
//!     .publish("/vehicles/1/speed", "42", PublishOptions::default())
//!     .await?;
//! println!("written at {}:{}", ack.epoch, ack.seq);
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Transports: `servers` may mix `ws://`, `wss://` and `quic://` URLs. TLS
//! (`wss://`, and QUIC, which always has it) trusts the Mozilla root CAs, or
//! exactly the certificates pinned in [`ClientConfig::tls_pins_sha256`]. Over
//! QUIC the connection survives the device changing networks (call
//! [`Client::rebind_quic`] when the OS reports a new one; NAT rebinding needs
//! nothing), and a reconnect to a gateway seen before starts in 0-RTT with the
//! resuming subscribes as early data, while publishes wait for the full handshake.
//! [`Client::stats`] counts both. TLS and QUIC are the default feature `quic`.
//!
//! Delivery: per subject, `seq` only grows within an epoch, so each message
//! arrives once; it goes back only after a [`SyncStatus::Resync`] or when the
//! application renews a subscription, as `docs/protocol.md` §6 allows. A publish
//! interrupted by a connection loss fails with [`ClientError::Disconnected`] and
//! its outcome is unknown; the client does not replay it.

mod client;
mod command;
mod config;
mod connection;
mod connector;
mod error;
mod event;
#[cfg(feature = "quic")]
mod quic_link;
mod replies;
mod stats;
mod transport;

pub use client::Client;
pub use config::{ClientConfig, ENDPOINT_PATH};
pub use error::ClientError;
pub use event::Events;
pub use sluice_client_protocol::{
    Ack, DisconnectReason, Event, PublishOptions, Rejection, SubscribeOptions, SubscribeOutcome,
};
pub use sluice_core::protocol::{Encoding, ErrorCode, Message, MessageKind, Qos, SyncStatus};
pub use sluice_core::Epoch;
pub use stats::ClientStats;
