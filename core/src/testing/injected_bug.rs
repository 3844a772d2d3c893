//! Deliberate bugs for the simulator's self-test: "the checker can fail". Each one
//! breaks one guarantee of `docs/protocol.md` in a small, realistic way; the
//! simulator must report a violation for each within a few seeds. Compiled only with
//! the test-only `testing` feature; without it the gateway has no trace of them.

use std::fmt;
use std::str::FromStr;

/// One deliberate bug, switched on per gateway with `Gateway::inject_bug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectedBug {
    /// A snapshot subscribe first sends the subject's latest cached message as a live
    /// `update`, then the snapshot: an update precedes the start.
    UpdateBeforeSnapshot,
    /// A resume served from the cache skips the first missed message, then says
    /// `sync`: a silent gap.
    DropRecordOnResume,
    /// `unsubscribe` answers `ok` but keeps the subscription, so messages follow.
    DeliverAfterUnsubscribe,
    /// A client's outbound queue grows past `client_queue_bytes_max` instead of the
    /// client being closed as a slow consumer.
    ForgetQueueBound,
    /// A record that moves its subject to another partition is sent to the
    /// subject's subscribers as a live `update` on the new epoch, without `resync`:
    /// their sequence jumps logs silently.
    MoveWithoutResync,
    /// A conflated subscription's held message is dropped when its interval ends
    /// instead of sent: the latest value never arrives.
    ConflationLosesLatest,
    /// A history read from the log leaves out its oldest message, and
    /// `history_end` still says it is complete: a silent shortfall.
    HistoryDropsOldest,
    /// A `resync` leaves a delta subscription's value in place, so the next
    /// message is a delta against a value the client dropped.
    DeltaAcrossResync,
}

impl InjectedBug {
    pub const ALL: [InjectedBug; 8] = [
        InjectedBug::UpdateBeforeSnapshot,
        InjectedBug::DropRecordOnResume,
        InjectedBug::DeliverAfterUnsubscribe,
        InjectedBug::ForgetQueueBound,
        InjectedBug::MoveWithoutResync,
        InjectedBug::ConflationLosesLatest,
        InjectedBug::HistoryDropsOldest,
        InjectedBug::DeltaAcrossResync,
    ];

    /// The kebab-case name used on command lines (`--inject-bug drop-record-on-resume`).
    pub fn name(self) -> &'static str {
        match self {
            InjectedBug::UpdateBeforeSnapshot => "update-before-snapshot",
            InjectedBug::DropRecordOnResume => "drop-record-on-resume",
            InjectedBug::DeliverAfterUnsubscribe => "deliver-after-unsubscribe",
            InjectedBug::ForgetQueueBound => "forget-queue-bound",
            InjectedBug::MoveWithoutResync => "move-without-resync",
            InjectedBug::ConflationLosesLatest => "conflation-loses-latest",
            InjectedBug::HistoryDropsOldest => "history-drops-oldest",
            InjectedBug::DeltaAcrossResync => "delta-across-resync",
        }
    }
}

impl fmt::Display for InjectedBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`InjectedBug::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown injected bug {0:?}; known: update-before-snapshot, drop-record-on-resume, deliver-after-unsubscribe, forget-queue-bound, move-without-resync, conflation-loses-latest, history-drops-oldest, delta-across-resync")]
pub struct UnknownInjectedBug(pub String);

impl FromStr for InjectedBug {
    type Err = UnknownInjectedBug;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        InjectedBug::ALL
            .into_iter()
            .find(|bug| bug.name() == name)
            .ok_or_else(|| UnknownInjectedBug(name.to_owned()))
    }
}
