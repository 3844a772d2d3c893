//! # sluice-sim-e2e: tier 2 of the simulator
//!
//! The real WebSocket adapter, runtime and Rust client SDK, run by madsim over
//! simulated TCP with a durable simulated log server, under seeded faults: gateway
//! crashes and restarts, log server restarts, network partitions between clients
//! and gateways and between gateways and the log server, and dropped connections.
//! Every SDK event is checked against the log as it happens. See `sim/README.md`.
//!
//! The cluster only exists in a `--cfg madsim` build (`cargo xtask sim --tier
//! e2e`, target dir `target/sim`); a normal build has just the parts that do not
//! need the simulator (the wire, the write-ahead log format, the checker, the
//! broker link), with their unit tests.

pub mod broker_link;
pub mod check;
pub mod ledger;
pub mod plan;
pub mod wal;
pub mod wire;

#[cfg(madsim)]
mod app;
#[cfg(madsim)]
mod kafka_world;
#[cfg(madsim)]
mod log_server;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
mod world;
