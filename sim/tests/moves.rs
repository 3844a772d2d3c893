//! Subjects that move partition: seeds whose plan has a second producer writing
//! keys elsewhere (`Mover`) really move subjects, and keep every guarantee of
//! `sim/README.md`; seeds without one never move a subject.

use sluice_sim::{run_seed, FaultPlan, RunOptions};

#[test]
fn seeds_with_a_mover_move_subjects_and_keep_every_guarantee() {
    let mut moves_with_mover = 0;
    let mut seeds_with_mover = 0;
    for seed in 1..=150 {
        let plan = FaultPlan::draw(seed);
        let mover = plan
            .topics
            .iter()
            .any(|t| t.mover.is_some() && t.partitions > 1);
        let report = run_seed(seed, &RunOptions::default());
        report.assert_passed();
        if mover {
            seeds_with_mover += 1;
            moves_with_mover += report.coverage.moves;
        } else {
            assert_eq!(report.coverage.moves, 0, "seed {seed} has no mover");
        }
    }
    assert!(
        seeds_with_mover >= 10,
        "{seeds_with_mover} seeds with a mover"
    );
    assert!(
        moves_with_mover >= 10 * seeds_with_mover,
        "{moves_with_mover} moves in {seeds_with_mover} seeds"
    );
}

#[test]
fn a_mover_is_printed_with_the_plan() {
    let seed = (1..)
        .find(|&s| FaultPlan::draw(s).topics.iter().any(|t| t.mover.is_some()))
        .unwrap();
    let text = FaultPlan::draw(seed).to_string();
    assert!(text.contains("of keyed writes"), "{text}");
}
