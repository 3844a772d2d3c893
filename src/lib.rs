//! The `sluice` binary's library half: configuration and wiring of a whole gateway
//! (broker + core runtime + transports), shared by `sluice serve` and the
//! end-to-end tests.

pub mod async_runtime;
pub mod config;
pub mod portal_wiring;
mod probe;
mod revocation_watch;
pub mod server;
mod shards;
