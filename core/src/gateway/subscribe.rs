//! Subscribe and unsubscribe requests: each subject checked, the subscription
//! registered with the routing part and its client, and its start begun (snapshot,
//! history, or a resume from `(epoch, seq)`; `starts` goes on with it).

use std::collections::BTreeSet;

use super::check::Action;
use super::client::{HistoryStart, Recovering, Subscription};
use super::interest::{ParkedStart, Start};
use super::Gateway;
use crate::ids::{ClientId, RequestId};
use crate::output::Output;
use crate::protocol::{ErrorCode, ServerFrame, SubscribeItem, SubscribeOptions};
use crate::subject::Subject;

impl Gateway {
    pub(super) fn subscribe(
        &mut self,
        client: ClientId,
        id: RequestId,
        items: Vec<SubscribeItem>,
        options: SubscribeOptions,
    ) {
        if let Some(n) = options.history.filter(|&n| n > self.config.history_max) {
            let max = self.config.history_max;
            let message = format!("history {n} is above this gateway's history_max {max}");
            self.send_error(client, id, None, ErrorCode::InvalidFrame, message);
            return;
        }
        let Some(state) = self.clients.get(client) else {
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
            if self
                .routing
                .current_partition(&self.config, &subject)
                .is_none()
            {
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
            let start = match (item.resume, options.history) {
                (Some(point), _) => Start::Resume(point),
                (None, Some(n)) => Start::History {
                    n,
                    end_marker: options.history_end,
                },
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
            if !self.start_subscription(client, subject, start, options) {
                return;
            }
        }
    }

    pub(super) fn unsubscribe(&mut self, client: ClientId, id: RequestId, subjects: Vec<String>) {
        #[cfg(feature = "testing")]
        if self.bug_on(crate::testing::InjectedBug::DeliverAfterUnsubscribe) {
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

    /// Registers the subscription and sends what it starts with (as far as it fits
    /// the client's queue: the rest follows as the client reads), or, in interest
    /// mode, parks its start until its partition is read. False if the client is
    /// gone.
    fn start_subscription(
        &mut self,
        client: ClientId,
        subject: Subject,
        start: Start,
        options: SubscribeOptions,
    ) -> bool {
        let Some((partition, state)) = self.routing.current_partition(&self.config, &subject)
        else {
            return true;
        };
        let epoch = state.epoch.clone();
        if !self.clients.contains(client) {
            return false;
        }
        // Every subscription to a subject shares the routing table's copy of its
        // text, so routing a record finds each subscriber's entry by pointer.
        let (subject, first) = self.routing.add_subscriber(subject, client);
        if first {
            if let Some(watch) = self.interest.subject_added(&subject, partition) {
                self.outputs.push_back(Output::Broker(watch));
            }
        }
        let parked = self.interest.warming(subject.topic(), partition);
        let Some(state) = self.clients.get_mut(client) else {
            return false;
        };
        state.subscriptions.insert(
            subject.clone(),
            Subscription {
                epoch,
                after: None,
                recovering: None,
                headers: options.headers,
                conflate_ms: options.conflate_ms.unwrap_or(0),
                delta: options.delta.then(Box::default),
            },
        );
        // A renewed subscription may still have a paused start or a queued resume;
        // the new start wins.
        state.unpause(&subject);
        match options.conflate_ms {
            Some(interval_ms) => self.clients.conflation.start(client, &subject, interval_ms),
            // A renewal without conflation ends it.
            None => self.clients.conflation.stop(client, &subject),
        }
        self.fetches.forget_waiting(client, Some(&subject));
        if parked {
            self.park_start(client, &subject, partition, start);
            return true;
        }
        self.interest.unpark(client, &subject);
        self.begin_start(client, &subject, start)
    }

    /// Parks the start of `client`'s subscription to `subject` until `partition`
    /// is read (interest mode): live messages are held back meanwhile.
    pub(super) fn park_start(
        &mut self,
        client: ClientId,
        subject: &Subject,
        partition: u32,
        start: Start,
    ) {
        let Some(sub) = self.clients.subscription_mut(client, subject) else {
            return;
        };
        sub.recovering = Some(Recovering::Parked);
        let parked = ParkedStart {
            client,
            subject: subject.clone(),
            start,
        };
        self.interest.park(subject.topic(), partition, parked);
    }

    /// A parked start goes on: its partition is read now.
    pub(super) fn unpark_start(&mut self, parked: ParkedStart) {
        let ParkedStart {
            client,
            subject,
            start,
        } = parked;
        let Some(sub) = self.clients.subscription_mut(client, &subject) else {
            return;
        };
        if sub.recovering != Some(Recovering::Parked) {
            return;
        }
        sub.recovering = None;
        if let Some((_, state)) = self.routing.current_partition(&self.config, &subject) {
            sub.epoch = state.epoch.clone();
        }
        self.begin_start(client, &subject, start);
    }

    /// Sends what a registered subscription starts with, from the gateway's head now.
    fn begin_start(&mut self, client: ClientId, subject: &Subject, start: Start) -> bool {
        let Some((_, partition)) = self.routing.current_partition(&self.config, subject) else {
            return true;
        };
        let head = partition.next_offset;
        // A resume continues on the log its epoch names, if that position is still
        // exact for the subject (it may be on another partition than the key's default).
        let resumable = match &start {
            Start::Resume(point) => self.routing.resumable(subject, point),
            _ => false,
        };
        if let (true, Start::Resume(point)) = (resumable, &start) {
            if let Some(sub) = self.clients.subscription_mut(client, subject) {
                sub.epoch = point.epoch.clone();
            }
        }
        match start {
            #[cfg(feature = "testing")]
            Start::Snapshot if self.bug_on(crate::testing::InjectedBug::UpdateBeforeSnapshot) => {
                let latest = self.routing.messages().last(subject, 1).pop();
                latest.is_none_or(|m| {
                    let frame =
                        self.start_frame(client, subject, m, crate::protocol::MessageKind::Update);
                    self.send(client, frame)
                }) && self.start_snapshot(client, subject, head)
            }
            Start::Snapshot => self.start_snapshot(client, subject, head),
            Start::History { n, end_marker } => {
                let start = HistoryStart {
                    n,
                    until: head,
                    end_marker,
                    complete: false,
                };
                self.history_from(client, subject, start)
            }
            Start::Resume(point) => {
                if resumable {
                    self.set_after(client, subject, Some(point.seq));
                    self.resume_from(client, subject)
                } else {
                    self.resync(client, subject)
                }
            }
        }
    }
}
