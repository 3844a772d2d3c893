//! Which subjects the application is subscribed to and the last message it got on
//! each: enough to restore every subscription after a reconnect without a gap, and
//! to drop what a resume sends twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use sluice_core::protocol::fossil_delta;
use sluice_core::protocol::{Message, ResumePoint, SubscribeItem};

use crate::options::Kept;

/// Subscribed subjects and their resume points, owned by the session.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// Ordered, so that restoring (and a simulated run) is deterministic.
    subjects: BTreeMap<Arc<str>, Subscribed>,
}

#[derive(Debug)]
struct Subscribed {
    /// `None` until the first message on the subject arrives.
    point: Option<ResumePoint>,
    /// What it asked besides its start (headers, conflation, deltas): restored the
    /// same way.
    kept: Kept,
    /// With deltas: the last value the gateway sent on this connection, which the
    /// next delta applies to.
    delta_base: Option<Bytes>,
}

/// The largest value a delta may make: a bound on what a malformed delta can
/// make the client allocate.
const DELTA_VALUE_BYTES_MAX: usize = 64 << 20;

impl Subscriptions {
    /// The gateway confirmed an application's subscribe. On a subject already
    /// subscribed this is a renewal: the gateway sends its start (snapshot or
    /// history) again, which the application asked for, so the point is cleared to
    /// let it through even if it is older than what was seen.
    pub(crate) fn subscribed(&mut self, subject: &str, kept: Kept) {
        match self.subjects.get_mut(subject) {
            Some(subscribed) => {
                subscribed.point = None;
                subscribed.kept = kept;
                subscribed.delta_base = None;
            }
            None => {
                let subscribed = Subscribed {
                    point: None,
                    kept,
                    delta_base: None,
                };
                self.subjects.insert(Arc::from(subject), subscribed);
            }
        }
    }

    /// The application unsubscribed, or the gateway refused to restore the
    /// subscription. Forgets the resume point: a later subscribe starts afresh.
    pub(crate) fn unsubscribed(&mut self, subject: &str) {
        self.subjects.remove(subject);
    }

    pub(crate) fn is_subscribed(&self, subject: &str) -> bool {
        self.subjects.contains_key(subject)
    }

    /// Decides whether `message` reaches the application, and records it as the
    /// subject's resume point if so. Dropped: messages on subjects not subscribed
    /// (stragglers after an unsubscribe) and duplicates, meaning the same epoch as
    /// the last message seen and a `seq` not above it. A different epoch is a new
    /// log (the topic was recreated), so its offsets are not comparable and the
    /// message is taken.
    pub(crate) fn accept(&mut self, message: &Message) -> bool {
        let Some(Subscribed { point, .. }) = self.subjects.get_mut(&*message.subject) else {
            return false;
        };
        if let Some(last) = point {
            if last.epoch == message.epoch && message.seq <= last.seq {
                return false;
            }
        }
        *point = Some(ResumePoint {
            epoch: message.epoch.clone(),
            seq: message.seq,
        });
        true
    }

    /// The gateway could not honour the resume point and sends the snapshot next.
    /// That snapshot is the truth from now on, even if it is older than what was
    /// seen (say, a lagging gateway), so the point is cleared to let it through.
    pub(crate) fn resynced(&mut self, subject: &str) {
        if let Some(subscribed) = self.subjects.get_mut(subject) {
            subscribed.point = None;
            subscribed.delta_base = None;
        }
    }

    /// A new connection: the gateway starts every delta chain afresh.
    pub(crate) fn new_connection(&mut self) {
        for subscribed in self.subjects.values_mut() {
            subscribed.delta_base = None;
        }
    }

    /// Gives a message of a delta subscription its whole value: a delta is applied
    /// to the value before it, and every value is kept for the next delta. Every
    /// message of the connection goes through here, in order, duplicates included
    /// (the gateway's chain counts them). An error means the gateway sent a delta
    /// that cannot be applied.
    pub(crate) fn undelta(&mut self, message: &mut Message) -> Result<(), String> {
        let Some(subscribed) = self.subjects.get_mut(&*message.subject) else {
            return Ok(());
        };
        if message.delta {
            let (Some(base), Some(delta)) = (&subscribed.delta_base, &message.data) else {
                return Err(format!(
                    "a delta on {} with no value before it",
                    message.subject
                ));
            };
            let value = fossil_delta::apply(base, delta, DELTA_VALUE_BYTES_MAX)
                .map_err(|e| format!("delta on {}: {e}", message.subject))?;
            message.data = Some(Bytes::from(value));
            message.delta = false;
        }
        if subscribed.kept.delta {
            subscribed.delta_base = message.data.clone();
        }
        Ok(())
    }

    /// The subscribe items that restore every subscription on a new connection,
    /// grouped by what they keep (one request each): with `resume` where a
    /// message was seen, plain otherwise, by subject.
    pub(crate) fn restore_items(&self) -> BTreeMap<Kept, Vec<SubscribeItem>> {
        let mut groups: BTreeMap<Kept, Vec<SubscribeItem>> = BTreeMap::new();
        for (subject, subscribed) in &self.subjects {
            groups
                .entry(subscribed.kept)
                .or_default()
                .push(SubscribeItem {
                    subject: subject.to_string(),
                    resume: subscribed.point.clone(),
                });
        }
        groups
    }

    /// The subscribed subjects, in order.
    pub(crate) fn subjects(&self) -> impl Iterator<Item = &str> {
        self.subjects.keys().map(|subject| &**subject)
    }

    pub(crate) fn len(&self) -> usize {
        self.subjects.len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sluice_core::protocol::MessageKind;
    use sluice_core::Epoch;

    use super::*;

    /// Every item a restore sends, in order.
    fn restored(state: &Subscriptions) -> Vec<SubscribeItem> {
        state.restore_items().into_values().flatten().collect()
    }

    fn message(subject: &str, epoch: &str, seq: u64, kind: MessageKind) -> Message {
        Message {
            delta: false,
            subject: Arc::from(subject),
            data: Some(Bytes::from(format!("{epoch}@{seq}"))),
            seq,
            epoch: Epoch::new(epoch),
            kind,
            headers: None,
            headers_truncated: false,
            origin: None,
        }
    }

    fn update(subject: &str, epoch: &str, seq: u64) -> Message {
        message(subject, epoch, seq, MessageKind::Update)
    }

    fn point(epoch: &str, seq: u64) -> Option<ResumePoint> {
        Some(ResumePoint {
            epoch: Epoch::new(epoch),
            seq,
        })
    }

    #[test]
    fn a_subject_never_seen_is_restored_with_a_plain_subscribe() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert_eq!(
            restored(&state),
            vec![SubscribeItem {
                subject: "/a/1".into(),
                resume: None
            }]
        );
    }

    #[test]
    fn a_subject_is_restored_from_the_last_message_seen() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        state.subscribed("/b", Kept::default());
        assert!(state.accept(&message("/a/1", "e1", 4, MessageKind::Snapshot)));
        assert!(state.accept(&update("/a/1", "e1", 9)));
        assert_eq!(
            restored(&state),
            vec![
                SubscribeItem {
                    subject: "/a/1".into(),
                    resume: point("e1", 9)
                },
                SubscribeItem {
                    subject: "/b".into(),
                    resume: None
                },
            ]
        );
    }

    #[test]
    fn a_resumed_message_at_or_below_the_last_seq_of_the_same_epoch_is_dropped() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        assert!(!state.accept(&message("/a/1", "e1", 10, MessageKind::Recovered)));
        assert!(!state.accept(&message("/a/1", "e1", 7, MessageKind::Recovered)));
        assert!(state.accept(&message("/a/1", "e1", 11, MessageKind::Recovered)));
        assert_eq!(restored(&state)[0].resume, point("e1", 11));
    }

    #[test]
    fn a_dropped_duplicate_does_not_move_the_resume_point() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        assert!(!state.accept(&update("/a/1", "e1", 3)));
        assert_eq!(restored(&state)[0].resume, point("e1", 10));
    }

    #[test]
    fn a_new_epoch_is_taken_even_with_a_lower_seq() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 500)));
        assert!(state.accept(&message("/a/1", "e2", 0, MessageKind::Snapshot)));
        assert_eq!(restored(&state)[0].resume, point("e2", 0));
    }

    #[test]
    fn subjects_are_deduplicated_independently() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        state.subscribed("/a/2", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        assert!(state.accept(&update("/a/2", "e1", 5)));
        assert!(!state.accept(&update("/a/2", "e1", 5)));
        assert!(state.accept(&update("/a/2", "e1", 6)));
    }

    #[test]
    fn a_tombstone_moves_the_resume_point() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        let mut tombstone = update("/a/1", "e1", 3);
        tombstone.data = None;
        assert!(state.accept(&tombstone));
        assert_eq!(restored(&state)[0].resume, point("e1", 3));
    }

    #[test]
    fn messages_on_subjects_not_subscribed_are_dropped() {
        let mut state = Subscriptions::default();
        assert!(!state.accept(&update("/a/1", "e1", 1)));
        state.subscribed("/a/1", Kept::default());
        state.unsubscribed("/a/1");
        assert!(!state.accept(&update("/a/1", "e1", 2)));
        assert!(restored(&state).is_empty());
        assert_eq!(state.len(), 0);
    }

    #[test]
    fn unsubscribe_forgets_the_point_so_a_new_subscribe_starts_afresh() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        state.unsubscribed("/a/1");
        state.subscribed("/a/1", Kept::default());
        assert_eq!(restored(&state)[0].resume, None);
        assert!(state.accept(&message("/a/1", "e1", 8, MessageKind::Snapshot)));
    }

    #[test]
    fn subscribing_again_renews_so_the_start_is_delivered_again() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        state.subscribed("/a/1", Kept::default());
        assert!(state.is_subscribed("/a/1"));
        assert!(state.accept(&message("/a/1", "e1", 8, MessageKind::History)));
        assert!(state.accept(&message("/a/1", "e1", 10, MessageKind::History)));
        assert!(!state.accept(&update("/a/1", "e1", 10)));
        assert_eq!(restored(&state)[0].resume, point("e1", 10));
    }

    #[test]
    fn after_a_resync_the_snapshot_is_taken_even_if_older() {
        let mut state = Subscriptions::default();
        state.subscribed("/a/1", Kept::default());
        assert!(state.accept(&update("/a/1", "e1", 10)));
        state.resynced("/a/1");
        assert_eq!(restored(&state)[0].resume, None);
        assert!(state.accept(&message("/a/1", "e1", 8, MessageKind::Snapshot)));
        assert!(!state.accept(&update("/a/1", "e1", 8)));
        assert!(state.accept(&update("/a/1", "e1", 9)));
    }

    #[test]
    fn a_resync_of_a_subject_not_subscribed_subscribes_nothing() {
        let mut state = Subscriptions::default();
        state.resynced("/a/1");
        assert!(!state.is_subscribed("/a/1"));
    }
}
