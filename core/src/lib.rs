//! # sluice-core
//!
//! The sans-IO heart of the Sluice gateway. It holds subscriptions, the snapshot and
//! message caches, and the per-client outbound queues; it routes broker records to
//! subscribers and turns publishes into produce commands. It never does I/O and never
//! reads a clock: the caller feeds it [`Input`]s with the current time and drains
//! [`Output`]s, in the manner of `quinn-proto` and `str0m`.
//!
//! Errors returned by the gateway mean bad input from the caller; a panic is a bug.
//! Nothing a client or a broker sends can make it panic.
//!
//! # The run loop
//!
//! The caller owns the sockets, the broker client and the clock. Everything that
//! happens becomes an [`Input`] stamped with `now_ms`; after each one the caller
//! drains [`Gateway::poll_output`], writes what [`Gateway::poll_transmit`] gives to
//! the woken clients, and sleeps until the next input or [`Gateway::poll_timeout`].
//! `sluice-driver` is this loop under tokio; the simulator runs it in virtual time.
//!
//! ```no_run
//! use bytes::Bytes;
//! use sluice_core::protocol::Encoding;
//! use sluice_core::{BrokerCommand, ClientId, Gateway, GatewayConfig, Input, Output};
//!
//! /// What the caller's I/O delivered since the last turn (sockets, broker, Portal).
//! fn next_event(_wait_until_ms: Option<u64>) -> Option<Input> {
//!     None
//! }
//! fn now_ms() -> u64 {
//!     0
//! }
//! fn send_to_broker(_command: BrokerCommand) {}
//! fn write_to_client(_client: ClientId, _bytes: Vec<u8>) {}
//! fn close_connection(_client: ClientId, _code: u16, _reason: &str) {}
//!
//! let mut gateway = Gateway::new(GatewayConfig::default());
//! let client = ClientId(1);
//! gateway
//!     .handle_input(now_ms(), Input::Connect { client, encoding: Encoding::Json })
//!     .expect("a new client id");
//! gateway
//!     .handle_input(
//!         now_ms(),
//!         Input::ClientData { client, data: Bytes::from_static(br#"{"op":"ping","id":1}"#) },
//!     )
//!     .expect("client data is never refused");
//!
//! loop {
//!     // 1. Drain what the gateway wants done.
//!     while let Some(output) = gateway.poll_output() {
//!         match output {
//!             Output::Wake { client } => {
//!                 // 2. Write the woken client's frames (reading makes room: a paused
//!                 //    subscription start goes on, so drain `poll_output` again).
//!                 while let Some(frame) = gateway.poll_transmit(client) {
//!                     write_to_client(client, Encoding::Json.encode_server(&frame));
//!                 }
//!             }
//!             Output::Close { client, code, reason } => close_connection(client, code, reason),
//!             Output::Broker(command) => send_to_broker(command),
//!             Output::SubjectMoved { .. } | Output::Authenticate { .. } => {}
//!         }
//!     }
//!     // 3. Wait for the next input or the next deadline, whichever comes first.
//!     let deadline_ms = gateway.poll_timeout();
//!     match next_event(deadline_ms) {
//!         Some(input) => gateway.handle_input(now_ms(), input).expect("valid input"),
//!         None if deadline_ms.is_some_and(|at| at <= now_ms()) => gateway.handle_timeout(now_ms()),
//!         None => break,
//!     }
//! }
//! ```

pub mod auth;
pub mod broker;
pub mod cache;
pub mod config;
mod gateway;
pub mod ids;
mod input;
mod output;
pub mod partitioner;
pub mod protocol;
pub mod stats;
pub mod subject;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_bucket;

pub use auth::{AuthFailure, Grant, Permissions, SubjectPattern, TokenVerifier};
pub use broker::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, FetchRequest, Fetched, Header,
    PartitionMeta, ProduceRequest,
};
pub use config::GatewayConfig;
pub use gateway::{
    compile_pattern, ExposureChange, ExposureError, Gateway, GatewayError, SubjectInfo, TopicInfo,
};
pub use ids::{ClientId, FetchId, ProduceId, RequestId};
pub use input::Input;
pub use output::{close_code, Output};
pub use stats::GatewayStats;
pub use subject::{Subject, SubjectError};
