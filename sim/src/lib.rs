//! # sluice-sim
//!
//! Deterministic simulation of the Sluice gateway, tier 1: a seeded world drives
//! `sluice_core::Gateway` directly — virtual time, simulated apps with the SDK's
//! resume and dedupe, a partitioned log behind a simulated broker — under a fault
//! plan drawn from the seed, and checks the delivery guarantees after every step.
//! A failing seed replays exactly. `sim/README.md` is the specification of what
//! is checked; `cargo xtask sim` is the command line.
//!
//! ```
//! let report = sluice_sim::run_seed(7, &sluice_sim::RunOptions::default());
//! assert!(report.passed(), "{}", report.plan);
//! ```

mod broker;
mod check;
pub mod cli;
mod client;
mod coverage;
mod event;
mod ledger;
mod log;
mod plan;
mod reads;
mod run;
mod subjects;
mod sweep;
mod trace;
mod violation;
mod world;

pub use coverage::Coverage;
pub use plan::{
    recurring, FaultPlan, Mover, MoverPlacement, Recurring, TopicShape, SUBJECTS_PER_CLIENT_MAX,
};
pub use run::{run_seed, run_seed_twice, RunOptions, RunReport};
pub use sweep::{default_threads, sweep, SweepOutcome};
pub use trace::TraceLine;
pub use violation::{Invariant, Violation};

pub use sluice_core::testing::InjectedBug;
