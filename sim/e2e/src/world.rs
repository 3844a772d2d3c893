//! One tier-2 run: the madsim cluster (a log server, gateways, client nodes), the
//! supervisor that injects the plan's faults during the fault phase, then heals the
//! world and waits for it to converge.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_client::Event;
use sluice_driver::Runtime;
use sluice_sim::{Invariant, Recurring, Violation};
use sluice_sim_kafka::cluster::SimCluster;
use sluice_websocket::WebSocketConfig;
use tokio::net::TcpListener;
use tokio::time::{sleep, Instant};

use crate::broker_link::{self, BrokerLinkConfig};
use crate::check::{AckedPublish, Checker};
use crate::kafka_world::{self, FaultPeriods, Period};
use crate::ledger::Ledger;
use crate::log_server::{self, LogServerConfig, LOG_SERVER_PORT};
use crate::plan::{Broker, E2ePlan, TOPIC};
use crate::run::E2eOptions;

/// The gateways' WebSocket port.
const GATEWAY_PORT: u16 = 8080;
/// The supervisor's step in the fault phase.
const TICK_MS: u64 = 50;

/// What every node shares with the supervisor: the checker, the log for it to read,
/// and every gateway runtime ever started (for their queue peaks).
pub struct World {
    start: Instant,
    acting: AtomicBool,
    checker: Mutex<Checker>,
    log: Ledger,
    /// The simulated Kafka cluster, with `--broker kafka`.
    kafka: Option<SimCluster>,
    partitions: u32,
    runtimes: Mutex<Vec<Runtime>>,
}

impl World {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Whether apps still act (the fault phase).
    pub fn acting(&self) -> bool {
        self.acting.load(Ordering::Relaxed)
    }

    pub fn observe(&self, client: usize, event: &Event) {
        tracing::debug!(client, ?event, "app event");
        let starts = self.log_starts();
        lock(&self.checker).observe(&self.log, &starts, client, self.now_ms(), event);
    }

    /// Each partition's first retained offset (retention only deletes on Kafka).
    fn log_starts(&self) -> Vec<u64> {
        match &self.kafka {
            Some(cluster) => kafka_world::log_starts(cluster, self.partitions),
            None => vec![0; self.partitions as usize],
        }
    }

    /// The app asked for `subject` conflated: its messages may skip records.
    pub fn conflated(&self, client: usize, subject: &str) {
        lock(&self.checker).conflated(client, subject);
    }

    pub fn acked(&self, client: usize, ack: AckedPublish) {
        tracing::debug!(client, ?ack, "app publish acked");
        lock(&self.checker).acked(&self.log, client, self.now_ms(), ack);
    }

    fn violation(&self) -> Option<Violation> {
        lock(&self.checker).violation().cloned()
    }

    /// Invariant 6, from each gateway's own count of its largest client queue.
    fn check_queue_bound(&self, bound_bytes: usize) {
        let peaks: Vec<u64> = lock(&self.runtimes)
            .iter()
            .map(|runtime| runtime.stats().client_queue_bytes_peak)
            .collect();
        for (gateway_life, peak) in peaks.into_iter().enumerate() {
            if peak > bound_bytes as u64 {
                lock(&self.checker).fail(
                    Invariant::QueueBound,
                    self.now_ms(),
                    format!("gateway life {gateway_life}: a client queue held {peak} B, over the bound of {bound_bytes} B"),
                );
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub violation: Option<Violation>,
    /// Digest and length of the observed trace.
    pub trace: (u64, u64),
    pub virtual_ms: u64,
}

fn ip(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, a, b))
}

/// A fault that ends later: what to undo, and when.
enum Undo {
    Restart(NodeId),
    Unclog(NodeId, NodeId),
    /// The simulated Kafka broker comes back.
    KafkaRestart,
    /// Gateway `index`'s Kafka clients reach the broker again.
    KafkaHeal(usize),
    KafkaPeriodEnd(Period),
    /// The deleted topic is created again.
    KafkaRecreate,
}

/// The supervisor: builds the cluster, runs the fault phase, heals, converges.
pub async fn run(plan: E2ePlan, options: E2eOptions) -> RunResult {
    let handle = Handle::current();
    let log = Ledger::default();
    let kafka = (plan.broker == Broker::Kafka).then(|| kafka_world::start(&plan, &log));
    let world = Arc::new(World {
        start: Instant::now(),
        acting: AtomicBool::new(true),
        checker: Mutex::new(Checker::new(plan.clients, plan.partitions)),
        log,
        kafka: kafka.clone(),
        partitions: plan.partitions,
        runtimes: Mutex::new(Vec::new()),
    });
    let broker_ip = ip(0, 1);
    let log_config = LogServerConfig {
        topics: vec![(TOPIC.to_owned(), plan.partitions)],
        incarnation: format!("{:08x}", plan.seed as u32),
        session_queue_max: 1024,
    };
    let log = world.log.clone();
    let (broker, kafka) = match plan.broker {
        Broker::LogServer => {
            let node = handle
                .create_node()
                .name("log-server")
                .ip(broker_ip)
                .init(move || {
                    let (config, log) = (log_config.clone(), log.clone());
                    async move {
                        if let Err(error) = log_server::run(config, log).await {
                            tracing::warn!(%error, "log server stopped");
                        }
                    }
                })
                .build();
            (Some(node), None)
        }
        Broker::Kafka => (None, kafka),
    };
    let gateways: Vec<NodeHandle> = (0..plan.gateways)
        .map(|index| {
            let (plan, world) = (plan.clone(), Arc::clone(&world));
            let server = format!("{broker_ip}:{LOG_SERVER_PORT}");
            handle
                .create_node()
                .name(format!("gateway-{index}"))
                .ip(ip(1, index as u8 + 1))
                .init(move || {
                    gateway(
                        plan.clone(),
                        options,
                        index,
                        server.clone(),
                        Arc::clone(&world),
                    )
                })
                .build()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(3);
    let clients: Vec<NodeHandle> = (0..plan.clients)
        .map(|index| {
            let node = handle
                .create_node()
                .name(format!("client-{index}"))
                .ip(ip(2, index as u8 + 1))
                .build();
            // Each app lists every gateway, first its own favourite.
            let mut servers: Vec<String> = (0..plan.gateways)
                .map(|g| format!("ws://{}:{GATEWAY_PORT}/v1/ws", ip(1, g as u8 + 1)))
                .collect();
            servers.rotate_left(rng.random_range(0..plan.gateways));
            node.spawn(crate::app::run(
                index,
                plan.clone(),
                servers,
                Arc::clone(&world),
            ));
            node
        })
        .collect();

    // The fault phase.
    let net = NetSim::current();
    let mut pending: Vec<(Instant, Undo)> = Vec::new();
    let mut down: Vec<NodeId> = Vec::new();
    let mut kafka_down = false;
    let mut topic_deleted = false;
    let mut periods_on = FaultPeriods::default();
    let fault_end = Instant::now() + Duration::from_millis(plan.fault_phase_ms);
    while Instant::now() < fault_end && world.violation().is_none() {
        sleep(Duration::from_millis(TICK_MS)).await;
        let now = Instant::now();
        pending.retain(|(at, undo)| {
            if *at > now {
                return true;
            }
            undo_fault(&handle, &net, undo, &mut down);
            let state = KafkaFaultState {
                down: &mut kafka_down,
                deleted: &mut topic_deleted,
                periods: &mut periods_on,
            };
            undo_kafka_fault(kafka.as_ref(), &plan, &world.log, undo, state);
            false
        });
        if fires(&mut rng, plan.gateway_crash) {
            let node = gateways[rng.random_range(0..gateways.len())].id();
            if !down.contains(&node) {
                handle.kill(node);
                down.push(node);
                pending.push((later(&mut rng, plan.gateway_crash), Undo::Restart(node)));
            }
        }
        if fires(&mut rng, plan.broker_restart) {
            match (&broker, &kafka) {
                (Some(broker), _) if !down.contains(&broker.id()) => {
                    handle.kill(broker.id());
                    down.push(broker.id());
                    pending.push((
                        later(&mut rng, plan.broker_restart),
                        Undo::Restart(broker.id()),
                    ));
                }
                (None, Some(cluster)) if !kafka_down => {
                    tracing::debug!("kafka broker crashed");
                    cluster.crashed();
                    kafka_down = true;
                    pending.push((later(&mut rng, plan.broker_restart), Undo::KafkaRestart));
                }
                _ => {}
            }
        }
        if fires(&mut rng, plan.client_partition) {
            let client = clients[rng.random_range(0..clients.len())].id();
            let gateway = gateways[rng.random_range(0..gateways.len())].id();
            clog(&net, client, gateway);
            let until = later(&mut rng, plan.client_partition);
            pending.push((until, Undo::Unclog(client, gateway)));
        }
        if fires(&mut rng, plan.broker_partition) {
            let index = rng.random_range(0..gateways.len());
            let until = later(&mut rng, plan.broker_partition);
            match (&broker, &kafka) {
                (Some(broker), _) => {
                    let gateway = gateways[index].id();
                    clog(&net, gateway, broker.id());
                    pending.push((until, Undo::Unclog(gateway, broker.id())));
                }
                (None, Some(cluster)) => {
                    tracing::debug!(index, "gateway cut off from kafka");
                    cluster.set_cut(&kafka_world::client_id(index), true);
                    pending.push((until, Undo::KafkaHeal(index)));
                }
                (None, None) => {}
            }
        }
        if let Some(cluster) = &kafka {
            let periods = [
                (plan.kafka.slow_fetches, Period::SlowFetches),
                (plan.kafka.lost_fetches, Period::LostFetches),
                (plan.kafka.lost_acks, Period::LostAcks),
            ];
            for (fault, period) in periods {
                if fires(&mut rng, fault) {
                    periods_on.change(cluster, &plan, period, true);
                    pending.push((later(&mut rng, fault), Undo::KafkaPeriodEnd(period)));
                }
            }
            if fires(&mut rng, plan.kafka.topic_recreate) && !topic_deleted {
                cluster.delete_topic(TOPIC);
                topic_deleted = true;
                // Kafka deletes a topic asynchronously: a create of the same name
                // fails until that is done. Faster than a gateway can notice (a
                // metadata refresh, or a fetch, which a lost answer delays by the
                // request timeout), the new log would be read by name from the old
                // offsets: the limitation docs/kafka.md describes, not tested here.
                let k = &plan.kafka;
                let notice_ms = k.metadata_refresh_ms.max(k.request_timeout_ms) + 500;
                let until =
                    later(&mut rng, plan.kafka.topic_recreate) + Duration::from_millis(notice_ms);
                pending.push((until, Undo::KafkaRecreate));
                // Half the time a gateway is cut off from Kafka for the whole of it:
                // it misses the deletion and finds the new log by name at its old
                // offsets once it is back.
                if rng.random_bool(0.5) {
                    let index = rng.random_range(0..gateways.len());
                    tracing::debug!(index, "gateway cut off from kafka across a recreation");
                    cluster.set_cut(&kafka_world::client_id(index), true);
                    let back = until + Duration::from_millis(rng.random_range(100..=1_000));
                    pending.push((back, Undo::KafkaHeal(index)));
                }
            }
        }
        world.check_queue_bound(plan.gateway.client_queue_bytes_max);
    }

    // Heal: apps stop acting, every fault ends.
    world.acting.store(false, Ordering::Relaxed);
    for (_, undo) in pending.drain(..) {
        undo_fault(&handle, &net, &undo, &mut down);
        let state = KafkaFaultState {
            down: &mut kafka_down,
            deleted: &mut topic_deleted,
            periods: &mut periods_on,
        };
        undo_kafka_fault(kafka.as_ref(), &plan, &world.log, &undo, state);
    }
    let heal_start = Instant::now();
    let converge_by = heal_start + Duration::from_millis(plan.heal_budget_ms);
    let mut laggards = Vec::new();
    while world.violation().is_none() {
        sleep(Duration::from_millis(200)).await;
        world.check_queue_bound(plan.gateway.client_queue_bytes_max);
        let log_starts = world.log_starts();
        laggards = lock(&world.checker).laggards(&world.log, &log_starts);
        if laggards.is_empty() || Instant::now() >= converge_by {
            break;
        }
    }
    if !laggards.is_empty() {
        for (life, runtime) in lock(&world.runtimes).iter().enumerate() {
            tracing::debug!(life, stats = ?runtime.stats(), "gateway at the end");
        }
        let shown: Vec<&String> = laggards.iter().take(4).collect();
        lock(&world.checker).fail(
            Invariant::Liveness,
            world.now_ms(),
            format!(
                "{} subscriptions not at the head {} ms after healing: {shown:?}",
                laggards.len(),
                plan.heal_budget_ms
            ),
        );
    }
    let now_ms = world.now_ms();
    lock(&world.checker).check_log(&world.log, now_ms);
    let checker = lock(&world.checker);
    RunResult {
        violation: checker.violation().cloned(),
        trace: checker.trace_digest(),
        virtual_ms: world.now_ms(),
    }
}

/// A gateway node: the broker adapter, the runtime and the WebSocket listener, as
/// `sluice serve` wires them. Runs again from scratch on every restart.
async fn gateway(
    plan: E2ePlan,
    options: E2eOptions,
    index: usize,
    server: String,
    world: Arc<World>,
) {
    let link = match plan.broker {
        Broker::LogServer => broker_link::connect(BrokerLinkConfig {
            server,
            request_timeout_ms: 2_000,
            reconnect_delay_ms: 200,
            queue_max: 1024,
        }),
        Broker::Kafka => match kafka_world::connect(&plan, index) {
            Some(link) => link,
            None => return,
        },
    };
    let runtime = Runtime::start(plan.gateway.clone(), link);
    if let Some(bug) = options.injected_bug {
        runtime.inject_bug(bug);
    }
    lock(&world.runtimes).push(runtime.clone());
    let listener = match TcpListener::bind(("0.0.0.0", GATEWAY_PORT)).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "gateway: cannot listen");
            return;
        }
    };
    let config = WebSocketConfig {
        frame_bytes_max: plan.gateway.frame_bytes_max,
        ping_interval_ms: 1_000,
        pong_timeout_ms: 3_000,
        ..WebSocketConfig::default()
    };
    if let Err(error) = sluice_websocket::serve(listener, runtime, config).await {
        tracing::warn!(%error, "gateway: listener failed");
    }
}

/// Whether a recurring fault fires this tick.
fn fires(rng: &mut ChaCha8Rng, fault: Option<Recurring>) -> bool {
    fault.is_some_and(|f| rng.random_range(0..f.every_ms.max(1)) < TICK_MS)
}

/// When a fault that just fired ends.
fn later(rng: &mut ChaCha8Rng, fault: Option<Recurring>) -> Instant {
    let size_max = fault.map_or(0, |f| f.size_max);
    Instant::now() + Duration::from_millis(rng.random_range(0..=size_max))
}

fn clog(net: &NetSim, a: NodeId, b: NodeId) {
    net.clog_link(a, b);
    net.clog_link(b, a);
}

fn undo_fault(handle: &Handle, net: &NetSim, undo: &Undo, down: &mut Vec<NodeId>) {
    match undo {
        Undo::Restart(node) => {
            if down.contains(node) {
                handle.restart(*node);
                down.retain(|n| n != node);
            }
        }
        Undo::Unclog(a, b) => {
            net.unclog_link(*a, *b);
            net.unclog_link(*b, *a);
        }
        Undo::KafkaRestart | Undo::KafkaHeal(_) | Undo::KafkaPeriodEnd(_) | Undo::KafkaRecreate => {
        }
    }
}

/// The Kafka faults in force.
struct KafkaFaultState<'a> {
    down: &'a mut bool,
    deleted: &'a mut bool,
    periods: &'a mut FaultPeriods,
}

fn undo_kafka_fault(
    cluster: Option<&SimCluster>,
    plan: &E2ePlan,
    ledger: &Ledger,
    undo: &Undo,
    state: KafkaFaultState<'_>,
) {
    let Some(cluster) = cluster else { return };
    match undo {
        Undo::KafkaRestart => {
            tracing::debug!("kafka broker restarted");
            cluster.restarted();
            *state.down = false;
        }
        Undo::KafkaHeal(index) => {
            tracing::debug!(index, "gateway reaches kafka again");
            cluster.set_cut(&kafka_world::client_id(*index), false)
        }
        Undo::KafkaPeriodEnd(period) => state.periods.change(cluster, plan, *period, false),
        Undo::KafkaRecreate => {
            kafka_world::create_topic(cluster, plan, ledger);
            *state.deleted = false;
        }
        Undo::Restart(_) | Undo::Unclog(..) => {}
    }
}
