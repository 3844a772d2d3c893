//! # sluice-sim-kafka: the Kafka client the adapter is built against
//!
//! In every normal build this crate *is* rdkafka (`pub use rdkafka::*`). Built with
//! `--cfg madsim` (the simulator's tier 2, `cargo xtask sim --tier e2e --broker
//! kafka`), it is a simulated client with the same API, for the subset of rdkafka
//! 0.39 that `brokers/kafka` calls, talking to a [`cluster::SimCluster`] that keeps
//! Kafka's rules and takes faults by seed. `brokers/kafka` depends on this crate
//! under the name `rdkafka`, so the adapter's code is the same in both builds.
//!
//! Why not madsim-rdkafka: `docs/decisions/kafka-under-simulation.md`.

#[cfg(not(madsim))]
pub use rdkafka::*;

#[cfg(madsim)]
mod sim;
#[cfg(madsim)]
pub use sim::*;
