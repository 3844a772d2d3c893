//! Produces in flight, as one owned part: each publish the broker has not answered
//! yet, with its deadline. A produce is in `pending` exactly when its deadline is in
//! `deadlines`; [`Produces::finish`] and [`Produces::pop_overdue`] remove both.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use crate::broker::{header, BrokerCommand, Epoch, Header, ProduceRequest};
use crate::ids::{ClientId, ProduceId, RequestId};
use crate::protocol::PublishFrame;
use crate::subject::Subject;

/// A publish waiting for the broker's answer: who to ack, on which log.
#[derive(Debug, Clone)]
pub(super) struct PendingProduce {
    pub client: ClientId,
    pub id: RequestId,
    pub epoch: Epoch,
    deadline_ms: u64,
}

#[derive(Debug, Default)]
pub(super) struct Produces {
    pending: HashMap<ProduceId, PendingProduce>,
    /// Deadlines, earliest first.
    deadlines: BTreeSet<(u64, ProduceId)>,
    next_id: u64,
}

impl Produces {
    /// Registers `publish` from `client`, checked and placed on `partition` of
    /// `subject`'s topic (log `epoch`), due by `deadline_ms`; returns the command
    /// that produces it.
    pub fn start(
        &mut self,
        client: ClientId,
        publish: PublishFrame,
        subject: &Subject,
        (partition, epoch): (u32, Epoch),
        deadline_ms: u64,
    ) -> BrokerCommand {
        let produce = ProduceId(self.next_id);
        self.next_id += 1;
        let pending = PendingProduce {
            client,
            id: publish.id,
            epoch,
            deadline_ms,
        };
        self.pending.insert(produce, pending);
        self.deadlines.insert((deadline_ms, produce));

        let mut headers = vec![
            header_of(
                header::RETAINED,
                if publish.retained { "true" } else { "false" },
            ),
            header_of(header::QOS, publish.qos.as_str()),
        ];
        if let Some(reply_to) = &publish.reply_to {
            headers.push(header_of(header::REPLY_TO, reply_to));
        }
        if let Some(traceparent) = &publish.traceparent {
            headers.push(header_of(header::TRACEPARENT, traceparent));
        }
        BrokerCommand::Produce(ProduceRequest {
            produce,
            topic: Arc::from(subject.topic()),
            partition,
            key: subject.key().map(|k| Bytes::copy_from_slice(k.as_bytes())),
            payload: publish.data,
            headers,
        })
    }

    /// Forgets a produce the broker answered; `None` if it is not in flight (its
    /// deadline already failed it).
    pub fn finish(&mut self, produce: ProduceId) -> Option<PendingProduce> {
        let pending = self.pending.remove(&produce)?;
        self.deadlines.remove(&(pending.deadline_ms, produce));
        Some(pending)
    }

    /// Forgets and returns the first produce overdue at `now_ms`, if any.
    pub fn pop_overdue(&mut self, now_ms: u64) -> Option<PendingProduce> {
        while let Some(&(deadline_ms, produce)) = self.deadlines.first() {
            if deadline_ms > now_ms {
                return None;
            }
            self.deadlines.remove(&(deadline_ms, produce));
            if let Some(pending) = self.pending.remove(&produce) {
                return Some(pending);
            }
        }
        None
    }

    /// The earliest deadline, if any produce is in flight.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|(at, _)| *at)
    }
}

fn header_of(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}
