//! What a run exercised: counts of the interesting things that happened, so a sweep
//! shows that its faults really bit (a checker that never sees a resync proves
//! little about resyncs).

use std::fmt;
use std::ops::AddAssign;

/// Declares the counters once: the struct, their sum over runs, and how they print.
macro_rules! counters {
    ($($field:ident: $label:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Coverage {
            $(pub $field: u64,)*
        }

        impl AddAssign for Coverage {
            fn add_assign(&mut self, other: Coverage) {
                $(self.$field += other.$field;)*
            }
        }

        impl fmt::Display for Coverage {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let parts = [$(format!("{} {}", self.$field, $label)),*];
                f.write_str(&parts.join(", "))
            }
        }
    };
}

counters! {
    disconnects: "disconnects",
    slow_consumer_closes: "slow-consumer closes",
    gateway_restarts: "gateway restarts",
    snapshots: "snapshots",
    history: "history",
    recovered: "recovered",
    updates: "updates",
    deltas: "deltas",
    syncs: "syncs",
    resyncs: "resyncs",
    history_ends: "history ends",
    history_ends_incomplete: "incomplete histories",
    moves: "subject moves",
    fetches: "fetches",
    start_pauses: "paced starts",
    acks: "acks",
    publish_errors: "publish errors",
}
