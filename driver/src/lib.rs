//! # sluice-driver
//!
//! The thin layer between the sans-IO [`Gateway`] and tokio. It owns the gateway behind
//! a mutex, supplies the clock, runs the timer, pumps broker events in and broker
//! commands out, and wakes each client's writer when the core has frames for it.
//! Transports (WebSocket, QUIC) only move bytes: they call [`Runtime::connect`] and
//! then [`ClientHandle::receive`] / [`ClientHandle::next_frames`].

mod client_handle;
mod exposure;
mod observer;
mod runtime;
mod transport_counters;

pub use client_handle::{ClientHandle, Closed};
pub use observer::{CloseReason, NoObserver, Observer};
pub use runtime::{BrokerLink, Runtime};
pub use sluice_core::{Gateway, GatewayConfig, GatewayStats, TokenVerifier};
pub use transport_counters::Refusal;
