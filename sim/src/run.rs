//! One run of one seed: draw the plan, run the world, report.

use std::panic::{self, AssertUnwindSafe};

use crate::coverage::Coverage;
use crate::plan::FaultPlan;
use crate::trace::TraceLine;
use crate::violation::{Invariant, Violation};
use crate::world::World;

/// How to run a seed, beyond the seed itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every trace entry (for `--trace`), not only the last few.
    pub keep_full_trace: bool,
    /// Switch on one of the core's deliberate bugs, to see the checker catch it.
    pub injected_bug: Option<sluice_core::testing::InjectedBug>,
}

impl RunOptions {
    /// The command-line flags that replay these options (besides the seed).
    pub fn replay_flags(&self) -> String {
        if let Some(bug) = self.injected_bug {
            return format!(" --inject-bug {bug}");
        }
        String::new()
    }
}

/// What happened in one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub plan: FaultPlan,
    pub outcome: Result<(), Violation>,
    /// Hash of the whole trace: equal for two runs of the same seed.
    pub trace_hash: u64,
    pub trace_entries: u64,
    /// The last trace entries (all of them with `keep_full_trace`).
    pub trace: Vec<TraceLine>,
    pub virtual_ms: u64,
    pub coverage: Coverage,
    /// The flags that replay the run's options, e.g. ` --inject-bug NAME`.
    pub replay_flags: String,
}

impl RunReport {
    pub fn seed(&self) -> u64 {
        self.plan.seed
    }

    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// For tests: panics with the plan, the violation and the replay command
    /// unless the run passed.
    pub fn assert_passed(&self) {
        assert!(
            self.passed(),
            "{}\n{:?}\nreplay: {}",
            self.plan,
            self.outcome,
            self.replay_command()
        );
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo xtask sim --seed {}{}",
            self.seed(),
            self.replay_flags
        )
    }
}

/// Runs `seed` once. A panic (in the gateway or the world) is reported as a
/// violation, not propagated, so a sweep goes on.
pub fn run_seed(seed: u64, options: &RunOptions) -> RunReport {
    let plan = FaultPlan::draw(seed);
    let mut world = World::new(plan.clone(), options.clone());
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| world.run())).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a non-string panic");
        Err(Violation {
            invariant: Invariant::NoPanic,
            at_ms: world.now_ms(),
            detail: format!("panicked: {message}"),
        })
    });
    RunReport {
        plan,
        outcome,
        trace_hash: world.trace().hash(),
        trace_entries: world.trace().entries(),
        trace: world.trace().lines(),
        virtual_ms: world.now_ms(),
        coverage: world.coverage(),
        replay_flags: options.replay_flags(),
    }
}

/// Runs `seed` twice and compares the traces: a seed must replay exactly.
pub fn run_seed_twice(seed: u64, options: &RunOptions) -> RunReport {
    let first = run_seed(seed, options);
    let second = run_seed(seed, options);
    if (first.trace_hash, first.trace_entries, &first.outcome)
        == (second.trace_hash, second.trace_entries, &second.outcome)
    {
        return first;
    }
    let detail = format!(
        "two runs differ: trace {:016x} ({} entries, {}) vs {:016x} ({} entries, {})",
        first.trace_hash,
        first.trace_entries,
        outcome_text(&first.outcome),
        second.trace_hash,
        second.trace_entries,
        outcome_text(&second.outcome)
    );
    RunReport {
        outcome: Err(Violation {
            invariant: Invariant::Determinism,
            at_ms: first.virtual_ms.min(second.virtual_ms),
            detail,
        }),
        ..first
    }
}

fn outcome_text(outcome: &Result<(), Violation>) -> String {
    match outcome {
        Ok(()) => "passed".to_owned(),
        Err(v) => v.to_string(),
    }
}
