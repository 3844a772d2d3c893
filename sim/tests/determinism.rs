//! A seed is a complete description of a run: the same seed draws the same plan
//! and gives the same trace, so every failure can be replayed.

use sluice_sim::{run_seed, run_seed_twice, FaultPlan, RunOptions};

#[test]
fn a_seed_draws_the_same_plan_every_time() {
    for seed in [0, 1, 42, u64::MAX] {
        assert_eq!(FaultPlan::draw(seed), FaultPlan::draw(seed));
    }
}

#[test]
fn a_seed_run_twice_gives_the_same_trace() {
    for seed in 1..=20 {
        let report = run_seed_twice(seed, &RunOptions::default());
        assert!(
            report.passed(),
            "seed {seed}: {:?}\nreplay: {}",
            report.outcome,
            report.replay_command()
        );
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let a = run_seed(1, &RunOptions::default());
    let b = run_seed(2, &RunOptions::default());
    assert_ne!(a.trace_hash, b.trace_hash);
    assert_ne!(a.plan, b.plan);
}
