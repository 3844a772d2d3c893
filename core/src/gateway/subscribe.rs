//! Subscribe and unsubscribe requests: each subject checked, the subscription
//! registered with the routing part and its client, and its start begun (snapshot,
//! history, or a resume from `(epoch, seq)`; `starts` goes on with it).

use std::collections::BTreeSet;

use super::check::Action;
use super::client::{HistoryStart, Subscription};
use super::Gateway;
use crate::ids::{ClientId, RequestId};
use crate::protocol::{ErrorCode, ResumePoint, ServerFrame, SubscribeItem, SubscribeOptions};
use crate::subject::Subject;

/// What a new subscription starts with.
enum Start {
    Snapshot,
    History(u32),
    Resume(ResumePoint),
}

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
    /// the client's queue: the rest follows as the client reads). False if the client
    /// is gone.
    fn start_subscription(
        &mut self,
        client: ClientId,
        subject: Subject,
        start: Start,
        options: SubscribeOptions,
    ) -> bool {
        let Some((_, partition)) = self.routing.current_partition(&self.config, &subject) else {
            return true;
        };
        let (mut epoch, head) = (partition.epoch.clone(), partition.next_offset);
        // A resume continues on the log its epoch names, if that position is still
        // exact for the subject (it may be on another partition than the key's default).
        let resumable = match &start {
            Start::Resume(point) => self.routing.resumable(&subject, point),
            _ => false,
        };
        if resumable {
            if let Start::Resume(point) = &start {
                epoch = point.epoch.clone();
            }
        }
        if !self.clients.contains(client) {
            return false;
        }
        // Every subscription to a subject shares the routing table's copy of its
        // text, so routing a record finds each subscriber's entry by pointer.
        let subject = self.routing.add_subscriber(subject, client);
        let Some(state) = self.clients.get_mut(client) else {
            return false;
        };
        state.subscriptions.insert(
            subject.clone(),
            Subscription {
                epoch: epoch.clone(),
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
        match start {
            #[cfg(feature = "testing")]
            Start::Snapshot if self.bug_on(crate::testing::InjectedBug::UpdateBeforeSnapshot) => {
                let latest = self.routing.messages().last(&subject, 1).pop();
                latest.is_none_or(|m| {
                    let frame =
                        self.start_frame(client, &subject, m, crate::protocol::MessageKind::Update);
                    self.send(client, frame)
                }) && self.start_snapshot(client, &subject, head)
            }
            Start::Snapshot => self.start_snapshot(client, &subject, head),
            Start::History(n) => {
                let start = HistoryStart {
                    n,
                    until: head,
                    end_marker: options.history_end,
                    complete: false,
                };
                self.history_from(client, &subject, start)
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
}
