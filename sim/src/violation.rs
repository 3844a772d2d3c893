//! What a run reports when a guarantee does not hold.

use std::fmt;

/// The guarantees the simulator checks; numbered as in `sim/README.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// 1. Snapshot, history or recovered messages come before any live update.
    StartBeforeLive,
    /// 2. Seqs strictly increase within a subscription.
    SeqIncreases,
    /// 3. No gap without a signalled `resync`: what arrives is exactly the log.
    NoSilentGap,
    /// 4. Nothing after the unsubscribe `ok` or after the close.
    NothingAfterEnd,
    /// 5. Every acknowledged publish is in the log once and reaches every subscriber.
    AckedPublish,
    /// 6. A client's queued bytes stay within `client_queue_bytes_max`.
    QueueBound,
    /// Every request gets exactly the answer the protocol promises.
    Answers,
    /// After healing, every subscriber reaches the head of the log in bounded time.
    Liveness,
    /// Nothing a client or the broker does makes the gateway panic.
    NoPanic,
    /// The same seed gives the same run.
    Determinism,
}

impl Invariant {
    pub fn title(self) -> &'static str {
        match self {
            Invariant::StartBeforeLive => "1 (start before live updates)",
            Invariant::SeqIncreases => "2 (seqs strictly increase)",
            Invariant::NoSilentGap => "3 (no gap without resync)",
            Invariant::NothingAfterEnd => "4 (nothing after unsubscribe or close)",
            Invariant::AckedPublish => "5 (acked publishes are in the log and delivered)",
            Invariant::QueueBound => "6 (client queue bound)",
            Invariant::Answers => "answers (one right answer per request)",
            Invariant::Liveness => "liveness (healed world converges)",
            Invariant::NoPanic => "no panic",
            Invariant::Determinism => "determinism (same seed, same run)",
        }
    }
}

/// A broken guarantee: which, when in virtual time, and who and what it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub at_ms: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} violated at {} ms: {}",
            self.invariant.title(),
            self.at_ms,
            self.detail
        )
    }
}

/// A broken guarantee before the world has stamped it with the time and the client.
pub(crate) type Broken = (Invariant, String);
