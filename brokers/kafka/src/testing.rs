//! Deliberate adapter bugs (feature `testing`), which the simulator's tier 2 must
//! catch: `cargo xtask sim --tier e2e --broker kafka --inject-bug NAME`. Proof that
//! the simulation exercises the adapter's recovery paths; never in a release.

use std::sync::atomic::{AtomicU8, Ordering};

/// A bug to switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaBug {
    /// A read of old offsets (resume, history) starts one record late.
    FetchSkipsFirst,
    /// Records retention deleted before the gateway read them are skipped
    /// without telling the core: subscribers see a gap and no `resync`.
    RetentionGapUnannounced,
}

impl KafkaBug {
    pub const ALL: [KafkaBug; 2] = [KafkaBug::FetchSkipsFirst, KafkaBug::RetentionGapUnannounced];

    pub fn name(self) -> &'static str {
        match self {
            KafkaBug::FetchSkipsFirst => "kafka-fetch-skips-first",
            KafkaBug::RetentionGapUnannounced => "kafka-retention-gap-unannounced",
        }
    }

    pub fn from_name(name: &str) -> Option<KafkaBug> {
        KafkaBug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

/// The bug switched on in this process (0: none).
static INJECTED: AtomicU8 = AtomicU8::new(0);

/// Switches `bug` on for every session of this process.
pub fn inject_bug(bug: KafkaBug) {
    INJECTED.store(bug as u8 + 1, Ordering::Relaxed);
}

pub(crate) fn injected(bug: KafkaBug) -> bool {
    INJECTED.load(Ordering::Relaxed) == bug as u8 + 1
}
