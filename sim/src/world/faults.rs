//! Faults from the plan, each recurring at its own drawn rate during the fault
//! phase, and the heal that ends them.

use rand::Rng;
use sluice_core::Input;

use super::World;
use crate::event::{Event, Fault};
use crate::plan::Recurring;
use crate::trace::Note;
use crate::violation::Violation;

impl World {
    fn recurring(&self, fault: Fault) -> Option<Recurring> {
        match fault {
            Fault::Disconnect => self.plan.disconnect,
            Fault::SlowConsumer => self.plan.slow_consumer,
            Fault::BrokerStall => self.plan.broker_stall,
            Fault::Rewind => self.plan.rewind,
            Fault::PartitionUnavailable => self.plan.partition_unavailable,
            Fault::GatewayCrash => self.plan.gateway_crash,
        }
    }

    pub(super) fn schedule_first_faults(&mut self) {
        for fault in Fault::ALL {
            self.schedule_fault(fault);
        }
    }

    fn schedule_fault(&mut self, fault: Fault) {
        if let Some(r) = self.recurring(fault) {
            let at = self.now_ms + self.around(r.every_ms);
            if at < self.plan.fault_phase_ms {
                self.queue.push(at, Event::Fault(fault));
            }
        }
    }

    /// How big this occurrence is: up to the plan's `size_max` (at least 1).
    fn size(&mut self, fault: Fault) -> u64 {
        let size_max = self.recurring(fault).map_or(1, |r| r.size_max.max(1));
        self.rng.random_range(1..=size_max)
    }

    fn random_partition(&mut self) -> (usize, u32) {
        let topic = self.rng.random_range(0..self.broker.log.topic_count());
        let partition = self
            .rng
            .random_range(0..self.broker.log.partition_count(topic));
        (topic, partition)
    }

    pub(super) fn fault(&mut self, fault: Fault) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        self.schedule_fault(fault);
        match fault {
            Fault::Disconnect => {
                let connected: Vec<usize> = (0..self.clients.len())
                    .filter(|&c| self.clients[c].conn.is_some())
                    .collect();
                if connected.is_empty() {
                    return Ok(());
                }
                let c = connected[self.rng.random_range(0..connected.len())];
                let Some(id) = self.clients[c].conn.as_ref().map(|conn| conn.id) else {
                    return Ok(());
                };
                self.coverage.disconnects += 1;
                self.note(Note::Disconnect {
                    client: c,
                    conn: id.0,
                });
                self.end_connection(c);
                self.feed(Input::Disconnect { client: id })?;
            }
            Fault::SlowConsumer => {
                let c = self.rng.random_range(0..self.clients.len());
                let until = self.now_ms + self.size(fault);
                self.clients[c].slow_until_ms = until;
                self.note(Note::Fault(format!(
                    "client {c} reads slowly until {until} ms"
                )));
            }
            Fault::BrokerStall => {
                let until = self.now_ms + self.size(fault);
                self.broker.stall(until);
                self.note(Note::Fault(format!("broker stalls until {until} ms")));
            }
            Fault::Rewind => {
                let (t, p) = self.random_partition();
                let records = self.size(fault);
                self.broker.rewind(t, p, records);
                self.note(Note::Fault(format!(
                    "stream of {t}/{p} rewound by {records}"
                )));
                self.kick_stream();
            }
            Fault::PartitionUnavailable => {
                let (t, p) = self.random_partition();
                let until = self.now_ms + self.size(fault);
                self.broker.make_unavailable(t, p, until);
                self.note(Note::Fault(format!(
                    "partition {t}/{p} unavailable until {until} ms"
                )));
            }
            Fault::GatewayCrash => {
                let Some(crashed) = self.gateway.take() else {
                    return Ok(());
                };
                self.coverage.start_pauses += crashed.stats().start_pauses_total;
                self.coverage.moves += crashed.stats().subject_partition_moves_total;
                self.incarnation += 1;
                self.heads = None;
                self.note(Note::GatewayCrash);
                for c in 0..self.clients.len() {
                    if self.clients[c].conn.is_some() {
                        self.end_connection(c);
                    }
                }
                let down_ms = self
                    .rng
                    .random_range(0..=self.recurring(fault).map_or(0, |r| r.size_max));
                self.queue
                    .push(self.now_ms + down_ms, Event::GatewayRestarts);
            }
        }
        Ok(())
    }

    /// The fault phase is over: outages and stalls end, every app reads promptly.
    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.broker.heal();
        for client in &mut self.clients {
            client.slow_until_ms = 0;
        }
        self.note(Note::Heal);
        self.kick_stream();
    }
}
