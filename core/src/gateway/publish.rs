//! Publishes: a client message becomes a produce; the broker's answer becomes an ack.
//! The message reaches subscribers only when it comes back from the broker.

use std::sync::Arc;

use bytes::Bytes;

use super::access::Action;
use super::Gateway;
use crate::broker::{header, BrokerCommand, BrokerError, Epoch, Header, ProduceRequest};
use crate::ids::{ClientId, ProduceId, RequestId};
use crate::output::Output;
use crate::protocol::{ErrorCode, PublishFrame, ServerFrame};
use crate::subject::Subject;

#[derive(Debug, Clone)]
pub(super) struct PendingProduce {
    client: ClientId,
    id: RequestId,
    epoch: Epoch,
    deadline_ms: u64,
}

impl Gateway {
    pub(super) fn publish(&mut self, now_ms: u64, client: ClientId, p: PublishFrame) {
        self.stats.publishes_total += 1;
        self.stats.publish_bytes_in_total += p.data.len() as u64;
        if !self.take_publish_token(now_ms, client) {
            self.stats.publishes_rate_limited_total += 1;
            let message = format!(
                "more than {} publishes a second (burst {})",
                self.config.publish_rate_per_s, self.config.publish_burst
            );
            return self.fail_publish(client, p.id, None, ErrorCode::RateLimited, message);
        }
        let subject = match self.check_subject(client, Action::Publish, &p.subject) {
            Ok(subject) => subject,
            Err((code, message)) => {
                if code == ErrorCode::Forbidden {
                    self.stats.forbidden_total += 1;
                }
                return self.fail_publish(client, p.id, Some(&p.subject), code, message);
            }
        };
        if let Some(reply_to) = &p.reply_to {
            if let Err(err) = Subject::parse(reply_to) {
                return self.fail_publish(
                    client,
                    p.id,
                    Some(reply_to),
                    ErrorCode::InvalidSubject,
                    format!("reply_to: {err}"),
                );
            }
        }
        let Some((partition, state)) = self.current_partition(&subject) else {
            let message = format!("topic {} has no partitions yet", subject.topic());
            return self.fail_publish(
                client,
                p.id,
                Some(&p.subject),
                ErrorCode::Unavailable,
                message,
            );
        };
        let epoch = state.epoch.clone();
        let Some(cstate) = self.clients.get_mut(&client) else {
            return;
        };
        if cstate.publishes_in_flight >= self.config.publishes_in_flight_per_client_max {
            let message = format!(
                "more than {} publishes awaiting the broker",
                self.config.publishes_in_flight_per_client_max
            );
            self.stats.publishes_rate_limited_total += 1;
            return self.fail_publish(client, p.id, None, ErrorCode::RateLimited, message);
        }
        cstate.publishes_in_flight += 1;

        let produce = ProduceId(self.next_produce);
        self.next_produce += 1;
        let deadline_ms = now_ms.saturating_add(self.config.publish_timeout_ms);
        self.produces.insert(
            produce,
            PendingProduce {
                client,
                id: p.id,
                epoch,
                deadline_ms,
            },
        );
        self.produce_deadlines.insert((deadline_ms, produce));

        let mut headers = vec![
            header_of(header::RETAINED, if p.retained { "true" } else { "false" }),
            header_of(header::QOS, p.qos.as_str()),
        ];
        if let Some(reply_to) = &p.reply_to {
            headers.push(header_of(header::REPLY_TO, reply_to));
        }
        if let Some(traceparent) = &p.traceparent {
            headers.push(header_of(header::TRACEPARENT, traceparent));
        }
        self.outputs
            .push_back(Output::Broker(BrokerCommand::Produce(ProduceRequest {
                produce,
                topic: Arc::from(subject.topic()),
                partition,
                key: subject.key().map(|k| Bytes::copy_from_slice(k.as_bytes())),
                payload: p.data,
                headers,
            })));
    }

    /// Takes one token of the client's publish rate; false when there is none.
    pub(super) fn take_publish_token(&mut self, now_ms: u64, client: ClientId) -> bool {
        self.clients
            .get_mut(&client)
            .and_then(|c| c.publish_bucket.as_mut())
            .is_none_or(|bucket| bucket.try_take(now_ms))
    }

    fn fail_publish(
        &mut self,
        client: ClientId,
        id: RequestId,
        subject: Option<&str>,
        code: ErrorCode,
        message: String,
    ) {
        self.stats.publishes_failed_total += 1;
        self.send_error(client, id, subject, code, message);
    }

    fn finish_produce(&mut self, produce: ProduceId) -> Option<PendingProduce> {
        let pending = self.produces.remove(&produce)?;
        self.produce_deadlines
            .remove(&(pending.deadline_ms, produce));
        if let Some(c) = self.clients.get_mut(&pending.client) {
            c.publishes_in_flight -= 1;
        }
        Some(pending)
    }

    pub(super) fn on_produced(&mut self, produce: ProduceId, result: Result<u64, BrokerError>) {
        // An unknown id was already failed by its deadline; the late answer changes nothing.
        let Some(pending) = self.finish_produce(produce) else {
            return;
        };
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
                self.fail_publish(pending.client, pending.id, None, code, err.to_string());
            }
        }
    }

    pub(super) fn expire_produces(&mut self, now_ms: u64) {
        while let Some(&(deadline_ms, produce)) = self.produce_deadlines.first() {
            if deadline_ms > now_ms {
                break;
            }
            if let Some(pending) = self.finish_produce(produce) {
                let message = format!(
                    "the broker did not acknowledge within {} ms; the outcome is unknown",
                    self.config.publish_timeout_ms
                );
                self.stats.publishes_timed_out_total += 1;
                self.fail_publish(
                    pending.client,
                    pending.id,
                    None,
                    ErrorCode::Unavailable,
                    message,
                );
            }
        }
    }
}

fn header_of(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}
