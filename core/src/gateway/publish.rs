//! Publishes: a client message becomes a produce; the broker's answer becomes an ack.
//! The message reaches subscribers only when it comes back from the broker.

use super::check::Action;
use super::produces::PendingProduce;
use super::Gateway;
use crate::broker::BrokerError;
use crate::ids::{ClientId, ProduceId, RequestId};
use crate::output::Output;
use crate::protocol::{ErrorCode, PublishFrame, ServerFrame};
use crate::subject::Subject;

impl Gateway {
    pub(super) fn publish(&mut self, now_ms: u64, client: ClientId, p: PublishFrame) {
        self.stats.publishes_total += 1;
        self.stats.publish_bytes_in_total += p.data.len() as u64;
        if !self.clients.take_publish_token(client, now_ms) {
            self.stats.publishes_rate_limited_total += 1;
            let message = format!(
                "more than {} publishes a second (burst {})",
                self.config.publish_rate_per_s, self.config.publish_burst
            );
            return self.fail_publish((client, p.id), None, (ErrorCode::RateLimited, message));
        }
        let subject = match self.check_subject(client, Action::Publish, &p.subject) {
            Ok(subject) => subject,
            Err((code, message)) => {
                if code == ErrorCode::Forbidden {
                    self.stats.forbidden_total += 1;
                }
                return self.fail_publish((client, p.id), Some(&p.subject), (code, message));
            }
        };
        if let Some(reply_to) = &p.reply_to {
            if let Err(err) = Subject::parse(reply_to) {
                return self.fail_publish(
                    (client, p.id),
                    Some(reply_to),
                    (ErrorCode::InvalidSubject, format!("reply_to: {err}")),
                );
            }
        }
        let Some((partition, state)) = self.routing.current_partition(&self.config, &subject)
        else {
            let message = format!("topic {} has no partitions yet", subject.topic());
            return self.fail_publish(
                (client, p.id),
                Some(&p.subject),
                (ErrorCode::Unavailable, message),
            );
        };
        let epoch = state.epoch.clone();
        let Some(cstate) = self.clients.get_mut(client) else {
            return;
        };
        if cstate.publishes_in_flight >= self.config.publishes_in_flight_per_client_max {
            let message = format!(
                "more than {} publishes awaiting the broker",
                self.config.publishes_in_flight_per_client_max
            );
            self.stats.publishes_rate_limited_total += 1;
            return self.fail_publish((client, p.id), None, (ErrorCode::RateLimited, message));
        }
        cstate.publishes_in_flight += 1;
        let deadline_ms = now_ms.saturating_add(self.config.publish_timeout_ms);
        let produce = self
            .produces
            .start(client, p, &subject, (partition, epoch), deadline_ms);
        self.outputs.push_back(Output::Broker(produce));
    }

    /// Answers a publish that will not be acknowledged with `error`.
    fn fail_publish(
        &mut self,
        (client, id): (ClientId, RequestId),
        subject: Option<&str>,
        (code, message): (ErrorCode, String),
    ) {
        self.stats.publishes_failed_total += 1;
        self.send_error(client, id, subject, code, message);
    }

    /// The publish is no longer in flight: its client may send another.
    fn finished(&mut self, pending: &PendingProduce) {
        if let Some(c) = self.clients.get_mut(pending.client) {
            c.publishes_in_flight -= 1;
        }
    }

    pub(super) fn on_produced(&mut self, produce: ProduceId, result: Result<u64, BrokerError>) {
        // An unknown id was already failed by its deadline; the late answer changes nothing.
        let Some(pending) = self.produces.finish(produce) else {
            return;
        };
        self.finished(&pending);
        match result {
            Ok(offset) => {
                self.stats.publishes_acked_total += 1;
                self.send(
                    pending.client,
                    ServerFrame::Ack {
                        id: pending.id,
                        epoch: pending.epoch,
                        seq: offset,
                    },
                );
            }
            Err(err) => {
                let code = match err {
                    BrokerError::TooLarge => ErrorCode::TooLarge,
                    BrokerError::Unavailable(_) | BrokerError::UnknownTopic => {
                        ErrorCode::Unavailable
                    }
                    BrokerError::OffsetOutOfRange
                    | BrokerError::EpochChanged
                    | BrokerError::Other(_) => ErrorCode::Unavailable,
                };
                self.stats.publishes_broker_failed_total += 1;
                self.fail_publish((pending.client, pending.id), None, (code, err.to_string()));
            }
        }
    }

    pub(super) fn expire_produces(&mut self, now_ms: u64) {
        while let Some(pending) = self.produces.pop_overdue(now_ms) {
            self.finished(&pending);
            let message = format!(
                "the broker did not acknowledge within {} ms; the outcome is unknown",
                self.config.publish_timeout_ms
            );
            self.stats.publishes_timed_out_total += 1;
            self.fail_publish(
                (pending.client, pending.id),
                None,
                (ErrorCode::Unavailable, message),
            );
        }
    }
}
