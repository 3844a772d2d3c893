//! The checker can fail. For each deliberate bug the core can be built with, a
//! sweep of at most 100 seeds reports a violation of the guarantee the bug breaks,
//! and replaying that seed reports the very same violation.

use sluice_sim::{run_seed, InjectedBug, Invariant, RunOptions};

fn caught(bug: InjectedBug, invariant: Invariant) {
    let options = RunOptions {
        injected_bug: Some(bug),
        ..RunOptions::default()
    };
    let failed = (1..=100)
        .map(|seed| run_seed(seed, &options))
        .find(|report| !report.passed())
        .unwrap_or_else(|| panic!("no violation in seeds 1..=100 with {bug} injected"));
    let violation = failed.outcome.clone().unwrap_err();
    assert_eq!(violation.invariant, invariant, "{bug}: {violation}");
    assert_eq!(
        failed.replay_command(),
        format!(
            "cargo xtask sim --seed {} --inject-bug {bug}",
            failed.seed()
        )
    );
    let replayed = run_seed(failed.seed(), &options);
    assert_eq!(
        replayed.outcome,
        failed.outcome,
        "replay of {}",
        failed.replay_command()
    );
    assert_eq!(replayed.trace_hash, failed.trace_hash);
}

#[test]
fn an_update_before_the_snapshot_is_caught() {
    caught(
        InjectedBug::UpdateBeforeSnapshot,
        Invariant::StartBeforeLive,
    );
}

#[test]
fn a_record_dropped_on_resume_is_caught() {
    caught(InjectedBug::DropRecordOnResume, Invariant::NoSilentGap);
}

#[test]
fn a_delivery_after_unsubscribe_is_caught() {
    caught(
        InjectedBug::DeliverAfterUnsubscribe,
        Invariant::NothingAfterEnd,
    );
}

#[test]
fn a_forgotten_queue_bound_is_caught() {
    caught(InjectedBug::ForgetQueueBound, Invariant::QueueBound);
}

#[test]
fn a_move_without_resync_is_caught() {
    caught(InjectedBug::MoveWithoutResync, Invariant::NoSilentGap);
}

#[test]
fn without_an_injected_bug_the_same_seeds_pass() {
    for seed in 1..=20 {
        let report = run_seed(seed, &RunOptions::default());
        assert!(report.passed(), "seed {seed}: {:?}", report.outcome);
    }
}

#[test]
fn a_conflated_subscription_that_loses_its_latest_value_is_caught() {
    caught(InjectedBug::ConflationLosesLatest, Invariant::Liveness);
}

#[test]
fn a_history_that_drops_its_oldest_message_is_caught() {
    caught(InjectedBug::HistoryDropsOldest, Invariant::NoSilentGap);
}

#[test]
fn a_delta_chain_kept_across_a_resync_is_caught() {
    caught(InjectedBug::DeltaAcrossResync, Invariant::NoSilentGap);
}
