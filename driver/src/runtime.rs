use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::protocol::Encoding;
use sluice_core::{
    AuthFailure, BrokerCommand, BrokerEvent, ClientId, Gateway, GatewayConfig, GatewayStats, Grant,
    Input, Output, RequestId, TokenVerifier,
};
use tokio::sync::{mpsc, Notify};

use crate::client_handle::{ClientHandle, ClientSlot};
use crate::observer::{NoObserver, Observer};
use crate::transport_counters::{Refusal, TransportCounters};

/// Broker events (or commands) the runtime's pump (or forwarder) takes in one turn.
/// Awaiting each one spends tokio's per-turn budget (128), which held a gateway
/// with 10,000 connections to about 128 publish acknowledgements per round of its
/// scheduler; taking what is already queued does not.
const INPUTS_PER_TURN_MAX: usize = 1024;

/// The two directions of a broker session: commands to it, events from it. Every
/// broker adapter (embedded, Kafka, simulated) hands one of these to the runtime.
pub struct BrokerLink {
    pub commands: mpsc::Sender<BrokerCommand>,
    pub events: mpsc::Receiver<BrokerEvent>,
}

pub(crate) struct Locked {
    pub gateway: Gateway,
    pub slots: HashMap<ClientId, Arc<ClientSlot>>,
}

pub(crate) struct Shared {
    locked: Mutex<Locked>,
    /// Commands for the broker. Unbounded as a channel, but bounded by the core: at
    /// most `publishes_in_flight_per_client_max` produces per client,
    /// `fetches_in_flight_max` fetches and (interest mode) one watch or unwatch per
    /// partition are ever outstanding.
    commands: mpsc::UnboundedSender<BrokerCommand>,
    epoch: Instant,
    next_client: AtomicU64,
    timer: Arc<Notify>,
    observer: Arc<dyn Observer>,
    /// Checks tokens when the core asks (`[auth] mode = "jwt"`); `None` in mode `none`.
    verifier: Option<Arc<dyn TokenVerifier>>,
    transport_counters: TransportCounters,
}

/// A running gateway. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl Runtime {
    /// Starts the gateway on a broker session. Spawns the broker pump, the command
    /// forwarder and the timer on the current tokio runtime.
    pub fn start(config: GatewayConfig, broker: BrokerLink) -> Runtime {
        Self::start_with(config, broker, Arc::new(NoObserver), None)
    }

    /// [`Runtime::start`], reporting to `observer` (metrics, traces).
    pub fn start_observed(
        config: GatewayConfig,
        broker: BrokerLink,
        observer: Arc<dyn Observer>,
    ) -> Runtime {
        Self::start_with(config, broker, observer, None)
    }

    /// [`Runtime::start`] with a token verifier, for `auth_required` gateways.
    pub fn start_with_verifier(
        config: GatewayConfig,
        broker: BrokerLink,
        verifier: Option<Arc<dyn TokenVerifier>>,
    ) -> Runtime {
        Self::start_with(config, broker, Arc::new(NoObserver), verifier)
    }

    /// [`Runtime::start`] with both an observer and a token verifier.
    pub fn start_with(
        config: GatewayConfig,
        broker: BrokerLink,
        observer: Arc<dyn Observer>,
        verifier: Option<Arc<dyn TokenVerifier>>,
    ) -> Runtime {
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let runtime = Runtime {
            shared: Arc::new(Shared {
                locked: Mutex::new(Locked {
                    gateway: Gateway::new(config),
                    slots: HashMap::new(),
                }),
                commands,
                epoch: Instant::now(),
                next_client: AtomicU64::new(1),
                timer: Arc::new(Notify::new()),
                observer,
                verifier,
                transport_counters: TransportCounters::default(),
            }),
        };
        let BrokerLink {
            commands: broker_commands,
            events: mut broker_events,
        } = broker;
        tokio::spawn(async move {
            while let Some(command) = command_rx.recv().await {
                // Then what else is queued, in this turn (see `INPUTS_PER_TURN_MAX`).
                let queued = std::iter::from_fn(|| command_rx.try_recv().ok());
                for command in std::iter::once(command).chain(queued.take(INPUTS_PER_TURN_MAX)) {
                    let sent = match broker_commands.try_send(command) {
                        Ok(()) => Ok(()),
                        Err(mpsc::error::TrySendError::Full(command)) => {
                            broker_commands.send(command).await.map_err(drop)
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
                    };
                    if sent.is_err() {
                        tracing::error!("broker session ended; commands are no longer delivered");
                        return;
                    }
                }
            }
        });
        let weak = Arc::downgrade(&runtime.shared);
        tokio::spawn(async move {
            let mut events = Vec::new();
            while let Some(event) = broker_events.recv().await {
                // Then what else is queued, in this turn and under one lock.
                events.push(event);
                while events.len() < INPUTS_PER_TURN_MAX {
                    match broker_events.try_recv() {
                        Ok(event) => events.push(event),
                        Err(_) => break,
                    }
                }
                let Some(shared) = weak.upgrade() else { break };
                for event in &events {
                    if let BrokerEvent::Produced { produce, result } = event {
                        shared.observer.produced(*produce, result);
                    }
                }
                Runtime { shared }.inputs(events.drain(..).map(Input::Broker));
            }
            tracing::warn!("broker event stream ended");
        });
        let weak = Arc::downgrade(&runtime.shared);
        let timer = runtime.shared.timer.clone();
        tokio::spawn(async move {
            loop {
                let notified = timer.notified();
                let wait = {
                    let Some(shared) = weak.upgrade() else { break };
                    let runtime = Runtime { shared };
                    let wake_at_ms = runtime.lock().gateway.poll_timeout();
                    wake_at_ms
                        .map(|at_ms| Duration::from_millis(at_ms.saturating_sub(runtime.now_ms())))
                };
                match wait {
                    Some(wait) => {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {
                                let Some(shared) = weak.upgrade() else { break };
                                let runtime = Runtime { shared };
                                let now_ms = runtime.now_ms();
                                runtime.with_gateway(|gw| gw.handle_timeout(now_ms));
                            }
                            _ = notified => {}
                        }
                    }
                    // Woken by a new deadline, or by the runtime's drop (see `Drop`).
                    None => notified.await,
                }
            }
        });
        runtime
    }

    /// Milliseconds since this runtime started: the core's clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Locked> {
        // A poisoned lock means a panic in the core, which is a bug; keep serving.
        self.shared.locked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the gateway, then carries out everything it asked for.
    ///
    /// Tokens the core asks to have checked are verified after the lock is let go (a
    /// signature check costs CPU every other connection would wait on), and the
    /// verdicts go in under a new lock before this returns. Only a connection's own
    /// `auth` frame asks for a check, and its task is the caller, so its next frame
    /// still meets the verdict.
    pub(crate) fn with_gateway<R>(&self, f: impl FnOnce(&mut Gateway) -> R) -> R {
        let mut to_verify = Vec::new();
        let result = self.with_gateway_locked(f, &mut to_verify);
        if !to_verify.is_empty() {
            let verdicts: Vec<Input> = to_verify
                .into_iter()
                .map(|(client, request, token)| Input::Authenticated {
                    client,
                    request: Some(request),
                    result: self.verify_token(&token),
                })
                .collect();
            self.inputs(verdicts);
        }
        result
    }

    /// [`Runtime::with_gateway`] under one lock; the tokens to check go to `to_verify`.
    fn with_gateway_locked<R>(
        &self,
        f: impl FnOnce(&mut Gateway) -> R,
        to_verify: &mut Vec<(ClientId, RequestId, String)>,
    ) -> R {
        let mut locked = self.lock();
        let before = locked.gateway.poll_timeout();
        let result = f(&mut locked.gateway);
        while let Some(output) = locked.gateway.poll_output() {
            match output {
                Output::Wake { client } => {
                    if let Some(slot) = locked.slots.get(&client) {
                        slot.notify.notify_one();
                    }
                }
                Output::Close {
                    client,
                    code,
                    reason,
                } => {
                    if let Some(slot) = locked.slots.remove(&client) {
                        slot.close(code, reason);
                    }
                }
                Output::Broker(mut command) => {
                    if let BrokerCommand::Produce(request) = &mut command {
                        self.shared.observer.producing(request);
                    }
                    // The forwarder only stops when the runtime is dropped.
                    let _ = self.shared.commands.send(command);
                }
                Output::SubjectMoved {
                    subject,
                    from_partition,
                    to_partition,
                } => {
                    // Once per subject (the core says when); every move is counted in
                    // sluice_subject_partition_moves_total.
                    tracing::warn!(
                        %subject,
                        from_partition,
                        to_partition,
                        "a subject's records moved partition (producers with different \
                         partitioners, or a partition-count change); its subscribers got resync"
                    );
                }
                Output::Authenticate {
                    client,
                    request,
                    token,
                } => to_verify.push((client, request, token)),
            }
        }
        if locked.gateway.poll_timeout() != before {
            self.shared.timer.notify_one();
        }
        result
    }

    pub(crate) fn input(&self, input: Input) {
        self.inputs(std::iter::once(input));
    }

    /// Hands the core several inputs under one lock.
    fn inputs(&self, inputs: impl IntoIterator<Item = Input>) {
        let now_ms = self.now_ms();
        self.with_gateway(|gw| {
            for input in inputs {
                if let Err(err) = gw.handle_input(now_ms, input) {
                    tracing::error!(%err, "gateway refused input");
                }
            }
        });
    }

    /// Registers a new client connection speaking `encoding`.
    pub fn connect(&self, encoding: Encoding) -> ClientHandle {
        let id = ClientId(self.shared.next_client.fetch_add(1, Ordering::Relaxed));
        let slot = Arc::new(ClientSlot::default());
        self.lock().slots.insert(id, slot.clone());
        self.input(Input::Connect {
            client: id,
            encoding,
        });
        ClientHandle::new(self.clone(), id, encoding, slot)
    }

    /// Whether connections need a token (`[auth] mode = "jwt"`).
    pub fn auth_required(&self) -> bool {
        self.lock().gateway.config().auth_required
    }

    /// Checks a token with the configured verifier; without one every token is refused.
    pub fn verify_token(&self, token: &str) -> Result<Grant, AuthFailure> {
        match &self.shared.verifier {
            Some(verifier) => verifier.verify(token, self.now_ms()),
            None => Err(AuthFailure("this gateway has no token verifier".into())),
        }
    }

    /// Registers a new client connection whose handshake carried a verified token.
    pub fn connect_with_grant(&self, encoding: Encoding, grant: Grant) -> ClientHandle {
        let handle = self.connect(encoding);
        self.input(Input::Authenticated {
            client: handle.id(),
            request: None,
            result: Ok(grant),
        });
        handle
    }

    /// Replaces the list of revoked token ids; connections holding one are closed.
    pub fn revoke_tokens(&self, token_ids: BTreeSet<String>) {
        self.input(Input::RevokedTokens(Arc::new(token_ids)));
    }

    /// Counts a connection a transport refused before the core saw it.
    pub fn count_refusal(&self, refusal: Refusal) {
        self.shared.transport_counters.count(refusal);
    }

    pub(crate) fn disconnect(&self, client: ClientId) {
        self.lock().slots.remove(&client);
        self.input(Input::Disconnect { client });
    }

    /// Whether the core knows the partitions of every topic in `topics` (the broker
    /// announced them), so subscribes to them are served rather than refused as
    /// `unavailable`.
    pub fn topics_known(&self, topics: &[String]) -> bool {
        let locked = self.lock();
        topics.iter().all(|topic| locked.gateway.topic_known(topic))
    }

    /// Whether the core has applied the broker's bootstrap, up to
    /// [`BrokerEvent::CaughtUp`].
    pub fn broker_caught_up(&self) -> bool {
        self.lock().gateway.broker_caught_up()
    }

    /// Where transports report connections and deliveries.
    pub fn observer(&self) -> &dyn Observer {
        &*self.shared.observer
    }

    /// The gateway's counters and gauges.
    pub fn stats(&self) -> GatewayStats {
        let mut stats = self.lock().gateway.stats();
        self.shared.transport_counters.add_to(&mut stats);
        stats
    }

    /// Switches on one of the core's deliberate bugs, so the end-to-end simulator
    /// can prove its checker sees it through the real adapters. Test-only.
    #[cfg(feature = "testing")]
    pub fn inject_bug(&self, bug: sluice_core::testing::InjectedBug) {
        self.lock().gateway.inject_bug(bug);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Lets the timer task notice the runtime is gone.
        self.timer.notify_one();
    }
}
