//! CI's budget of tier 2 (`sim/README.md`): 50 seeds of the madsim end-to-end
//! simulation, each run twice to prove it replays exactly, and proof that its
//! checker can fail: an injected core bug is reported, and the printed replay
//! command reproduces the same violation. Runs `cargo xtask sim --tier e2e`'s own
//! command, so it builds the simulator in `target/sim` (about a minute cold).

use std::process::Output;

use xtask::sim_e2e_command;

fn run(args: &str) -> (bool, String) {
    let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
    let Output {
        status,
        stdout,
        stderr,
    } = sim_e2e_command(&args).output().expect("cargo runs");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    eprintln!("{}", String::from_utf8_lossy(&stderr));
    (status.success(), stdout)
}

/// One test, not two: the runs share one binary, which must not change under a
/// running sweep.
#[test]
fn fifty_e2e_seeds_pass_replay_exactly_and_an_injected_bug_is_caught() {
    let (ok, stdout) = run("--tier e2e --seeds 1..=50 --check-determinism");
    assert!(ok, "{stdout}");
    assert!(stdout.contains("50 passed, 0 failed"), "{stdout}");

    // Regression seeds (sim/README.md, "Bugs it found"): 107 failed while the SDK
    // let a late subscribe `ok` undo an unsubscribe.
    for seed in [107, 1107] {
        let (ok, stdout) = run(&format!("--tier e2e --seed {seed}"));
        assert!(ok, "{stdout}");
    }

    let bug = "drop-record-on-resume";
    let (ok, stdout) = run(&format!("--tier e2e --seeds 1..=100 --inject-bug {bug}"));
    assert!(!ok, "the injected bug went unnoticed:\n{stdout}");
    let replay = stdout
        .lines()
        .find_map(|line| line.strip_prefix("replay: cargo xtask sim "))
        .expect("a failure prints its replay command")
        .to_owned();
    let violation = stdout
        .lines()
        .find(|line| line.starts_with("invariant "))
        .expect("a failure prints the violation")
        .to_owned();
    assert!(replay.contains(&format!("--inject-bug {bug}")), "{replay}");

    let (ok, replayed) = run(&replay);
    assert!(!ok, "the replay passed:\n{replayed}");
    assert!(
        replayed.lines().any(|line| line == violation),
        "the replay found another violation than {violation:?}:\n{replayed}"
    );
}
