//! Reading the Rust SDK's events in tests.

use sluice_client::{Event, Events, Message, MessageKind, SyncStatus};

use std::time::Duration;

use super::HANG_GUARD;

pub async fn next_event(events: &mut Events) -> Event {
    next_event_within(events, HANG_GUARD).await
}

/// [`next_event`] with another hang guard (a guard, not a speed goal).
pub async fn next_event_within(events: &mut Events, guard: Duration) -> Event {
    tokio::time::timeout(guard, events.next())
        .await
        .expect("an event within the hang guard")
        .expect("events stream open")
}

/// Reads and drops a client's events in the background, for a client whose events
/// the test does not look at (a publisher): unread, they would fill its buffer.
pub fn drain_in_background(mut events: Events) {
    tokio::spawn(async move { while events.next().await.is_some() {} });
}

/// Events about the connection and the subscriptions' state rather than data.
pub fn is_bookkeeping(event: &Event) -> bool {
    matches!(
        event,
        Event::Connected { .. }
            | Event::Disconnected { .. }
            | Event::Subscribed { .. }
            | Event::Unsubscribed { .. }
    )
}

/// The next message, skipping connection and subscription events.
pub async fn next_message(events: &mut Events) -> Message {
    loop {
        match next_event(events).await {
            Event::Message(message) => return message,
            other if is_bookkeeping(&other) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// After a lost connection: the `seq`s of the messages the resume recovered, up to
/// its `sync` status (which must not be `resync`).
pub async fn recovered_until_sync(events: &mut Events) -> Vec<u64> {
    let mut recovered = Vec::new();
    loop {
        match next_event(events).await {
            Event::Message(m) => {
                assert_eq!(m.kind, MessageKind::Recovered);
                recovered.push(m.seq);
            }
            Event::Status { status, .. } => {
                assert_eq!(status, SyncStatus::Sync);
                return recovered;
            }
            other if is_bookkeeping(&other) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// After a lost connection: the `seq`s of the next `count` messages, recovered
/// (up to `sync`) or, once the resume is done, live.
pub async fn resumed_then_live(events: &mut Events, count: usize) -> Vec<u64> {
    let mut seqs = recovered_until_sync(events).await;
    while seqs.len() < count {
        seqs.push(next_message(events).await.seq);
    }
    seqs
}

/// Reads a history start up to its `history_end` (asked for with
/// `SubscribeOptions::history_end`): the history messages, and whether the
/// gateway said the history is complete. Anything else before the end panics.
pub async fn history_until_end(events: &mut Events) -> (Vec<Message>, bool) {
    let mut history = Vec::new();
    loop {
        match next_event(events).await {
            Event::Message(m) => {
                assert_eq!(m.kind, MessageKind::History, "{m:?}");
                history.push(m);
            }
            Event::Status {
                status: SyncStatus::HistoryEnd { complete },
                ..
            } => return (history, complete),
            event if is_bookkeeping(&event) => {}
            other => panic!("unexpected {other:?} before history_end"),
        }
    }
}

/// A JSON value of about 2 KB of which `i` changes one field: consecutive values
/// differ a little, as protocol 1.1 deltas expect.
pub fn json_value(i: usize) -> String {
    let fields: Vec<String> = (0..40)
        .map(|f| format!(r#""field_{f}":"a steady value of field {f}, the same every time""#))
        .collect();
    format!(
        r#"{{"version":{i},"price":{},{}}}"#,
        100 + i % 7,
        fields.join(",")
    )
}
