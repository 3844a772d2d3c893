//! The gateway state machine: [`Gateway`] and the owned parts it is made of.
//!
//! Parts (state with its own invariants and methods): [`clients::Clients`],
//! [`routing::Routing`], [`produces::Produces`], [`fetches::Fetches`]. The other
//! files are the gateway's own steps, in the order a request goes through them:
//! `requests` (decode, dispatch) → `check` (subject checks) → `publish` /
//! `subscribe` → `starts` / `resume_fetch` → `delivery` (client queues), with
//! `records` for what the broker sends, `access` for tokens and `portal` for
//! exposure changes and views.

mod access;
mod check;
mod client;
mod clients;
mod conflation;
mod delivery;
mod delta_base;
mod exposure;
mod fetches;
mod history_search;
mod interest;
mod portal;
mod produces;
mod publish;
mod records;
mod requests;
mod routing;
mod start_fetch;
mod starts;
mod subscribe;
mod subscriptions;

use std::collections::VecDeque;

use crate::broker::{BrokerEvent, Epoch};
use crate::config::GatewayConfig;
use crate::ids::ClientId;
use crate::input::Input;
use crate::output::Output;
use crate::protocol::ServerFrame;
use crate::stats::GatewayStats;
use crate::token_bucket::TokenBucket;
use client::ClientState;
use clients::Clients;
use fetches::Fetches;
use interest::Interest;
use produces::Produces;
use routing::Routing;

pub use exposure::{compile_pattern, ExposureChange, ExposureError, SubjectInfo, TopicInfo};

/// Why the caller's input was refused. These are caller bugs, never peer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("client {0:?} is already connected")]
    DuplicateClient(ClientId),
}

/// The sans-IO Sluice gateway. See the crate docs for the run loop.
///
/// Its methods come in the kinds `quinn-proto`'s `Connection` has:
///
/// - getters read its state: [`Gateway::config`], [`Gateway::stats`],
///   [`Gateway::topic_known`], [`Gateway::topic_positions`],
///   [`Gateway::client_queue_bytes`], [`Gateway::broker_caught_up`], and the
///   Portal's [`Gateway::is_exposed`], [`Gateway::exposed_topics`],
///   [`Gateway::exposed_patterns`], [`Gateway::pattern_matches`],
///   [`Gateway::topic_records_seen`], [`Gateway::topic_infos`],
///   [`Gateway::subject_infos`];
/// - `handle_*` feed it what happened: [`Gateway::handle_input`] (clients, the
///   broker, token verdicts, revocations, exposure changes) and
///   [`Gateway::handle_timeout`];
/// - commands: there are none beyond inputs — what the gateway is told to do
///   arrives as an [`Input`] too (e.g. [`Input::Exposure`]), so it is ordered with
///   everything else;
/// - `poll_*` drain what it wants done: [`Gateway::poll_output`] (instructions),
///   [`Gateway::poll_timeout`] (when to call `handle_timeout`),
///   [`Gateway::poll_transmit`] and [`Gateway::poll_transmit_into`] (frames for one
///   client).
///
/// After every `handle_*` call, and after `poll_transmit` (reading makes room, and a
/// paused subscription start goes on), drain `poll_output` until it returns `None`;
/// then wait for the next input or until `poll_timeout`.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    clients: Clients,
    routing: Routing,
    produces: Produces,
    fetches: Fetches,
    interest: Interest,
    outputs: VecDeque<Output>,
    /// The counters of requests and their outcomes; the parts count the rest
    /// ([`Gateway::stats`] assembles them).
    stats: GatewayStats,
    /// The deliberate bug switched on for the simulator's self-test, if any.
    #[cfg(feature = "testing")]
    injected_bug: Option<crate::testing::InjectedBug>,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Self {
        Gateway {
            clients: Clients::new(config.delta_value_bytes_max),
            routing: Routing::new(&config),
            produces: Produces::default(),
            fetches: Fetches::default(),
            interest: Interest::new(config.partition_release_grace_ms),
            outputs: VecDeque::new(),
            stats: GatewayStats::default(),
            #[cfg(feature = "testing")]
            injected_bug: None,
            config,
        }
    }

    /// Switches on a deliberate bug, so the simulator can prove its checker sees it.
    /// Test-only: the `testing` feature.
    #[cfg(feature = "testing")]
    pub fn inject_bug(&mut self, bug: crate::testing::InjectedBug) {
        self.injected_bug = Some(bug);
    }

    /// Whether the deliberate `bug` is switched on.
    #[cfg(feature = "testing")]
    fn bug_on(&self, bug: crate::testing::InjectedBug) -> bool {
        self.injected_bug == Some(bug)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Feeds one input. `now_ms` is the caller's monotonic clock in milliseconds.
    pub fn handle_input(&mut self, now_ms: u64, input: Input) -> Result<(), GatewayError> {
        match input {
            Input::Connect { client, encoding } => self.on_connect(now_ms, client, encoding)?,
            Input::ClientData { client, data } => self.on_client_data(now_ms, client, &data),
            #[cfg(feature = "testing")]
            Input::ClientFrame { client, frame } => self.on_client_frame(now_ms, client, frame),
            Input::Disconnect { client } => self.drop_client(client),
            Input::Broker(event) => match event {
                BrokerEvent::TopicMeta { topic, partitions } => {
                    self.on_topic_meta(topic, partitions)
                }
                BrokerEvent::Records(records) => {
                    for record in records {
                        self.on_record(now_ms, record);
                    }
                }
                BrokerEvent::Produced { produce, result } => self.on_produced(produce, result),
                BrokerEvent::Fetched { fetch, result } => self.on_fetched(fetch, result),
                BrokerEvent::CaughtUp => self.routing.set_broker_caught_up(),
                BrokerEvent::PartitionReading {
                    topic,
                    partition,
                    start_offset,
                } => self.on_partition_reading(topic, partition, start_offset),
                BrokerEvent::PartitionReady { topic, partition } => {
                    self.on_partition_ready(topic, partition)
                }
                BrokerEvent::PartitionReleased { topic, partition } => {
                    self.on_partition_released(topic, partition)
                }
            },
            Input::Authenticated {
                client,
                request,
                result,
            } => self.on_authenticated(now_ms, client, request, result),
            Input::RevokedTokens(token_ids) => self.on_revoked_tokens(token_ids),
            Input::Exposure(change) => self.on_exposure(change),
        }
        self.interest.stamp_releases(now_ms);
        Ok(())
    }

    /// Fails the publishes whose broker answer is overdue; sends `token_expiring`
    /// and closes connections whose token expired or never came.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.expire_produces(now_ms);
        self.expire_access(now_ms);
        self.send_conflated(now_ms);
        self.release_partitions(now_ms);
    }

    /// The next instruction for the caller.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Gateway::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.produces.next_deadline_ms(),
            self.clients.next_access_due_ms(),
            self.clients.conflation.next_due_ms(),
            self.interest.next_release_ms(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next frame to write to `client`, releasing its bytes from the client's queue.
    ///
    /// Reading makes room, so this is also where paused subscription starts go on:
    /// they may queue more frames and ask for more (a broker fetch). Drain
    /// [`Gateway::poll_output`] after calling it, as after a `handle_*` call.
    pub fn poll_transmit(&mut self, client: ClientId) -> Option<ServerFrame> {
        let state = self.clients.get(client)?;
        if !state.has_queued() && state.paused_starts() > 0 {
            // Not reached while the invariant holds (a start pauses only behind
            // queued frames); cheap insurance against a client stuck forever.
            self.continue_starts(client);
        }
        let frame = self.clients.pop(client);
        if frame.is_some() {
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
            let Some(state) = self.clients.get(client) else {
                return;
            };
            if state.paused_starts() == 0 {
                self.clients.pop_into(client, out, max);
                return;
            }
            match self.poll_transmit(client) {
                Some(frame) => out.push(frame),
                None => return,
            }
        }
    }

    /// Bytes queued towards `client` right now.
    pub fn client_queue_bytes(&self, client: ClientId) -> Option<usize> {
        self.clients.get(client).map(ClientState::queue_bytes)
    }

    /// Whether every bootstrap record the broker sent has been applied
    /// ([`BrokerEvent::CaughtUp`]), so snapshots are as complete as the log.
    pub fn broker_caught_up(&self) -> bool {
        self.routing.broker_caught_up()
    }

    /// Whether the broker has told this gateway about `topic`'s partitions yet.
    pub fn topic_known(&self, topic: &str) -> bool {
        self.routing.topic_known(topic)
    }

    /// The next offset this gateway expects per partition of `topic`.
    pub fn topic_positions(&self, topic: &str) -> Vec<(Epoch, u64)> {
        self.routing.topic_positions(topic)
    }

    /// The counters and gauges: the gateway's own, and each part's.
    pub fn stats(&self) -> GatewayStats {
        let mut stats = self.stats.clone();
        self.clients.add_stats(&mut stats);
        self.routing.add_stats(&mut stats);
        self.fetches.add_stats(&mut stats);
        self.interest.add_stats(&mut stats);
        stats
    }

    /// A new connection: its access (open, or waiting for a token) and publish rate.
    fn on_connect(
        &mut self,
        now_ms: u64,
        client: ClientId,
        encoding: crate::protocol::Encoding,
    ) -> Result<(), GatewayError> {
        if self.clients.contains(client) {
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
        self.clients
            .arm_access_timer(client, self.config.token_expiry_notice_ms);
        Ok(())
    }
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
