//! # sluice-client-protocol
//!
//! The client half of the Sluice protocol, sans-IO: a [`ClientSession`] keeps a
//! client's requests in flight, its subscriptions with their resume points, drops
//! what a resume sends twice, and decides when and where to reconnect — with no
//! socket, no runtime and no clock. Time comes in as `now_ms` (any monotonic
//! origin); frames come in decoded and go out as [`ClientFrame`]s for the driver
//! to encode on whatever transport it has.
//!
//! `sluice-client` drives it from tokio over WebSocket and QUIC, the simulator
//! drives it from virtual time, and the benchmark's resuming subscribers use it,
//! so every Rust client keeps the same rules of `docs/protocol.md`.
//!
//! The whole run loop of a driver:
//!
//! ```
//! use sluice_client_protocol::{Carrier, ClientSession, Output, Request, SessionConfig};
//! use sluice_core::protocol::ServerFrame;
//!
//! let config = SessionConfig::with_servers(vec!["ws://127.0.0.1:8080/v1/ws".into()]);
//! // The driver opened the first connection itself (a WebSocket: the token rides
//! // on the upgrade request, and there is no 0-RTT).
//! let carrier = Carrier { token_in_band: false, early_data: false };
//! let mut session = ClientSession::connected(config, 0, carrier);
//! let mut now_ms = 0;
//!
//! let id = session.request(
//!     now_ms,
//!     Request::Subscribe { subjects: vec!["/vehicles/1/speed".into()], options: Default::default() },
//!     now_ms + 10_000,
//! );
//! // 1. Write what the session has to send (encode with the connection's encoding).
//! while let Some(frame) = session.poll_transmit() {
//!     # let _ = frame;
//!     // transport.send(encoding.encode_client(&frame))
//! }
//! // 2. Feed what arrives, and the passing of time.
//! session.handle_frame(now_ms, ServerFrame::Ok { id });
//! now_ms += 5;
//! if session.poll_timeout().is_some_and(|at| at <= now_ms) {
//!     session.handle_timeout(now_ms);
//! }
//! // 3. Act on the outputs: connect, disconnect, events for the app, answers.
//! while let Some(output) = session.poll_output() {
//!     match output {
//!         Output::Connect { server, token } => { /* open servers[server] */ }
//!         Output::Disconnect => { /* drop the connection */ }
//!         Output::Event(event) => { /* hand it to the application */ }
//!         Output::Answer { id, result } => { /* resolve the call `id` */ }
//!     }
//! }
//! assert!(session.is_subscribed("/vehicles/1/speed"));
//! ```

mod backoff;
mod event;
mod link;
mod options;
mod outcome;
mod request;
mod requests;
mod session;
mod subscriptions;

pub use event::{DisconnectReason, Event};
pub use link::Carrier;
pub use options::{PublishOptions, SubscribeOptions};
pub use outcome::{Ack, Rejection, SubscribeOutcome};
pub use request::{Answer, Request, RequestError};
pub use session::{ClientSession, Output, SessionConfig};
pub use sluice_core::protocol::ClientFrame;
