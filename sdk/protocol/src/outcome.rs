//! What a successful request gives back.

use sluice_core::protocol::ErrorCode;
use sluice_core::Epoch;

/// Kafka's acknowledgement of a publish: where the message was written. The same
/// `(epoch, seq)` arrives on the subject's messages, so a publisher can recognise
/// its own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub epoch: Epoch,
    pub seq: u64,
}

/// One subject of a subscribe that the gateway refused; the others went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub subject: String,
    pub code: ErrorCode,
    pub message: String,
}

/// The result of a subscribe the gateway accepted as a whole. Subjects are
/// refused one by one (invalid, not exposed, forbidden), so some may be listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOutcome {
    pub rejected: Vec<Rejection>,
}

impl SubscribeOutcome {
    /// Whether every subject was subscribed.
    pub fn all_accepted(&self) -> bool {
        self.rejected.is_empty()
    }
}
