//! Virtual time: a queue of events ordered by `(time_ms, seq_no)`. The sequence
//! number breaks ties in insertion order, so equal times never depend on anything
//! but the seed.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use sluice_core::protocol::ClientFrame;
use sluice_core::{BrokerCommand, BrokerEvent, ClientId};

/// Something that happens in the world at a point of virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The app behind a client publishes, subscribes or unsubscribes.
    ClientActs {
        client: usize,
    },
    /// A client (re)connects and restores its subscriptions with resume points.
    ClientConnects {
        client: usize,
    },
    /// A client frame reaches the gateway.
    FrameToGateway {
        incarnation: u32,
        conn: ClientId,
        frame: ClientFrame,
    },
    /// A client reads what the gateway queued for it.
    ClientReads {
        client: usize,
        conn: ClientId,
    },
    /// A gateway command reaches the broker.
    CommandToBroker {
        incarnation: u32,
        command: BrokerCommand,
    },
    /// News from the broker (records, answers, layouts) reaches the gateway.
    BrokerNews {
        incarnation: u32,
        event: BrokerEvent,
    },
    /// The broker streams the next records to the gateway.
    BrokerStreams,
    /// Another producer writes straight to the log.
    ForeignWrite,
    Fault(Fault),
    /// A crashed gateway comes back, empty, and rebuilds itself from the log.
    GatewayRestarts,
    /// The fault phase ends: no more faults, the broker answers, clients read.
    Heal,
}

/// The fault classes of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Fault {
    Disconnect,
    SlowConsumer,
    BrokerStall,
    Rewind,
    PartitionUnavailable,
    GatewayCrash,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Disconnect,
        Fault::SlowConsumer,
        Fault::BrokerStall,
        Fault::Rewind,
        Fault::PartitionUnavailable,
        Fault::GatewayCrash,
    ];
}

struct Scheduled {
    at_ms: u64,
    seq_no: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq_no) == (other.at_ms, other.seq_no)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ms, self.seq_no).cmp(&(other.at_ms, other.seq_no))
    }
}

/// Events waiting for their time, earliest first.
#[derive(Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    next_seq_no: u64,
}

impl EventQueue {
    pub fn push(&mut self, at_ms: u64, event: Event) {
        let seq_no = self.next_seq_no;
        self.next_seq_no += 1;
        self.heap.push(Reverse(Scheduled {
            at_ms,
            seq_no,
            event,
        }));
    }

    pub fn next_at_ms(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(s)| s.at_ms)
    }

    pub fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|Reverse(s)| (s.at_ms, s.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
