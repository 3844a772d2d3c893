//! Many seeds at once. Each seed is a world of its own, so seeds run on all cores
//! with nothing shared but the list of seeds; results are reported in seed order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use crate::run::{run_seed, run_seed_twice, RunOptions, RunReport};

/// The outcome of a sweep: how many seeds passed, and the failed runs by seed.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    pub passed: u64,
    pub failures: Vec<RunReport>,
}

/// Runs every seed (twice each with `check_determinism`) on `threads` threads,
/// calling `on_done` after each run.
pub fn sweep(
    seeds: &[u64],
    options: &RunOptions,
    check_determinism: bool,
    threads: usize,
    on_done: &(dyn Fn(&RunReport) + Sync),
) -> SweepOutcome {
    let next = AtomicUsize::new(0);
    let outcome = Mutex::new(SweepOutcome::default());
    thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else {
                    break;
                };
                let report = if check_determinism {
                    run_seed_twice(seed, options)
                } else {
                    run_seed(seed, options)
                };
                on_done(&report);
                let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
                if report.passed() {
                    outcome.passed += 1;
                } else {
                    outcome.failures.push(report);
                }
            });
        }
    });
    let mut outcome = outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    outcome.failures.sort_by_key(RunReport::seed);
    outcome
}

/// The number of threads to use by default: every core.
pub fn default_threads() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}
