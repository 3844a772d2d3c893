//! Regression seeds for real bugs the simulator found in the core, all fixed since
//! (`sim/README.md`, "Core bugs found"). Each seed failed before its fix.

use std::collections::BTreeSet;

use sluice_sim::{run_seed, RunOptions};

/// Runs `seeds` with the default options: they must pass.
fn pass(seeds: &[u64]) {
    for &seed in seeds {
        let report = run_seed(seed, &RunOptions::default());
        report.assert_passed();
    }
}

/// The gateway used to queue a whole start at once. When recovered messages (here:
/// a fetched batch holding a record larger than `client_queue_bytes_max`) did not
/// fit the client's queue, it was closed as a slow consumer, and its resume replayed
/// the same start: it never caught up, even after the world had healed. Starts are
/// paced now.
#[test]
fn a_large_recovered_record_does_not_lock_the_client_out() {
    pass(&[13, 32, 62]);
}

/// Same bug with small frames: restoring a client's subscriptions queued every
/// subject's recovered messages in one go, more than its queue holds.
#[test]
fn a_restore_larger_than_the_queue_does_not_lock_the_client_out() {
    pass(&[15, 141, 156]);
}

/// When retention overtakes the gateway, `history` served cached messages from
/// before the hole and then live updates after it: records in between were skipped
/// without `resync` (for example history 184, then update 222; 188…210 never sent).
#[test]
fn history_after_retention_overtook_the_gateway_has_no_gap() {
    pass(&[1045, 3571, 4512, 5625]);
}

/// When retention overtakes the gateway, the unsolicited `resync`s of a partition's
/// subjects were sent in `HashMap` order (`on_topic_meta` walked `subscribers`),
/// which differed from run to run: the same seed gave a different trace.
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

/// A conflated subscription kept the message it held for its interval when its
/// subject moved partition: after the `resync`, with no snapshot to send, that
/// message of the old log went out as an update (a gap on the new log).
#[test]
fn a_conflated_message_held_across_a_move_is_dropped() {
    pass(&[54, 154, 273]);
}

/// A subject moved to another partition and back: the cache dropped its earlier
/// stint's messages on that partition, yet a `history` start claimed
/// `history_end` complete from the cache (its coverage began at the log's start).
#[test]
fn a_history_across_an_earlier_stint_is_not_claimed_complete() {
    pass(&[100]);
}
