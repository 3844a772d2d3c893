//! Resumes older than the message cache: the gap is read back from the broker, at
//! most `fetches_in_flight_max` fetches at a time (the rest wait their turn), and
//! sent as `recovered`; then the resume goes on from the cache (`starts`).

use std::sync::Arc;

use bytes::Bytes;

use super::client::{PendingStart, Recovering};
use super::delivery::StartSend;
use super::fetches::Fetch;
use super::Gateway;
use crate::broker::{BrokerCommand, BrokerError, Epoch, FetchRequest, Fetched};
use crate::ids::{ClientId, FetchId};
use crate::output::Output;
use crate::protocol::{Message, MessageKind, ServerFrame};
use crate::subject::Subject;

impl Gateway {
    /// Reads `subject`'s records `from_offset..=to_offset` of log `epoch` back from
    /// the broker for `client`'s resume.
    pub(super) fn start_fetch(
        &mut self,
        client: ClientId,
        subject: Subject,
        epoch: Epoch,
        from_offset: u64,
        to_offset: u64,
    ) {
        let fetch = self.fetches.next_id();
        if let Some(sub) = self.clients.subscription_mut(client, &subject) {
            sub.recovering = Some(Recovering::Fetching(fetch));
        }
        // The log the subscriber's position is on (`catch_up` checked it is current).
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
            })));
        self.fetches.start(Fetch {
            client,
            subject,
            epoch,
            to_offset,
        });
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
        } = state;
        // The subscription may have ended or been renewed while the fetch ran.
        let Some((recovering, wants_headers)) = self
            .clients
            .subscription_mut(client, &subject)
            .map(|s| (s.recovering, s.headers))
        else {
            return;
        };
        if recovering != Some(Recovering::Fetching(fetch)) {
            return;
        }
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(_) => {
                self.resync(client, &subject);
                return;
            }
        };
        self.stats.resumes_fetched_total += u64::from(fetched.next_offset > to_offset);
        let after = self
            .clients
            .subscription_mut(client, &subject)
            .and_then(|s| s.after)
            .unwrap_or(0);
        let key = subject.key().map(str::as_bytes);
        let mut last = after;
        for record in fetched.records {
            let matches = record.key.as_deref() == key && record.topic.as_ref() == subject.topic();
            if !matches || record.offset <= last || record.offset > to_offset {
                continue;
            }
            let (headers, headers_truncated) = if wants_headers {
                self.routing.header_bounds().apply(&record.headers)
            } else {
                (None, false)
            };
            let m = Message {
                subject: subject.shared(),
                data: record.payload,
                seq: record.offset,
                epoch: epoch.clone(),
                kind: MessageKind::Recovered,
                headers,
                headers_truncated,
                origin: None,
            };
            match self.send_start(client, ServerFrame::Message(m)) {
                StartSend::Sent => last = record.offset,
                StartSend::NoRoom(cost) => {
                    // The rest of the batch is read again, or served from the cache,
                    // when the client has made room.
                    if let Some(sub) = self.clients.subscription_mut(client, &subject) {
                        sub.after = Some(last);
                    }
                    self.pause_start(client, &subject, PendingStart::Resume, cost);
                    return;
                }
                StartSend::Gone => return,
            }
        }
        if fetched.next_offset <= to_offset && fetched.next_offset > after {
            // The broker stopped early; continue where it did.
            if let Some(sub) = self.clients.subscription_mut(client, &subject) {
                sub.after = Some(last.max(fetched.next_offset - 1));
            }
            self.start_fetch(client, subject, epoch, fetched.next_offset, to_offset);
            return;
        }
        if fetched.next_offset <= after {
            // No progress would loop forever; the broker is misbehaving.
            self.resync(client, &subject);
            return;
        }
        if let Some(sub) = self.clients.subscription_mut(client, &subject) {
            sub.after = Some(to_offset);
            sub.recovering = None;
        }
        // Everything up to `to_offset` was sent; the rest is in the cache or needs
        // another round.
        self.resume_from(client, &subject);
    }

    /// Resumes that waited for a slot go on while slots are free.
    fn start_queued_fetches(&mut self) {
        while let Some(waiting) = self.fetches.next_waiting(self.config.fetches_in_flight_max) {
            let (client, subject) = (waiting.client, waiting.subject);
            let queued = self
                .clients
                .subscription_mut(client, &subject)
                .map(|s| s.recovering);
            if queued == Some(Some(Recovering::Queued)) {
                if let Some(sub) = self.clients.subscription_mut(client, &subject) {
                    sub.recovering = None;
                }
                self.resume_from(client, &subject);
            }
        }
    }
}
