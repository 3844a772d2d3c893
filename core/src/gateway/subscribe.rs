//! Subscriptions: what a subscriber gets first (snapshot, history, or the messages it
//! missed), and resume from `(epoch, seq)`, from the cache or from the broker.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use super::access::Action;
use super::client::{PendingStart, Recovering, Subscription};
use super::{Gateway, StartSend};
use crate::broker::{BrokerCommand, BrokerError, Epoch, FetchRequest, Fetched};
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

/// What a catch-up from the cache sends, and how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatchUp {
    /// The end of a snapshot or history start: `update`s, then live.
    Updates,
    /// A resume: `recovered`, then `sync`.
    Resume,
}

/// What a new subscription starts with.
enum Start {
    Snapshot,
    History(u32),
    Resume(ResumePoint),
}

impl Gateway {
    /// Parses a subject, checks that the connection's token allows `action` on it,
    /// and that its topic is exposed ([`Gateway::is_exposed`]). Permission comes before exposure,
    /// so a client learns nothing of topics it may not use.
    pub(super) fn check_subject(
        &self,
        client: ClientId,
        action: Action,
        text: &str,
    ) -> Result<Subject, (ErrorCode, String)> {
        let subject =
            Subject::parse(text).map_err(|e| (ErrorCode::InvalidSubject, e.to_string()))?;
        self.check_permission(client, action, &subject)?;
        if !self.is_exposed(subject.topic()) {
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
            let subject = match self.check_subject(client, Action::Subscribe, &item.subject) {
                Ok(s) => s,
                Err((code, message)) => {
                    errors.push((item.subject, code, message));
                    continue;
                }
            };
            if !seen.insert(subject.clone()) {
                continue;
            }
            if self.current_partition(&subject).is_none() {
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
            match code {
                ErrorCode::Forbidden => self.stats.forbidden_total += 1,
                ErrorCode::TooManySubscriptions => {
                    self.stats.subscriptions_refused_limit_total += 1
                }
                _ => {}
            }
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
                Ok(subject) => self.end_subscription(client, &subject),
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

    /// Forgets `client`'s subscription to `subject`, with its start and queued resume.
    pub(super) fn end_subscription(&mut self, client: ClientId, subject: &Subject) {
        let removed = self.clients.get_mut(&client).and_then(|c| {
            c.unpause(subject);
            c.subscriptions.remove(subject)
        });
        if removed.is_some() {
            self.remove_subscriber(subject, client);
            self.fetch_queue
                .retain(|w| !(w.client == client && &w.subject == subject));
        }
    }

    /// Registers the subscription and sends what it starts with (as far as it fits
    /// the client's queue: the rest follows as the client reads). False if the client
    /// is gone.
    fn start_subscription(&mut self, client: ClientId, subject: Subject, start: Start) -> bool {
        let Some((_, partition)) = self.current_partition(&subject) else {
            return true;
        };
        let (mut epoch, head) = (partition.epoch.clone(), partition.next_offset);
        // A resume continues on the log its epoch names, if that position is still
        // exact for the subject (it may be on another partition than the key's default).
        let resumable = match &start {
            Start::Resume(point) => self.resumable(&subject, point),
            _ => false,
        };
        if resumable {
            if let Start::Resume(point) = &start {
                epoch = point.epoch.clone();
            }
        }
        // Every subscription to a subject shares the routing table's copy of its
        // text, so routing a record finds each subscriber's entry by pointer.
        let subject = match self.subscribers.get_key_value(&subject) {
            Some((shared, _)) => shared.clone(),
            None => subject,
        };
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
        // A renewed subscription may still have a paused start or a queued resume;
        // the new start wins.
        state.unpause(&subject);
        self.subscribers
            .entry(subject.clone())
            .or_default()
            .insert(client);
        self.fetch_queue
            .retain(|w| !(w.client == client && w.subject == subject));
        match start {
            #[cfg(feature = "inject-bugs")]
            Start::Snapshot
                if self.injected_bug == Some(crate::InjectedBug::UpdateBeforeSnapshot) =>
            {
                let latest = self.messages.last(&subject, 1).pop();
                latest.is_none_or(|m| self.send(client, message_of(m, MessageKind::Update)))
                    && self.start_snapshot(client, &subject, head)
            }
            Start::Snapshot => self.start_snapshot(client, &subject, head),
            Start::History(n) => {
                let n = (n as usize).min(self.config.message_cache_messages_per_subject_max);
                self.history_from(client, &subject, n, head)
            }
            Start::Resume(point) => {
                if resumable {
                    self.set_after(client, &subject, Some(point.seq));
                    self.resume_from(client, &subject)
                } else {
                    self.resync(client, &subject)
                }
            }
        }
    }

    /// Whether a resume from `point` can be exact: its epoch names a current partition
    /// of the topic, and every record of the subject after `point.seq` this gateway
    /// knows of is on that partition. That is so when the subject's records are there
    /// since at or before `point.seq`, or, for a subject the gateway has no record of,
    /// when it never forgot a subject of the topic and the position is not older
    /// than where it began reading (it saw every record since, none of them the
    /// subject's). A subject forgotten for the bound, or last seen before the
    /// gateway's bootstrap window, might have moved unseen: its resume is a `resync`.
    fn resumable(&self, subject: &Subject, point: &ResumePoint) -> bool {
        let Some((p, state)) = self.partition_by_epoch(subject.topic(), &point.epoch) else {
            return false;
        };
        if subject.key().is_none() && p != 0 {
            return false;
        }
        match self.placements.get(subject) {
            Some(placement) => placement.partition == p && point.seq >= placement.since,
            None => {
                !self.placements.forgot(subject.topic())
                    && point.seq.saturating_add(1) >= state.read_from
            }
        }
    }

    /// Goes on with a start that was paused for room in the client's queue.
    pub(super) fn run_pending_start(
        &mut self,
        client: ClientId,
        subject: &Subject,
        pending: PendingStart,
    ) -> bool {
        match pending {
            PendingStart::Snapshot => self.continue_snapshot(client, subject),
            PendingStart::History { n, until } => self.history_from(client, subject, n, until),
            PendingStart::Updates => self.catch_up(client, subject, CatchUp::Updates),
            PendingStart::Resume => self.resume_from(client, subject),
            PendingStart::Resync => self.resync(client, subject),
        }
    }

    /// Sends the snapshot, if any, and moves the subscriber's position to it. `head`
    /// is the gateway's head now: if the snapshot does not fit, the start pauses and
    /// the subscriber is owed everything from `head` on.
    fn start_snapshot(&mut self, client: ClientId, subject: &Subject, head: u64) -> bool {
        let Some(snapshot) = self.snapshots.get(subject) else {
            return true;
        };
        let (seq, epoch) = (snapshot.seq, snapshot.epoch.clone());
        match self.send_start(client, message_of(snapshot, MessageKind::Snapshot)) {
            StartSend::Sent => {
                // The position is the snapshot's, on its log (the subject's current one).
                if let Some(sub) = self.subscription_mut(client, subject) {
                    sub.epoch = epoch;
                    sub.after = Some(seq);
                }
                true
            }
            StartSend::NoRoom(cost) => {
                self.set_after(client, subject, head.checked_sub(1));
                self.pause_start(client, subject, PendingStart::Snapshot, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// A paused snapshot start goes on: the snapshot as it is now, then, as `update`s,
    /// every cached message after both it and the subscriber's position (what arrived
    /// while the start was paused). If the snapshot is gone meanwhile (deleted or
    /// evicted), or the cache no longer holds all of those messages: `resync`.
    fn continue_snapshot(&mut self, client: ClientId, subject: &Subject) -> bool {
        let Some(sub) = self.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let Some(head) = self.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        let Some(snapshot) = self.snapshots.get(subject) else {
            return self.resync(client, subject);
        };
        let position = after.max(Some(snapshot.seq));
        if !self.covers(subject, &epoch, position, head) {
            return self.resync(client, subject);
        }
        match self.send_start(client, message_of(snapshot, MessageKind::Snapshot)) {
            StartSend::Sent => {
                self.set_after(client, subject, position);
                self.catch_up(client, subject, CatchUp::Updates)
            }
            StartSend::NoRoom(cost) => {
                self.pause_start(client, subject, PendingStart::Snapshot, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// Sends `history`: the last `n` complete cached messages below `until` (the head
    /// when the start began), or, after a pause, the rest of them after the last one
    /// sent (`after`); then the messages from `until` on, as `update`s.
    fn history_from(&mut self, client: ClientId, subject: &Subject, n: usize, until: u64) -> bool {
        let Some(sub) = self.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let Some(head) = self.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        let past = match after {
            None => self.messages.last_before(subject, n, until),
            Some(last) => {
                if !self.covers(subject, &epoch, Some(last), head) {
                    // The rest of the history, or what came after it, was evicted.
                    return self.resync(client, subject);
                }
                self.messages
                    .after(subject, &epoch, last)
                    .into_iter()
                    .take_while(|m| m.seq < until)
                    .collect()
            }
        };
        let mut last = after;
        for m in past {
            let seq = m.seq;
            match self.send_start(client, message_of(m, MessageKind::History)) {
                StartSend::Sent => last = Some(seq),
                StartSend::NoRoom(cost) => {
                    self.set_after(client, subject, last);
                    self.pause_start(client, subject, PendingStart::History { n, until }, cost);
                    return true;
                }
                StartSend::Gone => return false,
            }
        }
        // History ends right below `until`; what came since follows as updates.
        self.set_after(client, subject, last.max(until.checked_sub(1)));
        self.catch_up(client, subject, CatchUp::Updates)
    }

    /// The client's position cannot be honoured: say so, then send the snapshot. A
    /// paused start keeps its turn and becomes this resync.
    pub(super) fn resync(&mut self, client: ClientId, subject: &Subject) -> bool {
        let partition = self
            .current_partition(subject)
            .map(|(_, p)| (p.epoch.clone(), p.next_offset));
        let Some(sub) = self.subscription_mut(client, subject) else {
            return true;
        };
        if let Some(Recovering::Paused(pending)) = &mut sub.recovering {
            *pending = PendingStart::Resync;
            return true;
        }
        sub.recovering = None;
        sub.after = None;
        let mut head = 0;
        if let Some((epoch, next_offset)) = partition {
            sub.epoch = epoch;
            head = next_offset;
        }
        let status = ServerFrame::Status {
            subject: subject.shared(),
            status: SyncStatus::Resync,
        };
        match self.send_start(client, status) {
            StartSend::Sent => {
                self.stats.resumes_resync_total += 1;
                self.start_snapshot(client, subject, head)
            }
            StartSend::NoRoom(cost) => {
                self.pause_start(client, subject, PendingStart::Resync, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// Serves a resume from the subscriber's current position: from the cache if it
    /// covers the position, else by fetching from the broker (or waiting for a slot).
    fn resume_from(&mut self, client: ClientId, subject: &Subject) -> bool {
        self.catch_up(client, subject, CatchUp::Resume)
    }

    /// Sends every cached message after the subscriber's position, one by one as they
    /// fit (pausing when one does not), then — for a resume — `sync`; the subscription
    /// is live afterwards. If the cache does not hold every message after the
    /// position: a resume reads them from the broker, a snapshot or history start
    /// ends with `resync`.
    fn catch_up(&mut self, client: ClientId, subject: &Subject, mode: CatchUp) -> bool {
        let Some(sub) = self.subscription_mut(client, subject) else {
            return true;
        };
        let (epoch, after) = (sub.epoch.clone(), sub.after);
        let Some(head) = self.head_of(subject, &epoch) else {
            return self.resync(client, subject);
        };
        if !self.covers(subject, &epoch, after, head) {
            if mode == CatchUp::Updates {
                return self.resync(client, subject);
            }
            // Older than the cache: read the gap back from the broker.
            let from = after.map_or(0, |a| a + 1);
            if self.fetches.len() < self.config.fetches_in_flight_max {
                self.start_fetch(client, subject.clone(), epoch, from, head - 1);
                return true;
            } else if self.fetch_queue.len() < self.config.fetch_queue_max {
                if let Some(sub) = self.subscription_mut(client, subject) {
                    sub.recovering = Some(Recovering::Queued);
                }
                self.fetch_queue.push_back(WaitingResume {
                    client,
                    subject: subject.clone(),
                });
                return true;
            } else {
                return self.resync(client, subject);
            }
        }
        let (kind, pending) = match mode {
            CatchUp::Updates => (MessageKind::Update, PendingStart::Updates),
            CatchUp::Resume => (MessageKind::Recovered, PendingStart::Resume),
        };
        let mut last = after;
        #[cfg(feature = "inject-bugs")]
        if mode == CatchUp::Resume
            && self.injected_bug == Some(crate::InjectedBug::DropRecordOnResume)
        {
            if let Some(skipped) = self.messages.first_after(subject, &epoch, last) {
                last = Some(skipped.seq);
            }
        }
        while let Some(m) = self.messages.first_after(subject, &epoch, last) {
            let seq = m.seq;
            match self.send_start(client, message_of(m, kind)) {
                StartSend::Sent => last = Some(seq),
                StartSend::NoRoom(cost) => {
                    self.set_after(client, subject, last);
                    self.pause_start(client, subject, pending, cost);
                    return true;
                }
                StartSend::Gone => return false,
            }
        }
        if let Some(sub) = self.subscription_mut(client, subject) {
            sub.after = last;
            sub.recovering = None;
        }
        if mode == CatchUp::Updates {
            return true;
        }
        let status = ServerFrame::Status {
            subject: subject.shared(),
            status: SyncStatus::Sync,
        };
        match self.send_start(client, status) {
            StartSend::Sent => {
                self.stats.resumes_sync_total += 1;
                true
            }
            StartSend::NoRoom(cost) => {
                // Everything was sent; going on finds nothing more and sends `sync`.
                self.pause_start(client, subject, PendingStart::Resume, cost);
                true
            }
            StartSend::Gone => false,
        }
    }

    /// Whether the cache holds every message of `subject` after `after` (`None`: all of
    /// them) that the gateway has read (`head` is its next offset).
    fn covers(&self, subject: &Subject, epoch: &Epoch, after: Option<u64>, head: u64) -> bool {
        let next = after.map_or(0, |a| a.saturating_add(1));
        next >= self.messages.covered_from(subject, epoch) || next >= head
    }

    /// The gateway's next offset on log `epoch`, if that is still a log of the topic
    /// and the subject's records are not known to be on another partition.
    fn head_of(&self, subject: &Subject, epoch: &Epoch) -> Option<u64> {
        let (p, state) = self.partition_by_epoch(subject.topic(), epoch)?;
        match self.placements.get(subject) {
            Some(placement) if placement.partition != p => None,
            _ => Some(state.next_offset),
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
        // The log the subscriber's position is on (`catch_up` checked it is current).
        let partition = self
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
            let m = Message {
                subject: subject.shared(),
                data: record.payload,
                seq: record.offset,
                epoch: epoch.clone(),
                kind: MessageKind::Recovered,
                origin: None,
            };
            match self.send_start(client, ServerFrame::Message(m)) {
                StartSend::Sent => last = record.offset,
                StartSend::NoRoom(cost) => {
                    // The rest of the batch is read again, or served from the cache,
                    // when the client has made room.
                    if let Some(sub) = self.subscription_mut(client, &subject) {
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
