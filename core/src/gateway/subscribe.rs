//! Subscriptions: what a subscriber gets first (snapshot, history, or the messages it
//! missed), and resume from `(epoch, seq)`, from the cache or from the broker.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use super::client::{Recovering, Subscription};
use super::Gateway;
use crate::broker::{BrokerCommand, BrokerError, Epoch, Fetched};
use crate::ids::{ClientId, FetchId, RequestId};
use crate::output::Output;
use crate::protocol::{
    ErrorCode, Message, MessageKind, ResumePoint, ServerFrame, SubscribeItem, SyncStatus,
};
use crate::subject::Subject;

/// A resume waiting for a fetch slot.
#[derive(Debug, Clone)]
pub(super) struct WaitingResume {
    pub client: ClientId,
    pub subject: Subject,
}

/// A fetch in flight for one subscription.
#[derive(Debug, Clone)]
pub(super) struct FetchState {
    client: ClientId,
    subject: Subject,
    epoch: Epoch,
    to_offset: u64,
}

/// What a new subscription starts with.
enum Start {
    Snapshot,
    History(u32),
    Resume(ResumePoint),
}

impl Gateway {
    /// Parses a subject and checks that its topic is exposed.
    pub(super) fn check_subject(&self, text: &str) -> Result<Subject, (ErrorCode, String)> {
        let subject =
            Subject::parse(text).map_err(|e| (ErrorCode::InvalidSubject, e.to_string()))?;
        if !self.exposed.contains(subject.topic()) {
            return Err((
                ErrorCode::NotExposed,
                format!("topic {} is not exposed", subject.topic()),
            ));
        }
        Ok(subject)
    }

    pub(super) fn subscribe(
        &mut self,
        client: ClientId,
        id: RequestId,
        items: Vec<SubscribeItem>,
        history: Option<u32>,
    ) {
        let Some(state) = self.clients.get(&client) else {
            return;
        };
        let mut held = state.subscriptions.len();
        let mut accepted: Vec<(Subject, Start)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut errors = Vec::new();
        for item in items {
            let subject = match self.check_subject(&item.subject) {
                Ok(s) => s,
                Err((code, message)) => {
                    errors.push((item.subject, code, message));
                    continue;
                }
            };
            if !seen.insert(subject.clone()) {
                continue;
            }
            if self.partition_of(&subject).is_none() {
                let message = format!("topic {} has no partitions yet", subject.topic());
                errors.push((item.subject, ErrorCode::Unavailable, message));
                continue;
            }
            let renewing = state.subscriptions.contains_key(&subject);
            if !renewing && held >= self.config.subscriptions_per_client_max {
                let message = format!(
                    "at most {} subscriptions per connection",
                    self.config.subscriptions_per_client_max
                );
                errors.push((item.subject, ErrorCode::TooManySubscriptions, message));
                continue;
            }
            held += usize::from(!renewing);
            let start = match (item.resume, history) {
                (Some(point), _) => Start::Resume(point),
                (None, Some(n)) => Start::History(n),
                (None, None) => Start::Snapshot,
            };
            accepted.push((subject, start));
        }
        for (subject, code, message) in errors {
            if !self.send_error(client, id, Some(&subject), code, message) {
                return;
            }
        }
        if !self.send(client, ServerFrame::Ok { id }) {
            return;
        }
        for (subject, start) in accepted {
            if !self.start_subscription(client, subject, start) {
                return;
            }
        }
    }

    pub(super) fn unsubscribe(&mut self, client: ClientId, id: RequestId, subjects: Vec<String>) {
        #[cfg(feature = "inject-bugs")]
        if self.injected_bug == Some(crate::InjectedBug::DeliverAfterUnsubscribe) {
            self.send(client, ServerFrame::Ok { id });
            return;
        }
        for text in subjects {
            match Subject::parse(&text) {
                Ok(subject) => {
                    let removed = self
                        .clients
                        .get_mut(&client)
                        .and_then(|c| c.subscriptions.remove(&subject));
                    if removed.is_some() {
                        self.remove_subscriber(&subject, client);
                        self.fetch_queue
                            .retain(|w| !(w.client == client && w.subject == subject));
                    }
                }
                Err(err) => {
                    if !self.send_error(
                        client,
                        id,
                        Some(&text),
                        ErrorCode::InvalidSubject,
                        err.to_string(),
                    ) {
                        return;
                    }
                }
            }
        }
        self.send(client, ServerFrame::Ok { id });
    }

    /// Registers the subscription and sends what it starts with. False if the client
    /// was disconnected meanwhile (slow consumer).
    fn start_subscription(&mut self, client: ClientId, subject: Subject, start: Start) -> bool {
        let Some((_, partition)) = self.partition_of(&subject) else {
            return true;
        };
        let epoch = partition.epoch.clone();
        let Some(state) = self.clients.get_mut(&client) else {
            return false;
        };
        state.subscriptions.insert(
            subject.clone(),
            Subscription {
                epoch: epoch.clone(),
                after: None,
                recovering: None,
            },
        );
        self.subscribers
            .entry(subject.clone())
            .or_default()
            .insert(client);
        // A renewed subscription may still have a queued resume; the new start wins.
        self.fetch_queue
            .retain(|w| !(w.client == client && w.subject == subject));
        match start {
            #[cfg(feature = "inject-bugs")]
            Start::Snapshot
                if self.injected_bug == Some(crate::InjectedBug::UpdateBeforeSnapshot) =>
            {
                let latest = self.messages.last(&subject, 1).pop();
                latest.is_none_or(|m| self.send(client, message_of(m, MessageKind::Update)))
                    && self.send_snapshot(client, &subject)
            }
            Start::Snapshot => self.send_snapshot(client, &subject),
            Start::History(n) => {
                let n = (n as usize).min(self.config.message_cache_messages_per_subject_max);
                let past = self.messages.last(&subject, n);
                let mut last = None;
                for m in past {
                    last = Some(m.seq);
                    if !self.send(client, message_of(m, MessageKind::History)) {
                        return false;
                    }
                }
                self.set_after(client, &subject, last);
                true
            }
            Start::Resume(point) => {
                if point.epoch != epoch {
                    self.resync(client, &subject)
                } else {
                    self.set_after(client, &subject, Some(point.seq));
                    self.resume_from(client, &subject)
                }
            }
        }
    }

    /// Sends the snapshot, if any, and moves the subscriber's position to it.
    fn send_snapshot(&mut self, client: ClientId, subject: &Subject) -> bool {
        let Some(snapshot) = self.snapshots.get(subject) else {
            return true;
        };
        let seq = snapshot.seq;
        if !self.send(client, message_of(snapshot, MessageKind::Snapshot)) {
            return false;
        }
        self.set_after(client, subject, Some(seq));
        true
    }

    /// The client's position cannot be honoured: say so, then send the snapshot.
    fn resync(&mut self, client: ClientId, subject: &Subject) -> bool {
        self.stats.resumes_resync_total += 1;
        let epoch = self.partition_of(subject).map(|(_, p)| p.epoch.clone());
        if let Some(sub) = self.subscription_mut(client, subject) {
            sub.recovering = None;
            sub.after = None;
            if let Some(epoch) = epoch {
                sub.epoch = epoch;
            }
        }
        let status = ServerFrame::Status {
            subject: subject.shared(),
            status: SyncStatus::Resync,
        };
        self.send(client, status) && self.send_snapshot(client, subject)
    }

    /// Serves a resume from the subscriber's current position: from the cache if it
    /// covers the position, else by fetching from the broker (or waiting for a slot).
    fn resume_from(&mut self, client: ClientId, subject: &Subject) -> bool {
        let Some(sub) = self.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after.unwrap_or(0));
        let Some((_, partition)) = self.partition_of(subject) else {
            return true;
        };
        if partition.epoch != epoch {
            return self.resync(client, subject);
        }
        let head = partition.next_offset;
        let covered_from = self.messages.covered_from(subject, &epoch);
        if after.saturating_add(1) >= covered_from || after.saturating_add(1) >= head {
            let missed = self.messages.after(subject, &epoch, after);
            #[cfg(feature = "inject-bugs")]
            let missed = if self.injected_bug == Some(crate::InjectedBug::DropRecordOnResume) {
                missed.into_iter().skip(1).collect()
            } else {
                missed
            };
            let mut last = after;
            for m in missed {
                last = m.seq;
                if !self.send(client, message_of(m, MessageKind::Recovered)) {
                    return false;
                }
            }
            if let Some(sub) = self.subscription_mut(client, subject) {
                sub.after = Some(last);
                sub.recovering = None;
            }
            self.stats.resumes_sync_total += 1;
            let status = ServerFrame::Status {
                subject: subject.shared(),
                status: SyncStatus::Sync,
            };
            return self.send(client, status);
        }
        // Older than the cache: read the gap back from the broker.
        if self.fetches.len() < self.config.fetches_in_flight_max {
            self.start_fetch(client, subject.clone(), epoch, after + 1, head - 1);
            true
        } else if self.fetch_queue.len() < self.config.fetch_queue_max {
            if let Some(sub) = self.subscription_mut(client, subject) {
                sub.recovering = Some(Recovering::Queued);
            }
            self.fetch_queue.push_back(WaitingResume {
                client,
                subject: subject.clone(),
            });
            true
        } else {
            self.resync(client, subject)
        }
    }

    fn start_fetch(
        &mut self,
        client: ClientId,
        subject: Subject,
        epoch: Epoch,
        from_offset: u64,
        to_offset: u64,
    ) {
        let fetch = FetchId(self.next_fetch);
        self.next_fetch += 1;
        if let Some(sub) = self.subscription_mut(client, &subject) {
            sub.recovering = Some(Recovering::Fetching(fetch));
        }
        let partition = self.partition_of(&subject).map_or(0, |(p, _)| p);
        self.outputs.push_back(Output::Broker(BrokerCommand::Fetch {
            fetch,
            topic: Arc::from(subject.topic()),
            partition,
            epoch: epoch.clone(),
            key: subject.key().map(|k| Bytes::copy_from_slice(k.as_bytes())),
            from_offset,
            to_offset,
        }));
        self.fetches.insert(
            fetch,
            FetchState {
                client,
                subject,
                epoch,
                to_offset,
            },
        );
    }

    pub(super) fn on_fetched(&mut self, fetch: FetchId, result: Result<Fetched, BrokerError>) {
        let Some(state) = self.fetches.remove(&fetch) else {
            return;
        };
        self.run_fetch_result(fetch, state, result);
        self.start_queued_fetches();
    }

    fn run_fetch_result(
        &mut self,
        fetch: FetchId,
        state: FetchState,
        result: Result<Fetched, BrokerError>,
    ) {
        let FetchState {
            client,
            subject,
            epoch,
            to_offset,
        } = state;
        // The subscription may have ended or been renewed while the fetch ran.
        let current = self
            .subscription_mut(client, &subject)
            .map(|s| s.recovering);
        if current != Some(Some(Recovering::Fetching(fetch))) {
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
            last = record.offset;
            let m = Message {
                subject: subject.shared(),
                data: record.payload,
                seq: record.offset,
                epoch: epoch.clone(),
                kind: MessageKind::Recovered,
            };
            if !self.send(client, ServerFrame::Message(m)) {
                return;
            }
        }
        if fetched.next_offset <= to_offset && fetched.next_offset > after {
            // The broker stopped early; continue where it did.
            if let Some(sub) = self.subscription_mut(client, &subject) {
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
        if let Some(sub) = self.subscription_mut(client, &subject) {
            sub.after = Some(to_offset);
            sub.recovering = None;
        }
        // Everything up to `to_offset` was sent; the rest is in the cache or needs
        // another round.
        self.resume_from(client, &subject);
    }

    fn start_queued_fetches(&mut self) {
        while self.fetches.len() < self.config.fetches_in_flight_max {
            let Some(waiting) = self.fetch_queue.pop_front() else {
                break;
            };
            let WaitingResume { client, subject } = waiting;
            let queued = self
                .subscription_mut(client, &subject)
                .map(|s| s.recovering);
            if queued == Some(Some(Recovering::Queued)) {
                if let Some(sub) = self.subscription_mut(client, &subject) {
                    sub.recovering = None;
                }
                self.resume_from(client, &subject);
            }
        }
    }

    fn subscription_mut(
        &mut self,
        client: ClientId,
        subject: &Subject,
    ) -> Option<&mut Subscription> {
        self.clients
            .get_mut(&client)?
            .subscriptions
            .get_mut(subject)
    }

    fn set_after(&mut self, client: ClientId, subject: &Subject, after: Option<u64>) {
        if let Some(sub) = self.subscription_mut(client, subject) {
            sub.after = after;
        }
    }

    /// Tells every subscriber of the given subjects that their position is void, then
    /// sends each the snapshot (used when a log is recreated or retention overtook us).
    pub(super) fn resync_subjects(&mut self, subjects: Vec<Subject>) {
        for subject in subjects {
            let clients: Vec<ClientId> = self
                .subscribers
                .get(&subject)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for client in clients {
                self.resync(client, &subject);
            }
        }
    }
}

pub(super) fn message_of(mut m: Message, kind: MessageKind) -> ServerFrame {
    m.kind = kind;
    ServerFrame::Message(m)
}
