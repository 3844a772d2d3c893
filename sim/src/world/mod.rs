//! The seeded world around one gateway: virtual time, apps with their SDKs, a
//! partitioned log behind a simulated broker, and faults from the plan. It drives
//! `sluice_core::Gateway` through its sans-IO interface only, exactly as the tokio
//! runtime does, and checks every frame a client reads against the log.

mod broker_io;
mod clients;
mod faults;
mod liveness;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_core::{BrokerCommand, BrokerEvent, ClientId, Gateway, Input, Output};

use crate::broker::SimBroker;
use crate::client::SimClient;
use crate::coverage::Coverage;
use crate::event::{Event, EventQueue};
use crate::ledger::{Heads, ReadState};
use crate::log::SimLog;
use crate::plan::{FaultPlan, SUBJECTS_PER_CLIENT_MAX};
use crate::reads::Reads;
use crate::run::RunOptions;
use crate::subjects::Subjects;
use crate::trace::{Note, Trace};
use crate::violation::{Broken, Invariant, Violation};

/// A run that takes more steps than this spins in place (virtual time stops).
const STEPS_MAX: u64 = 5_000_000;

pub(crate) struct World {
    plan: FaultPlan,
    injected_bug: Option<sluice_core::testing::InjectedBug>,
    rng: ChaCha8Rng,
    /// The movers' choices, from a stream of their own: the rest of a run draws
    /// what it drew before movers existed.
    mover_rng: ChaCha8Rng,
    now_ms: u64,
    queue: EventQueue,
    /// `None` while crashed.
    gateway: Option<Gateway>,
    /// Bumped at every crash: messages to an older gateway are lost with it.
    incarnation: u32,
    broker: SimBroker,
    /// What the current gateway has read, in order.
    reads: Reads,
    subjects: Subjects,
    clients: Vec<SimClient>,
    /// Which client owns each live connection.
    owners: BTreeMap<ClientId, usize>,
    /// Connections closed or cut: the gateway must never name them again.
    ended: BTreeSet<ClientId>,
    next_conn: u64,
    healed: bool,
    stream_scheduled: bool,
    /// The broker → gateway link is FIFO: nothing arrives before this time.
    broker_link_free_ms: u64,
    /// The gateway's heads, cached until records or a topic layout come in.
    heads: Option<Heads>,
    /// The largest frame the world can cause; a queue beyond it is never one frame.
    frame_cost_max: usize,
    /// Acknowledged publishes: `(subject, partition, seq)`.
    acked: Vec<(usize, u32, u64)>,
    /// How many times each app payload was written to the log.
    written: HashMap<Bytes, u32>,
    foreign_writes: u64,
    coverage: Coverage,
    /// Slow-consumer closes after healing: many mean a client cannot catch up.
    closes_after_heal: u64,
    trace: Trace,
}

impl World {
    pub fn new(plan: FaultPlan, options: RunOptions) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        // The plan used stream 0 of this seed; the run draws from stream 1, so a
        // change in how the world runs never changes the plan a seed prints.
        rng.set_stream(1);
        let mut mover_rng = ChaCha8Rng::seed_from_u64(plan.seed);
        mover_rng.set_stream(2);
        let subjects = Subjects::new(&plan.topics);
        let log = SimLog::new(&plan.topics, &subjects, plan.retention_records_max);
        let frame_cost_max = 64 + 64 + 32 + plan.large_payload_bytes.max(64) + 256;
        World {
            clients: (0..plan.clients).map(|_| SimClient::default()).collect(),
            trace: Trace::new(options.keep_full_trace),
            injected_bug: options.injected_bug,
            rng,
            mover_rng,
            now_ms: 0,
            queue: EventQueue::default(),
            gateway: None,
            incarnation: 0,
            reads: Reads::new(&log, &subjects),
            broker: SimBroker::new(log),
            subjects,
            owners: BTreeMap::new(),
            ended: BTreeSet::new(),
            next_conn: 0,
            healed: false,
            stream_scheduled: false,
            broker_link_free_ms: 0,
            heads: None,
            frame_cost_max,
            acked: Vec::new(),
            written: HashMap::new(),
            foreign_writes: 0,
            coverage: Coverage::default(),
            closes_after_heal: 0,
            plan,
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn coverage(&self) -> Coverage {
        let mut coverage = self.coverage;
        if let Some(stats) = self.gateway.as_ref().map(Gateway::stats) {
            coverage.start_pauses += stats.start_pauses_total;
            coverage.moves += stats.subject_partition_moves_total;
        }
        coverage
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Runs the fault phase, heals, lets the world settle, then checks liveness.
    pub fn run(&mut self) -> Result<(), Violation> {
        self.boot_gateway()?;
        for client in 0..self.clients.len() {
            let at = self.rng.random_range(0..=100);
            self.queue.push(at, Event::ClientConnects { client });
            self.clients[client].connect_scheduled = true;
            let at = self.rng.random_range(0..=2 * self.plan.client_act_every_ms);
            self.queue.push(at, Event::ClientActs { client });
            let count = self
                .rng
                .random_range(1..=self.subjects.len().min(SUBJECTS_PER_CLIENT_MAX));
            for _ in 0..count {
                let subject = self.rng.random_range(0..self.subjects.len());
                let first = &mut self.clients[client].first_subjects;
                if !first.contains(&subject) {
                    first.push(subject);
                }
            }
        }
        let at = self
            .rng
            .random_range(0..=2 * self.plan.foreign_write_every_ms);
        self.queue.push(at, Event::ForeignWrite);
        self.schedule_first_faults();
        self.queue.push(self.plan.fault_phase_ms, Event::Heal);
        let deadline_ms = self.plan.fault_phase_ms + self.plan.heal_budget_ms;
        let mut steps: u64 = 0;
        loop {
            steps += 1;
            if steps > STEPS_MAX {
                return Err(self.violation(
                    (
                        Invariant::Liveness,
                        format!(
                            "more than {STEPS_MAX} steps: the world spins without time passing"
                        ),
                    ),
                    None,
                ));
            }
            let timer_ms = self.gateway.as_ref().and_then(Gateway::poll_timeout);
            let next_ms = self.queue.next_at_ms();
            if let Some(at_ms) = timer_ms.filter(|&t| next_ms.is_none_or(|n| t <= n)) {
                self.advance(at_ms, deadline_ms)?;
                if let Some(gw) = self.gateway.as_mut() {
                    gw.handle_timeout(self.now_ms);
                }
                self.after_input()?;
                continue;
            }
            let Some((at_ms, event)) = self.queue.pop() else {
                break;
            };
            self.advance(at_ms, deadline_ms)?;
            self.handle(event)?;
        }
        self.check_liveness()
    }

    fn advance(&mut self, at_ms: u64, deadline_ms: u64) -> Result<(), Violation> {
        if at_ms > deadline_ms {
            return Err(self.violation(
                (
                    Invariant::Liveness,
                    format!(
                        "the world was still busy {} ms after healing ({} events pending, {} slow-consumer closes since healing)",
                        self.plan.heal_budget_ms,
                        self.queue.len(),
                        self.closes_after_heal
                    ),
                ),
                None,
            ));
        }
        self.now_ms = self.now_ms.max(at_ms);
        Ok(())
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        match event {
            Event::ClientActs { client } => self.client_acts(client),
            Event::ClientConnects { client } => self.client_connects(client),
            Event::FrameToGateway {
                incarnation,
                conn,
                frame,
            } => {
                let current = incarnation == self.incarnation && self.owners.contains_key(&conn);
                if current {
                    self.feed(Input::ClientFrame {
                        client: conn,
                        frame,
                    })?;
                }
                Ok(())
            }
            Event::ClientReads { client, conn } => self.client_reads(client, conn),
            Event::CommandToBroker {
                incarnation,
                command,
            } => self.command_to_broker(incarnation, command),
            Event::BrokerNews { incarnation, event } => {
                if incarnation != self.incarnation {
                    return Ok(());
                }
                match event {
                    // One input per record (the core takes a batch record by record
                    // anyway), so the checker knows exactly what the gateway had read
                    // when it queued each frame: a move's `resync` included.
                    BrokerEvent::Records(records) => {
                        for record in records {
                            self.feed(Input::Broker(BrokerEvent::Records(vec![record])))?;
                        }
                        Ok(())
                    }
                    event => self.feed(Input::Broker(event)),
                }
            }
            Event::BrokerStreams => self.broker_streams(),
            Event::ForeignWrite => self.foreign_write(),
            Event::Fault(fault) => self.fault(fault),
            Event::GatewayRestarts => self.boot_gateway(),
            Event::Heal => {
                self.heal();
                Ok(())
            }
        }
    }

    /// A new, empty gateway learns the topics and rebuilds itself from the log.
    fn boot_gateway(&mut self) -> Result<(), Violation> {
        #[allow(unused_mut)]
        let mut gateway = Gateway::new(self.plan.gateway.clone());
        if let Some(bug) = self.injected_bug {
            gateway.inject_bug(bug);
        }
        if self.incarnation > 0 {
            self.coverage.gateway_restarts += 1;
            self.note(Note::GatewayRestart);
        }
        self.gateway = Some(gateway);
        self.heads = None;
        self.reads = Reads::new(&self.broker.log, &self.subjects);
        for meta in self.broker.restart_stream() {
            self.feed(Input::Broker(meta))?;
        }
        self.kick_stream();
        Ok(())
    }

    /// Feeds one input to the gateway, then drains and checks what it wants done.
    fn feed(&mut self, input: Input) -> Result<(), Violation> {
        if self.gateway.is_none() {
            return Ok(());
        }
        match &input {
            Input::Broker(BrokerEvent::Records(records)) => {
                self.heads = None;
                for record in records {
                    self.reads.record(&self.broker.log, &self.subjects, record);
                }
            }
            Input::Broker(BrokerEvent::TopicMeta { topic, partitions }) => {
                self.heads = None;
                if let Some(t) = self.broker.log.topic_index(topic) {
                    for meta in partitions {
                        self.reads.log_start(t, meta.partition, meta.start_offset);
                    }
                }
            }
            _ => {}
        }
        let Some(gateway) = self.gateway.as_mut() else {
            return Ok(());
        };
        if let Err(err) = gateway.handle_input(self.now_ms, input) {
            return Err(self.violation(
                (
                    Invariant::Answers,
                    format!("the gateway refused an input: {err}"),
                ),
                None,
            ));
        }
        self.after_input()
    }

    /// Drains the gateway's outputs, then notes every client's queue (invariant 6).
    fn after_input(&mut self) -> Result<(), Violation> {
        while let Some(output) = self.gateway.as_mut().and_then(Gateway::poll_output) {
            match output {
                Output::Wake { client } => self.on_wake(client)?,
                Output::Close { client, reason, .. } => self.on_close(client, reason)?,
                // The simulated gateway runs in auth mode `none`: no tokens to verify.
                Output::Authenticate { .. } => {}
                Output::SubjectMoved { .. } => {}
                Output::Broker(command) => {
                    if let BrokerCommand::Produce(produce) = &command {
                        self.check_produce_partition(produce)?;
                    }
                    let at =
                        self.now_ms + self.rng.random_range(1..=self.plan.broker_latency_ms_max);
                    let incarnation = self.incarnation;
                    self.queue.push(
                        at,
                        Event::CommandToBroker {
                            incarnation,
                            command,
                        },
                    );
                }
            }
        }
        let World {
            gateway,
            clients,
            broker,
            heads,
            reads,
            plan,
            frame_cost_max,
            now_ms,
            ..
        } = self;
        let Some(gw) = gateway.as_ref() else {
            return Ok(());
        };
        let bound_bytes = plan.gateway.client_queue_bytes_max;
        for (c, client) in clients.iter_mut().enumerate() {
            let Some(conn) = client.conn.as_mut() else {
                continue;
            };
            let queue_bytes = gw.client_queue_bytes(conn.id).unwrap_or(0);
            let observed = conn
                .ledger
                .observe(queue_bytes, bound_bytes, *frame_cost_max, || {
                    heads
                        .get_or_insert_with(|| heads_of(gw, &broker.log, reads))
                        .clone()
                });
            if let Err(broken) = observed {
                return Err(stamp(*now_ms, Some((c, conn.id)), broken));
            }
        }
        Ok(())
    }

    fn note(&mut self, note: Note) {
        self.trace.note(self.now_ms, note);
    }

    fn violation(&self, broken: Broken, who: Option<(usize, ClientId)>) -> Violation {
        stamp(self.now_ms, who, broken)
    }

    /// A uniformly drawn delay in `1..=2 * mean_ms`.
    fn around(&mut self, mean_ms: u64) -> u64 {
        self.rng.random_range(1..=2 * mean_ms.max(1))
    }
}

/// Puts the time and the client on a broken guarantee.
fn stamp(at_ms: u64, who: Option<(usize, ClientId)>, (invariant, detail): Broken) -> Violation {
    let detail = match who {
        Some((client, conn)) => format!("client {client} (conn {}): {detail}", conn.0),
        None => detail,
    };
    Violation {
        invariant,
        at_ms,
        detail,
    }
}

/// The gateway's next offset per topic and partition, and how much it has read.
fn heads_of(gateway: &Gateway, log: &SimLog, reads: &Reads) -> Heads {
    Arc::new(ReadState {
        positions: (0..log.topic_count())
            .map(|t| {
                let positions = gateway.topic_positions(log.topic_name(t));
                (0..log.partition_count(t) as usize)
                    .map(|p| positions.get(p).map_or(0, |(_, next)| *next))
                    .collect()
            })
            .collect(),
        reads: reads.count(),
    })
}
