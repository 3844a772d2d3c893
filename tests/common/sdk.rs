//! Reading the Rust SDK's events in tests.

use sluice_client::{Event, Events, Message, MessageKind, SyncStatus};

use super::HANG_GUARD;

pub async fn next_event(events: &mut Events) -> Event {
    tokio::time::timeout(HANG_GUARD, events.next())
        .await
        .expect("an event within the hang guard")
        .expect("events stream open")
}

/// The next message, skipping connection events.
pub async fn next_message(events: &mut Events) -> Message {
    loop {
        match next_event(events).await {
            Event::Message(message) => return message,
            Event::Connected { .. } | Event::Disconnected { .. } => continue,
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
            Event::Disconnected { .. } | Event::Connected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
