//! Regression seeds for real bugs the simulator found in the core. Each test is
//! ignored until the core is fixed; then it must pass and lose its `#[ignore]`
//! (and, for the start burst, `FaultPlan::draw` its workaround).

use std::collections::BTreeSet;

use sluice_sim::{run_seed, KnownCoreBug, RunOptions};

/// Runs `seeds` without the plan's workaround for `bug`: they must pass.
fn exposed(bug: KnownCoreBug, seeds: &[u64]) {
    let options = RunOptions {
        exposed_core_bugs: vec![bug],
        ..RunOptions::default()
    };
    for &seed in seeds {
        let report = run_seed(seed, &options);
        assert!(
            report.passed(),
            "{}\n{:?}\nreplay: {}",
            report.plan,
            report.outcome,
            report.replay_command()
        );
    }
}

/// The gateway queues a whole start at once. When recovered messages (here: a
/// fetched batch holding a record larger than `client_queue_bytes_max`) do not fit
/// the client's queue, it is closed as a slow consumer, and its resume replays the
/// same start: it never catches up, even after the world has healed.
#[test]
#[ignore = "core bug: a start larger than the client queue closes the client on every resume (liveness), see lead"]
fn a_large_recovered_record_does_not_lock_the_client_out() {
    exposed(KnownCoreBug::StartBurst, &[13, 32, 62]);
}

/// Same bug with small frames: restoring a client's subscriptions queues every
/// subject's recovered messages in one go, more than its queue holds.
#[test]
#[ignore = "core bug: a restore larger than the client queue closes the client on every reconnect (liveness), see lead"]
fn a_restore_larger_than_the_queue_does_not_lock_the_client_out() {
    exposed(KnownCoreBug::StartBurst, &[15, 141, 156]);
}

/// When retention overtakes the gateway, `history` serves cached messages from
/// before the hole and then live updates after it: records in between are skipped
/// without `resync` (for example history 184, then update 222; 188…210 never sent).
#[test]
fn history_after_retention_overtook_the_gateway_has_no_gap() {
    exposed(KnownCoreBug::HistoryGap, &[1045, 3571, 4512, 5625]);
}

/// When retention overtakes the gateway, the unsolicited `resync`s of a partition's
/// subjects are sent in `HashMap` order (`on_topic_meta` walks `subscribers`), which
/// differs from run to run: the same seed gives a different trace.
#[test]
fn resyncs_after_retention_replay_in_the_same_order() {
    for seed in [52, 93, 147] {
        let hashes: BTreeSet<u64> = (0..8)
            .map(|_| run_seed(seed, &RunOptions::default()))
            .inspect(|r| assert!(r.passed(), "seed {seed}: {:?}", r.outcome))
            .map(|r| r.trace_hash)
            .collect();
        assert_eq!(
            hashes.len(),
            1,
            "seed {seed} gave {} different traces",
            hashes.len()
        );
    }
}
