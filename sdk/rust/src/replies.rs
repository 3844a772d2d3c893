//! Request/reply: the inbox subjects of calls waiting for their reply, shared by
//! the [`crate::Client`] that makes the calls and the connection task that hands
//! each reply over instead of putting it in the application's events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use sluice_client_protocol::Event;
use sluice_core::protocol::Message;
use tokio::sync::oneshot;

/// Calls waiting, by their inbox subject. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Replies {
    waiting: Arc<Mutex<HashMap<Arc<str>, oneshot::Sender<Message>>>>,
    /// How many wait, so that a client making no calls never takes the lock.
    count: Arc<AtomicUsize>,
}

impl Replies {
    /// Waits for the first message on `inbox`.
    pub fn register(&self, inbox: &str) -> oneshot::Receiver<Message> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(Arc::from(inbox), tx);
        self.count.fetch_add(1, Ordering::Relaxed);
        rx
    }

    /// The call on `inbox` is over, answered or not.
    pub fn forget(&self, inbox: &str) {
        if self.lock().remove(inbox).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Takes `event` if it belongs to a call: its reply (handed to the call), or
    /// the bookkeeping of its inbox subscription, which is no business of the
    /// application's. Else gives it back.
    pub fn claim(&self, event: Event) -> Option<Event> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return Some(event);
        }
        let subject = match &event {
            Event::Message(message) => &message.subject,
            Event::Subscribed { subject, .. }
            | Event::Unsubscribed { subject }
            | Event::Status { subject, .. } => subject,
            _ => return Some(event),
        };
        let mut waiting = self.lock();
        if !waiting.contains_key(&**subject) {
            return Some(event);
        }
        if let Event::Message(message) = event {
            if let Some(call) = waiting.remove(&*message.subject) {
                self.count.fetch_sub(1, Ordering::Relaxed);
                let _ = call.send(message);
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, oneshot::Sender<Message>>> {
        // Nothing panics while holding it.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whose inbox a client reads: its token's `sub` (the gateway lets a token read
/// only `/<inbox_topic>/<sub>/…`), or `anon` without a readable one (a gateway
/// without `[auth]` checks nothing).
pub(crate) fn inbox_owner(token: Option<&str>) -> String {
    token
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims.get("sub")?.as_str().map(str::to_owned))
        .filter(|sub| !sub.is_empty() && !sub.contains('/'))
        .unwrap_or_else(|| "anon".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_the_tokens_sub() {
        // {"alg":"HS256"} . {"sub":"ann","exp":1} . signature
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJleHAiOjF9.c2ln";
        assert_eq!(inbox_owner(Some(token)), "ann");
        assert_eq!(inbox_owner(None), "anon");
        assert_eq!(inbox_owner(Some("not a jwt")), "anon");
    }
}
