//! Starts older than the message cache read back from the broker: a resume's gap
//! (sent as `recovered`), a history longer than the cache (sent as `history`) and the
//! search for where that history begins (`history_search`). At most
//! `fetches_in_flight_max` fetches run at a time; the rest wait their turn. Each
//! start then goes on from the cache (`starts`).

use std::sync::Arc;

use bytes::Bytes;

use super::client::{HistoryStart, PendingStart, Recovering};
use super::delivery::StartSend;
use super::fetches::{Fetch, FetchPurpose};
use super::Gateway;
use crate::broker::{BrokerCommand, BrokerError, BrokerRecord, Epoch, FetchRequest, Fetched};
use crate::ids::{ClientId, FetchId};
use crate::output::Output;
use crate::protocol::{Message, MessageKind, ServerFrame};
use crate::subject::Subject;

/// How sending a fetch's records to the client ended.
enum Sent {
    /// Every matching record up to the fetch's end; the last offset sent, if any.
    All(Option<u64>),
    /// The client's queue is full (the start is paused) or the client is gone.
    Stopped,
}

impl Gateway {
    /// Reads `subject`'s records `from_offset..=to_offset` of log `epoch` back from
    /// the broker for `client`'s start.
    pub(super) fn start_fetch(
        &mut self,
        client: ClientId,
        subject: Subject,
        epoch: Epoch,
        (from_offset, to_offset): (u64, u64),
        purpose: FetchPurpose,
    ) {
        let fetch = self.fetches.next_id();
        if let Some(sub) = self.clients.subscription_mut(client, &subject) {
            sub.recovering = Some(Recovering::Fetching(fetch));
        }
        // The log the subscriber's position is on (the caller checked it is current).
        let partition = self
            .routing
            .partition_by_epoch(subject.topic(), &epoch)
            .map_or(0, |(p, _)| p);
        self.outputs
            .push_back(Output::Broker(BrokerCommand::Fetch(FetchRequest {
                fetch,
                topic: Arc::from(subject.topic()),
                partition,
                epoch: epoch.clone(),
                key: subject.key().map(|k| Bytes::copy_from_slice(k.as_bytes())),
                from_offset,
                to_offset,
                // Only a search may begin below the log's start: it looks for it.
                from_log_start: matches!(purpose, FetchPurpose::HistorySearch(_)),
            })));
        self.fetches.start(Fetch {
            client,
            subject,
            epoch,
            to_offset,
            purpose,
        });
    }

    /// Fetches now if a slot is free, else waits for one as `pending` (the start
    /// goes on from there); false if the wait queue is full too.
    pub(super) fn fetch_or_wait(
        &mut self,
        client: ClientId,
        subject: &Subject,
        epoch: Epoch,
        range: (u64, u64),
        purpose: FetchPurpose,
        pending: PendingStart,
    ) -> bool {
        if self.fetches.has_slot(self.config.fetches_in_flight_max) {
            self.start_fetch(client, subject.clone(), epoch, range, purpose);
        } else if self.fetches.queue_has_room(self.config.fetch_queue_max) {
            if let Some(sub) = self.clients.subscription_mut(client, subject) {
                sub.recovering = Some(Recovering::Queued(pending));
            }
            self.fetches.wait(client, subject.clone());
        } else {
            return false;
        }
        true
    }

    pub(super) fn on_fetched(&mut self, fetch: FetchId, result: Result<Fetched, BrokerError>) {
        let Some(state) = self.fetches.finish(fetch) else {
            return;
        };
        self.run_fetch_result(fetch, state, result);
        self.start_queued_fetches();
    }

    fn run_fetch_result(
        &mut self,
        fetch: FetchId,
        state: Fetch,
        result: Result<Fetched, BrokerError>,
    ) {
        let Fetch {
            client,
            subject,
            epoch,
            to_offset,
            purpose,
        } = state;
        // The subscription may have ended or been renewed while the fetch ran.
        let recovering = self
            .clients
            .subscription_mut(client, &subject)
            .map(|s| s.recovering);
        if recovering != Some(Some(Recovering::Fetching(fetch))) {
            return;
        }
        let (kind, history) = match purpose {
            FetchPurpose::HistorySearch(search) => {
                return self.on_history_search(client, subject, epoch, to_offset, search, result);
            }
            FetchPurpose::Resume => (MessageKind::Recovered, None),
            FetchPurpose::History(start) => (MessageKind::History, Some(start)),
        };
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(_) => {
                self.resync(client, &subject);
                return;
            }
        };
        if history.is_none() {
            self.stats.resumes_fetched_total += u64::from(fetched.next_offset > to_offset);
        }
        let after = self
            .clients
            .subscription_mut(client, &subject)
            .and_then(|s| s.after);
        let from = after.map_or(0, |a| a + 1);
        let pending = history.map_or(PendingStart::Resume, PendingStart::History);
        let mut records = fetched.records;
        records.retain(|r| r.offset <= to_offset);
        let last = match self.send_fetched(client, &subject, &epoch, records, kind, pending) {
            Sent::All(last) => last.or(after),
            Sent::Stopped => return,
        };
        if fetched.next_offset <= from {
            // No progress would loop forever; the broker is misbehaving.
            self.resync(client, &subject);
            return;
        }
        if fetched.next_offset <= to_offset {
            // The broker stopped early; continue where it did.
            if let Some(sub) = self.clients.subscription_mut(client, &subject) {
                sub.after = last.max(Some(fetched.next_offset - 1));
            }
            let range = (fetched.next_offset, to_offset);
            let purpose = history.map_or(FetchPurpose::Resume, FetchPurpose::History);
            self.start_fetch(client, subject, epoch, range, purpose);
            return;
        }
        if let Some(sub) = self.clients.subscription_mut(client, &subject) {
            sub.after = Some(to_offset);
            sub.recovering = None;
        }
        // Everything up to `to_offset` was sent; the rest is in the cache or needs
        // another round.
        match history {
            Some(start) => self.finish_history(client, &subject, start),
            None => self.resume_from(client, &subject),
        };
    }

    /// Sends the fetched records of `subject` after the subscriber's position and up
    /// to the fetch's end, as `kind`, while they fit; pauses at `pending` when one
    /// does not (the rest is read again, or served from the cache, later).
    fn send_fetched(
        &mut self,
        client: ClientId,
        subject: &Subject,
        epoch: &Epoch,
        records: Vec<BrokerRecord>,
        kind: MessageKind,
        pending: PendingStart,
    ) -> Sent {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return Sent::Stopped;
        };
        let (after, wants_headers) = (sub.after, sub.headers);
        let key = subject.key().map(str::as_bytes);
        let mut last = None;
        for record in records {
            let matches = record.key.as_deref() == key && record.topic.as_ref() == subject.topic();
            if !matches || last.or(after).is_some_and(|a| record.offset <= a) {
                continue;
            }
            let (headers, headers_truncated) = if wants_headers {
                self.routing.header_bounds().apply(&record.headers)
            } else {
                (None, false)
            };
            let m = Message {
                delta: false,
                subject: subject.shared(),
                data: record.payload,
                seq: record.offset,
                epoch: epoch.clone(),
                kind,
                headers,
                headers_truncated,
                origin: None,
            };
            match self.send_start(client, ServerFrame::Message(m)) {
                StartSend::Sent => last = Some(record.offset),
                StartSend::NoRoom(cost) => {
                    if let Some(sub) = self.clients.subscription_mut(client, subject) {
                        sub.after = last.or(sub.after);
                    }
                    self.pause_start(client, subject, pending, cost);
                    return Sent::Stopped;
                }
                StartSend::Gone => return Sent::Stopped,
            }
        }
        Sent::All(last)
    }

    /// Starts that waited for a slot go on while slots are free.
    fn start_queued_fetches(&mut self) {
        while let Some(waiting) = self.fetches.next_waiting(self.config.fetches_in_flight_max) {
            let (client, subject) = (waiting.client, waiting.subject);
            let Some(sub) = self.clients.subscription_mut(client, &subject) else {
                continue;
            };
            if let Some(Recovering::Queued(pending)) = sub.recovering {
                sub.recovering = None;
                self.run_pending_start(client, &subject, pending);
            }
        }
    }

    /// A history start read from the log goes on from the subscriber's position:
    /// the rest of its messages below `until`, then the end of the history.
    pub(super) fn fetch_history(
        &mut self,
        client: ClientId,
        subject: &Subject,
        epoch: Epoch,
        start: HistoryStart,
        after: Option<u64>,
    ) -> bool {
        let range = (after.map_or(0, |a| a + 1), start.until - 1);
        let pending = PendingStart::History(start);
        let purpose = FetchPurpose::History(start);
        if self.fetch_or_wait(client, subject, epoch, range, purpose, pending) {
            return true;
        }
        // No room to read the rest: the position stays exact only with a resync.
        self.resync(client, subject)
    }
}
