//! Conflated subscriptions (protocol 1.1, `conflate_ms`): at most one live message
//! per interval, always the latest. Only conflated subscriptions have an entry
//! here, so the others' deliveries cost nothing extra; each entry holds at most
//! one message, and is dropped with its subscription.

use std::collections::{BTreeSet, HashMap};

use crate::ids::ClientId;
use crate::protocol::Message;
use crate::subject::Subject;

/// One conflated subscription.
#[derive(Debug)]
struct Conflated {
    interval_ms: u64,
    /// The earliest time the next message may go.
    next_ms: u64,
    /// The latest message not yet sent; replaced by each newer one.
    pending: Option<Message>,
}

/// What became of a live message offered to a conflated subscription.
#[derive(Debug)]
pub(super) enum Offer {
    /// Send it now: the interval since the last one has passed.
    SendNow,
    /// Kept as the latest; it goes when its interval ends.
    Held,
}

#[derive(Debug, Default)]
pub(super) struct Conflation {
    entries: HashMap<(ClientId, Subject), Conflated>,
    /// `(next_ms, client, subject)` of every entry holding a message.
    due: BTreeSet<(u64, ClientId, Subject)>,
}

impl Conflation {
    /// A new (or renewed) subscription conflated to `interval_ms`.
    pub fn start(&mut self, client: ClientId, subject: &Subject, interval_ms: u32) {
        self.stop(client, subject);
        self.entries.insert(
            (client, subject.clone()),
            Conflated {
                interval_ms: u64::from(interval_ms),
                next_ms: 0,
                pending: None,
            },
        );
    }

    /// The subscription ended (or its client left).
    pub fn stop(&mut self, client: ClientId, subject: &Subject) {
        if let Some(entry) = self.entries.remove(&(client, subject.clone())) {
            if entry.pending.is_some() {
                self.due.remove(&(entry.next_ms, client, subject.clone()));
            }
        }
    }

    /// Drops the message held for the subscription, if any: its position moved to
    /// another log (`resync`), where the held message means nothing.
    pub fn drop_held(&mut self, client: ClientId, subject: &Subject) {
        if let Some(entry) = self.entries.get_mut(&(client, subject.clone())) {
            if entry.pending.take().is_some() {
                self.due.remove(&(entry.next_ms, client, subject.clone()));
            }
        }
    }

    /// Every subscription of `client`.
    pub fn stop_client(&mut self, client: ClientId) {
        let subjects: Vec<Subject> = self
            .entries
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, s)| s.clone())
            .collect();
        for subject in subjects {
            self.stop(client, &subject);
        }
    }

    /// A live message for a conflated subscription, at `now_ms`. On
    /// [`Offer::SendNow`] the caller sends it and the interval starts again.
    pub fn offer(
        &mut self,
        client: ClientId,
        subject: &Subject,
        message: &Message,
        now_ms: u64,
    ) -> Offer {
        let Some(entry) = self.entries.get_mut(&(client, subject.clone())) else {
            return Offer::SendNow;
        };
        if entry.pending.is_none() && now_ms >= entry.next_ms {
            entry.next_ms = now_ms + entry.interval_ms;
            return Offer::SendNow;
        }
        if entry.pending.replace(message.clone()).is_none() {
            self.due.insert((entry.next_ms, client, subject.clone()));
        }
        Offer::Held
    }

    /// When the next held message is due, if any is held.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.due.first().map(|(at, _, _)| *at)
    }

    /// Takes every held message due by `now_ms`, each subscription's interval
    /// starting again from `now_ms`.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<(ClientId, Subject, Message)> {
        let mut due = Vec::new();
        while let Some((at, client, subject)) = self.due.first().cloned() {
            if at > now_ms {
                break;
            }
            self.due.pop_first();
            if let Some(entry) = self.entries.get_mut(&(client, subject.clone())) {
                entry.next_ms = now_ms + entry.interval_ms;
                if let Some(message) = entry.pending.take() {
                    due.push((client, subject, message));
                }
            }
        }
        due
    }

    /// Conflated subscriptions, and how many hold a message.
    pub fn len(&self) -> (usize, usize) {
        (self.entries.len(), self.due.len())
    }
}
