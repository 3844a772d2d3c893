//! The gateway state machine.
//!
//! Methods fall into the groups `quinn-proto` uses: `handle_*` feed it what happened,
//! `poll_*` drain what it wants done, and getters read its state. After every
//! `handle_*` call, and after [`Gateway::poll_transmit`] (reading makes room, and a
//! paused subscription start goes on), drain [`Gateway::poll_output`] until it
//! returns `None`; then wait for the next input or until [`Gateway::poll_timeout`].

mod access;
mod client;
mod exposure;
mod publish;
mod records;
mod requests;
mod subscribe;
mod subscriptions;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::broker::{BrokerEvent, Epoch};
use crate::cache::{MessageCache, SnapshotCache, SubjectPartitions};
use crate::config::GatewayConfig;
use crate::ids::{ClientId, FetchId, ProduceId};
use crate::input::Input;
use crate::output::Output;
use crate::protocol::ServerFrame;
use crate::stats::GatewayStats;
use crate::subject::Subject;

use crate::token_bucket::TokenBucket;
use client::{ClientState, Paused, PendingStart, Recovering};
use publish::PendingProduce;
use subscribe::{FetchState, WaitingResume};

pub use exposure::{compile_pattern, ExposureChange, ExposureError, SubjectInfo, TopicInfo};

/// One partition of an exposed topic, as far as this gateway has read it.
#[derive(Debug, Clone)]
struct PartitionState {
    epoch: Epoch,
    /// The next offset expected from the broker; everything below was processed.
    next_offset: u64,
    /// Where this gateway began reading the log (the log start, or a bootstrap
    /// window's): it knows nothing of the records below.
    read_from: u64,
}

#[derive(Debug, Clone, Default)]
struct TopicState {
    partitions: Vec<PartitionState>,
}

/// What became of a start frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartSend {
    Sent,
    /// It did not fit the client's queue (this many bytes): the start must pause.
    NoRoom(usize),
    /// The client is gone.
    Gone,
}

/// Why the caller's input was refused. These are caller bugs, never peer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("client {0:?} is already connected")]
    DuplicateClient(ClientId),
}

/// The sans-IO Sluice gateway. See the crate docs for the run loop.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    exposed: BTreeSet<String>,
    /// Topic patterns (anchored regexes): a topic the broker announced that matches
    /// one is exposed too.
    patterns: Vec<exposure::TopicPattern>,
    topics: BTreeMap<Arc<str>, TopicState>,
    clients: BTreeMap<ClientId, ClientState>,
    /// Routing index: who is subscribed to each subject.
    subscribers: HashMap<Subject, BTreeSet<ClientId>>,
    snapshots: SnapshotCache,
    messages: MessageCache,
    /// The partition each subject's records are on (the key → partition memory).
    placements: SubjectPartitions,
    produces: HashMap<ProduceId, PendingProduce>,
    /// Publish deadlines, earliest first.
    produce_deadlines: BTreeSet<(u64, ProduceId)>,
    fetches: HashMap<FetchId, FetchState>,
    fetch_queue: VecDeque<WaitingResume>,
    /// Access deadlines (token due, expiry notice, expiry), earliest first.
    access_timers: BTreeSet<(u64, ClientId)>,
    /// Token ids (`jti`) no connection may hold.
    revoked_token_ids: Arc<BTreeSet<String>>,
    next_produce: u64,
    next_fetch: u64,
    outputs: VecDeque<Output>,
    stats: GatewayStats,
    /// Whether [`BrokerEvent::CaughtUp`] has been applied.
    broker_caught_up: bool,
    /// The deliberate bug switched on for the simulator's self-test, if any.
    #[cfg(feature = "inject-bugs")]
    injected_bug: Option<crate::InjectedBug>,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Self {
        Gateway {
            exposed: config.exposed_topics.iter().cloned().collect(),
            patterns: exposure::compile_patterns(&config.exposed_topic_patterns),
            topics: BTreeMap::new(),
            clients: BTreeMap::new(),
            subscribers: HashMap::new(),
            snapshots: SnapshotCache::new(config.snapshot_cache_bytes_max),
            messages: MessageCache::new(
                config.message_cache_bytes_max,
                config.message_cache_messages_per_subject_max,
                config.message_cache_bytes_per_subject_max,
            ),
            placements: SubjectPartitions::new(config.subject_partitions_bytes_max),
            produces: HashMap::new(),
            produce_deadlines: BTreeSet::new(),
            fetches: HashMap::new(),
            fetch_queue: VecDeque::new(),
            access_timers: BTreeSet::new(),
            revoked_token_ids: Arc::default(),
            next_produce: 0,
            next_fetch: 0,
            outputs: VecDeque::new(),
            stats: GatewayStats::default(),
            broker_caught_up: false,
            #[cfg(feature = "inject-bugs")]
            injected_bug: None,
            config,
        }
    }

    /// Switches on a deliberate bug, so the simulator can prove its checker sees it.
    #[cfg(feature = "inject-bugs")]
    pub fn inject_bug(&mut self, bug: crate::InjectedBug) {
        self.injected_bug = Some(bug);
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Feeds one input. `now_ms` is the caller's monotonic clock in milliseconds.
    pub fn handle_input(&mut self, now_ms: u64, input: Input) -> Result<(), GatewayError> {
        match input {
            Input::Connect { client, encoding } => {
                if self.clients.contains_key(&client) {
                    return Err(GatewayError::DuplicateClient(client));
                }
                let access = self.initial_access(now_ms);
                let bucket = (self.config.publish_rate_per_s > 0).then(|| {
                    TokenBucket::new(
                        self.config.publish_rate_per_s,
                        self.config.publish_burst,
                        now_ms,
                    )
                });
                self.clients
                    .insert(client, ClientState::new(encoding, access, bucket));
                self.arm_access_timer(client);
            }
            Input::ClientData { client, data } => self.on_client_data(now_ms, client, &data),
            Input::ClientFrame { client, frame } => self.on_client_frame(now_ms, client, frame),
            Input::Disconnect { client } => self.drop_client(client),
            Input::Broker(event) => match event {
                BrokerEvent::TopicMeta { topic, partitions } => {
                    self.on_topic_meta(topic, partitions)
                }
                BrokerEvent::Records(records) => {
                    for record in records {
                        self.on_record(record);
                    }
                }
                BrokerEvent::Produced { produce, result } => self.on_produced(produce, result),
                BrokerEvent::Fetched { fetch, result } => self.on_fetched(fetch, result),
                BrokerEvent::CaughtUp => self.broker_caught_up = true,
            },
            Input::Authenticated {
                client,
                request,
                result,
            } => self.on_authenticated(now_ms, client, request, result),
            Input::RevokedTokens(token_ids) => self.on_revoked_tokens(token_ids),
            Input::Exposure(change) => self.on_exposure(change),
        }
        Ok(())
    }

    /// Fails the publishes whose broker answer is overdue; sends `token_expiring`
    /// and closes connections whose token expired or never came.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.expire_produces(now_ms);
        self.expire_access(now_ms);
    }

    /// The next instruction for the caller.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Gateway::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        let produce = self.produce_deadlines.first().map(|(at, _)| *at);
        let access = self.access_timers.first().map(|(at, _)| *at);
        match (produce, access) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next frame to write to `client`, releasing its bytes from the client's queue.
    ///
    /// Reading makes room, so this is also where paused subscription starts go on:
    /// they may queue more frames and ask for more (a broker fetch). Drain
    /// [`Gateway::poll_output`] after calling it, as after a `handle_*` call.
    pub fn poll_transmit(&mut self, client: ClientId) -> Option<ServerFrame> {
        let state = self.clients.get(&client)?;
        if state.queue.is_empty() && !state.paused.is_empty() {
            // Not reached while the invariant holds (a start pauses only behind
            // queued frames); cheap insurance against a client stuck forever.
            self.continue_starts(client);
        }
        let state = self.clients.get_mut(&client)?;
        let frame = state.pop();
        if let Some(frame) = &frame {
            self.stats.client_queue_bytes -= frame.cost_bytes() as u64;
            self.continue_starts(client);
        }
        frame
    }

    /// [`Gateway::poll_transmit`] until `out` holds `max` frames or the queue is
    /// empty. A client with no paused start (nearly every one) gives up its frames
    /// in one look-up; one with a paused start goes frame by frame, so the start
    /// goes on as each frame makes room.
    pub fn poll_transmit_into(&mut self, client: ClientId, out: &mut Vec<ServerFrame>, max: usize) {
        while out.len() < max {
            let Some(state) = self.clients.get_mut(&client) else {
                return;
            };
            if !state.paused.is_empty() {
                match self.poll_transmit(client) {
                    Some(frame) => out.push(frame),
                    None => return,
                }
                continue;
            }
            let mut released_bytes = 0;
            while out.len() < max {
                let Some((frame, cost)) = state.pop_costed() else {
                    break;
                };
                released_bytes += cost;
                out.push(frame);
            }
            self.stats.client_queue_bytes -= released_bytes as u64;
            return;
        }
    }

    /// Bytes queued towards `client` right now.
    pub fn client_queue_bytes(&self, client: ClientId) -> Option<usize> {
        self.clients.get(&client).map(|c| c.queue_bytes)
    }

    /// Whether every bootstrap record the broker sent has been applied
    /// ([`BrokerEvent::CaughtUp`]), so snapshots are as complete as the log.
    pub fn broker_caught_up(&self) -> bool {
        self.broker_caught_up
    }

    /// Whether the broker has told this gateway about `topic`'s partitions yet.
    pub fn topic_known(&self, topic: &str) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|t| !t.partitions.is_empty())
    }

    /// The next offset this gateway expects per partition of `topic`.
    pub fn topic_positions(&self, topic: &str) -> Vec<(Epoch, u64)> {
        self.topics
            .get(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.epoch.clone(), p.next_offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn stats(&self) -> GatewayStats {
        let mut stats = self.stats.clone();
        stats.clients_connected = self.clients.len() as u64;
        stats.subscriptions_active = self
            .clients
            .values()
            .map(|c| c.subscriptions.len() as u64)
            .sum();
        stats.subjects_subscribed = self.subscribers.len() as u64;
        stats.fetches_in_flight = self.fetches.len() as u64;
        stats.fetch_queue_len = self.fetch_queue.len() as u64;
        stats.starts_paused = self.clients.values().map(|c| c.paused.len() as u64).sum();
        stats.client_queue_bytes_largest = self
            .clients
            .values()
            .map(|c| c.queue_bytes as u64)
            .max()
            .unwrap_or(0);
        stats.snapshot_cache_bytes = self.snapshots.bytes() as u64;
        stats.snapshot_cache_entries = self.snapshots.len() as u64;
        stats.snapshot_cache_evictions_total = self.snapshots.evictions_total();
        stats.message_cache_bytes = self.messages.bytes() as u64;
        stats.message_cache_messages = self.messages.messages() as u64;
        stats.message_cache_evictions_total = self.messages.evictions_total();
        stats.subject_partitions = self.placements.len() as u64;
        stats.subject_partitions_bytes = self.placements.bytes() as u64;
        stats.subject_partitions_evictions_total = self.placements.evictions_total();
        stats.revoked_token_ids = self.revoked_token_ids.len() as u64;
        stats
    }

    /// Queues a frame for `client`; disconnects it as a slow consumer if that would
    /// exceed its bound. Returns false when the client is (now) gone. For replies
    /// (`ok`, `error`, `ack`) and live `update`s: a client that cannot take those is
    /// too slow. A subscription's start goes through [`Gateway::send_start`] instead.
    fn send(&mut self, client: ClientId, frame: ServerFrame) -> bool {
        let Some(state) = self.clients.get(&client) else {
            return false;
        };
        let cost = frame.cost_bytes();
        if over_bound(state.queue_bytes, cost, self.live_bound_bytes()) {
            self.close_slow_consumer(client);
            return false;
        }
        self.enqueue(client, frame, cost);
        true
    }

    /// The bound a reply or live update must fit in a client's queue; `None` while
    /// the simulator's `ForgetQueueBound` bug is on.
    fn live_bound_bytes(&self) -> Option<usize> {
        #[cfg(feature = "inject-bugs")]
        if self.injected_bug == Some(crate::InjectedBug::ForgetQueueBound) {
            return None;
        }
        Some(self.config.client_queue_bytes_max)
    }

    fn close_slow_consumer(&mut self, client: ClientId) {
        self.stats.slow_consumer_disconnects_total += 1;
        self.close(client, crate::output::close_code::POLICY, "slow_consumer");
    }

    /// Queues a frame of a subscription's start (snapshot, history, recovered, a
    /// fetched record, `sync`/`resync`, the updates that end a paused start). Start
    /// frames are paced, never a reason to close: they fill the queue only up to half
    /// its bound (one always goes into an empty queue), which leaves the other half to
    /// replies and live updates. When the frame does not fit, nothing is queued and
    /// the caller pauses the start ([`Gateway::pause_start`]).
    fn send_start(&mut self, client: ClientId, frame: ServerFrame) -> StartSend {
        let Some(state) = self.clients.get(&client) else {
            return StartSend::Gone;
        };
        let cost = frame.cost_bytes();
        let fits = state.start_fits(cost, self.start_bytes_max());
        #[cfg(feature = "inject-bugs")]
        let fits = fits || self.injected_bug == Some(crate::InjectedBug::ForgetQueueBound);
        if !fits {
            return StartSend::NoRoom(cost);
        }
        self.enqueue(client, frame, cost);
        StartSend::Sent
    }

    /// How many bytes start frames may fill a client's queue up to.
    fn start_bytes_max(&self) -> usize {
        self.config.client_queue_bytes_max / 2
    }

    /// Queues a frame the caller has admitted, counting it.
    fn enqueue(&mut self, client: ClientId, frame: ServerFrame, cost: usize) {
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        if queue_counted(state, &mut self.stats, frame, cost) {
            self.outputs.push_back(Output::Wake { client });
        }
    }

    /// Pauses the start of `client`'s subscription to `subject` at `pending`; `cost` is
    /// the frame that did not fit. A start already paused keeps its turn.
    fn pause_start(
        &mut self,
        client: ClientId,
        subject: &Subject,
        pending: PendingStart,
        cost: usize,
    ) {
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        let Some(sub) = state.subscriptions.get_mut(subject) else {
            return;
        };
        self.stats.start_pauses_total += 1;
        let was_paused = sub.is_paused();
        sub.recovering = Some(Recovering::Paused(pending));
        match state.paused.iter_mut().find(|p| &p.subject == subject) {
            Some(paused) if was_paused => paused.cost = cost,
            _ => state.paused.push_back(Paused {
                subject: subject.clone(),
                cost,
            }),
        }
    }

    /// Goes on with `client`'s paused starts, in order, while the first one's frame
    /// fits. One that pauses again keeps the first turn.
    fn continue_starts(&mut self, client: ClientId) {
        let limit = self.start_bytes_max();
        loop {
            let Some(state) = self.clients.get_mut(&client) else {
                return;
            };
            let Some(first) = state.paused.front() else {
                return;
            };
            if !state.start_fits(first.cost, limit) {
                return;
            }
            let Some(Paused { subject, .. }) = state.paused.pop_front() else {
                return;
            };
            let pending = match state.subscriptions.get_mut(&subject) {
                Some(sub) => match sub.recovering {
                    Some(Recovering::Paused(pending)) => {
                        sub.recovering = None;
                        pending
                    }
                    _ => continue,
                },
                None => continue,
            };
            if !self.run_pending_start(client, &subject, pending) {
                return;
            }
            let Some(state) = self.clients.get_mut(&client) else {
                return;
            };
            if state.paused.back().is_some_and(|p| p.subject == subject) {
                // Paused again: it goes first next time too, and nothing behind it
                // goes on before it.
                if let Some(again) = state.paused.pop_back() {
                    state.paused.push_front(again);
                }
                return;
            }
        }
    }

    /// Forgets a client and tells the caller to close its connection.
    fn close(&mut self, client: ClientId, code: u16, reason: &'static str) {
        self.drop_client(client);
        self.outputs.push_back(Output::Close {
            client,
            code,
            reason,
        });
    }

    fn drop_client(&mut self, client: ClientId) {
        let Some(state) = self.clients.remove(&client) else {
            return;
        };
        self.stats.client_queue_bytes -= state.queue_bytes as u64;
        if let Some(at) = state.access_timer_ms {
            self.access_timers.remove(&(at, client));
        }
        for subject in state.subscriptions.keys() {
            self.remove_subscriber(subject, client);
        }
        self.fetch_queue.retain(|w| w.client != client);
    }

    fn remove_subscriber(&mut self, subject: &Subject, client: ClientId) {
        if let Some(set) = self.subscribers.get_mut(subject) {
            set.remove(&client);
            if set.is_empty() {
                self.subscribers.remove(subject);
            }
        }
    }

    /// The partition `subject` lives on and its state, if the topic's layout is known:
    /// where its records were last seen (the key → partition memory, else its
    /// snapshot's log), or, for a subject the gateway has no record of, where the
    /// topic's partitioner puts its key (null key: partition 0).
    fn current_partition(&self, subject: &Subject) -> Option<(u32, &PartitionState)> {
        let topic = self.topics.get(subject.topic())?;
        let count = u32::try_from(topic.partitions.len()).ok()?;
        if count == 0 {
            return None;
        }
        let remembered = self
            .placements
            .get(subject)
            .map(|placement| placement.partition)
            .or_else(|| {
                // Forgotten for the bound, but its snapshot still says where it is.
                let epoch = self.snapshots.epoch_of(subject)?;
                let i = topic.partitions.iter().position(|p| &p.epoch == epoch)?;
                u32::try_from(i).ok()
            });
        let p = match remembered {
            Some(p) if p < count => p,
            _ => self
                .config
                .partitioner_of(subject.topic())
                .partition(subject.key().map(str::as_bytes), count),
        };
        Some((p, topic.partitions.get(p as usize)?))
    }

    /// The partition of `topic` whose log is `epoch`, if it is still a current one.
    fn partition_by_epoch(&self, topic: &str, epoch: &Epoch) -> Option<(u32, &PartitionState)> {
        let topic = self.topics.get(topic)?;
        let i = topic.partitions.iter().position(|p| &p.epoch == epoch)?;
        Some((u32::try_from(i).ok()?, &topic.partitions[i]))
    }
}

/// Whether a frame of `cost` bytes goes past `bound` in a queue holding `queued`
/// bytes. One frame is always accepted into an empty queue, so a record larger than
/// the bound is still delivered (the bound is then that one frame) instead of
/// disconnecting every subscriber of its subject.
fn over_bound(queued: usize, cost: usize, bound: Option<usize>) -> bool {
    bound.is_some_and(|bound| queued > 0 && queued + cost > bound)
}

/// Queues a frame the caller has admitted on `state`, counting it; true when the
/// client must be woken ([`Output::Wake`]).
fn queue_counted(
    state: &mut ClientState,
    stats: &mut GatewayStats,
    frame: ServerFrame,
    cost: usize,
) -> bool {
    if let ServerFrame::Message(m) = &frame {
        stats.messages_out_total += 1;
        stats.message_bytes_out_total += m.data.as_ref().map_or(0, |d| d.len() as u64);
    }
    if matches!(frame, ServerFrame::Error { .. }) {
        stats.client_errors_total += 1;
    }
    stats.frames_out_total += 1;
    stats.client_queue_bytes += cost as u64;
    let woken = state.push(frame, cost);
    stats.client_queue_bytes_peak = stats.client_queue_bytes_peak.max(state.queue_bytes as u64);
    woken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_is_caught_up_only_once_its_marker_is_applied() {
        let mut gateway = Gateway::new(GatewayConfig::default());
        assert!(!gateway.broker_caught_up());
        gateway
            .handle_input(0, Input::Broker(BrokerEvent::Records(Vec::new())))
            .unwrap();
        assert!(!gateway.broker_caught_up());
        gateway
            .handle_input(0, Input::Broker(BrokerEvent::CaughtUp))
            .unwrap();
        assert!(gateway.broker_caught_up());
    }
}
