//! Running one seed, in a thread of its own with its own madsim runtime.
//!
//! A seed replays exactly only in a fresh process: tokio's `select!` draws its
//! branch order from a per-thread generator seeded from a process-wide counter, so
//! a second run in the same process could take other branches. Sweeps and the
//! determinism check therefore run every seed in a child process (`main.rs`).

use std::fmt;
use std::panic::AssertUnwindSafe;

use madsim::runtime::Runtime;
use madsim::Config;
use sluice_sim::{Invariant, Violation};

use crate::plan::{Broker, E2ePlan};
use crate::world;

/// How to run seeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct E2eOptions {
    /// A deliberate core bug switched on in every gateway (test builds only).
    pub injected_bug: Option<sluice_core::testing::InjectedBug>,
    /// What the gateways read from.
    pub broker: Broker,
    /// A deliberate bug in the Kafka adapter (with `broker` Kafka).
    pub kafka_bug: Option<sluice_kafka::testing::KafkaBug>,
}

/// What one seed did.
#[derive(Debug, Clone)]
pub struct E2eReport {
    pub plan: E2ePlan,
    pub options: E2eOptions,
    pub outcome: Result<Trace, Violation>,
}

/// The trace of a passing run: digest, entries, virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    pub digest: u64,
    pub entries: u64,
    pub virtual_ms: u64,
}

impl E2eReport {
    pub fn seed(&self) -> u64 {
        self.plan.seed
    }

    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The command that replays this seed.
    pub fn replay_command(&self) -> String {
        let mut command = format!("cargo xtask sim --tier e2e --seed {}", self.seed());
        if self.options.broker != Broker::LogServer {
            command.push_str(&format!(" --broker {}", self.options.broker.name()));
        }
        if let Some(bug) = self.options.injected_bug {
            command.push_str(&format!(" --inject-bug {}", bug.name()));
        }
        if let Some(bug) = self.options.kafka_bug {
            command.push_str(&format!(" --inject-bug {}", bug.name()));
        }
        command
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events (digest {:016x}), {} ms of virtual time",
            self.entries, self.digest, self.virtual_ms
        )
    }
}

/// Runs `seed` once. A panic anywhere in the cluster (gateway, SDK, log server)
/// is a failure of its own.
pub fn run_seed(seed: u64, options: E2eOptions) -> E2eReport {
    let plan = E2ePlan::draw(seed, options.broker);
    if let Some(bug) = options.kafka_bug {
        sluice_kafka::testing::inject_bug(bug);
    }
    let for_thread = plan.clone();
    let joined = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let runtime = Runtime::with_seed_and_config(seed, Config::default());
                runtime.block_on(world::run(for_thread, options))
            }))
        })
        .map_err(|error| error.to_string())
        .and_then(|thread| {
            thread
                .join()
                .map_err(|_| "the seed's thread died".to_owned())
        });
    let outcome = match joined {
        Ok(Ok(result)) => match result.violation {
            Some(violation) => Err(violation),
            None => Ok(Trace {
                digest: result.trace.0,
                entries: result.trace.1,
                virtual_ms: result.virtual_ms,
            }),
        },
        Ok(Err(panic)) => Err(Violation {
            invariant: Invariant::NoPanic,
            at_ms: 0,
            detail: panic_message(&panic),
        }),
        Err(error) => Err(Violation {
            invariant: Invariant::NoPanic,
            at_ms: 0,
            detail: error,
        }),
    };
    E2eReport {
        plan,
        options,
        outcome,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        format!("panic: {text}")
    } else if let Some(text) = panic.downcast_ref::<String>() {
        format!("panic: {text}")
    } else {
        "panic with a non-text payload".to_owned()
    }
}
