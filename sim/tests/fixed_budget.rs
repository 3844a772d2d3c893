//! The fixed budget CI runs: seeds 1..=1000 of tier 1, each a different world
//! with its own faults, all keep every guarantee of `sim/README.md`.

use sluice_sim::{default_threads, sweep, RunOptions};

#[test]
fn seeds_1_to_1000_keep_every_guarantee() {
    let seeds: Vec<u64> = (1..=1000).collect();
    let outcome = sweep(
        &seeds,
        &RunOptions::default(),
        false,
        default_threads(),
        &|_| {},
    );
    let failures: Vec<String> = outcome
        .failures
        .iter()
        .map(|r| {
            let violation = r.outcome.as_ref().err().map(ToString::to_string);
            format!(
                "{}\n{}\nreplay: {}",
                r.plan,
                violation.unwrap_or_default(),
                r.replay_command()
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(outcome.passed, 1000);
}
