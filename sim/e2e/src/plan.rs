//! The tier-2 fault plan: the cluster's shape, the gateways' limits and,
//! swarm-style, which faults happen and how often, all drawn from the seed before
//! the run and printed next to it.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_core::GatewayConfig;
use sluice_sim::{recurring, Recurring};

/// The one topic of the simulated log.
pub const TOPIC: &str = "t";

/// What the gateways read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Broker {
    /// The simulator's own durable log server, behind a link of its own.
    #[default]
    LogServer,
    /// The real Kafka adapter (`brokers/kafka`) on the simulated Kafka client and
    /// cluster (`sim/kafka`).
    Kafka,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::LogServer => "log-server",
            Broker::Kafka => "kafka",
        }
    }

    pub fn from_name(name: &str) -> Option<Broker> {
        [Broker::LogServer, Broker::Kafka]
            .into_iter()
            .find(|b| b.name() == name)
    }
}

/// The Kafka adapter's settings and the simulated cluster's faults, drawn from a
/// stream of their own so the log server's plans stay as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaPlan {
    pub metadata_refresh_ms: u64,
    pub request_timeout_ms: u64,
    pub produce_timeout_ms: u64,
    /// Records kept per partition (retention deletes older ones), or all.
    pub retention_records_max: Option<usize>,
    /// Producers made before a broker restart are fenced until replaced.
    pub fence_producers_on_restart: bool,
    /// Periods in which fetch answers are slow (up to `size_max` ms extra each).
    pub slow_fetches: Option<Recurring>,
    /// Periods in which a fetch answer is lost now and then.
    pub lost_fetches: Option<Recurring>,
    /// Periods in which produce acknowledgements are lost (written, not acked).
    pub lost_acks: Option<Recurring>,
    /// The topic is deleted, and created again (new id, new epochs) up to
    /// `size_max` ms later.
    pub topic_recreate: Option<Recurring>,
    /// `consumption = "interest"` with this grace period; `None`: read everything.
    pub interest_grace_ms: Option<u64>,
}

impl KafkaPlan {
    fn draw(seed: u64) -> KafkaPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(4);
        KafkaPlan {
            metadata_refresh_ms: rng.random_range(300..=3_000),
            request_timeout_ms: rng.random_range(300..=3_000),
            produce_timeout_ms: rng.random_range(200..=6_000),
            retention_records_max: rng.random_bool(0.4).then(|| rng.random_range(5..=60)),
            fence_producers_on_restart: rng.random_bool(0.5),
            slow_fetches: recurring(&mut rng, 1_000..=6_000, 200..=3_000),
            lost_fetches: recurring(&mut rng, 1_000..=6_000, 200..=3_000),
            lost_acks: recurring(&mut rng, 1_000..=6_000, 100..=2_000),
            topic_recreate: rng
                .random_bool(0.5)
                .then(|| recurring(&mut rng, 3_000..=12_000, 0..=3_000))
                .flatten(),
            // Drawn last: the draws above stay what they were for every seed.
            interest_grace_ms: rng.random_bool(0.5).then(|| rng.random_range(0..=2_000)),
        }
    }
}

/// Everything drawn from a seed before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2ePlan {
    pub seed: u64,
    pub broker: Broker,
    /// Used when `broker` is Kafka.
    pub kafka: KafkaPlan,
    pub gateways: usize,
    pub clients: usize,
    pub partitions: u32,
    /// Subjects `/t/k0 …`.
    pub keys: u32,
    /// Apps act and faults happen only during this phase; then the world heals.
    pub fault_phase_ms: u64,
    /// After healing, every subscriber must reach the head of the log within this.
    pub heal_budget_ms: u64,
    pub act_every_ms: u64,
    pub gateway: GatewayConfig,
    /// A gateway node is killed and, after up to `size_max` ms, restarted empty.
    pub gateway_crash: Option<Recurring>,
    /// The log server (or the Kafka broker) is killed and restarted from its disk.
    pub broker_restart: Option<Recurring>,
    /// The links between a client and a gateway are clogged both ways for a while.
    pub client_partition: Option<Recurring>,
    /// The links between a gateway and the log server are clogged for a while.
    pub broker_partition: Option<Recurring>,
    /// An app's SDK drops its connection and resumes (a network change).
    pub connection_kill: Option<Recurring>,
}

impl E2ePlan {
    /// Draws the plan of `seed`. Same seed, same plan, on every platform.
    pub fn draw(seed: u64, broker: Broker) -> E2ePlan {
        // A stream of its own, so tier 1's plan of the same seed is unrelated.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        let partitions = rng.random_range(1..=3);
        let small_cache = rng.random_bool(0.5);
        let kafka = KafkaPlan::draw(seed);
        let gateway = GatewayConfig {
            partition_release_grace_ms: match broker {
                Broker::Kafka => kafka.interest_grace_ms,
                Broker::LogServer => None,
            },
            exposed_topics: vec![TOPIC.to_owned()],
            client_queue_bytes_max: if rng.random_bool(0.4) {
                rng.random_range(1_000..=4_000)
            } else {
                64 * 1024
            },
            // Small caches make resumes go back to the log server.
            message_cache_messages_per_subject_max: if small_cache {
                rng.random_range(0..=4)
            } else {
                1024
            },
            publish_timeout_ms: rng.random_range(500..=5_000),
            fetches_in_flight_max: rng.random_range(1..=4),
            fetch_queue_max: rng.random_range(0..=8),
            ..GatewayConfig::default()
        };
        E2ePlan {
            seed,
            broker,
            kafka,
            gateways: rng.random_range(2..=3),
            clients: rng.random_range(2..=4),
            partitions,
            keys: rng.random_range(1..=4),
            fault_phase_ms: rng.random_range(5_000..=15_000),
            heal_budget_ms: 60_000,
            act_every_ms: rng.random_range(30..=300),
            gateway,
            gateway_crash: recurring(&mut rng, 1_500..=8_000, 100..=3_000),
            broker_restart: recurring(&mut rng, 2_000..=10_000, 100..=2_000),
            client_partition: recurring(&mut rng, 1_000..=6_000, 200..=6_000),
            broker_partition: recurring(&mut rng, 1_500..=8_000, 200..=6_000),
            connection_kill: recurring(&mut rng, 500..=4_000, 0..=0),
        }
    }

    /// The subjects apps use.
    pub fn subjects(&self) -> Vec<String> {
        (0..self.keys).map(|k| format!("/{TOPIC}/k{k}")).collect()
    }
}

impl fmt::Display for E2ePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} (e2e): {} gateways, 1 {}, {} clients acting every ~{} ms; topic {} ({} partitions, {} keys); faults for {} ms, then heal (converge within {} ms)",
            self.seed,
            self.gateways,
            match self.broker {
                Broker::LogServer => "log server",
                Broker::Kafka => "Kafka broker (the real adapter on the simulated client)",
            },
            self.clients,
            self.act_every_ms,
            TOPIC,
            self.partitions,
            self.keys,
            self.fault_phase_ms,
            self.heal_budget_ms
        )?;
        let g = &self.gateway;
        writeln!(
            f,
            "  gateway: client queue {} B; message cache {} msgs/subject; {} fetches in flight, queue {}; publish timeout {} ms",
            g.client_queue_bytes_max,
            g.message_cache_messages_per_subject_max,
            g.fetches_in_flight_max,
            g.fetch_queue_max,
            g.publish_timeout_ms
        )?;
        if self.broker == Broker::Kafka {
            let k = &self.kafka;
            writeln!(
                f,
                "  kafka: metadata refresh {} ms, request timeout {} ms, produce timeout {} ms; retention {}; producers {}fenced by a restart; reads {}",
                k.metadata_refresh_ms,
                k.request_timeout_ms,
                k.produce_timeout_ms,
                k.retention_records_max
                    .map_or("unbounded".to_owned(), |n| format!("{n} records/partition")),
                if k.fence_producers_on_restart { "" } else { "not " },
                k.interest_grace_ms.map_or("every partition".to_owned(), |ms| format!(
                    "by interest (grace {ms} ms)"
                ))
            )?;
        }
        let kafka = |fault| (self.broker == Broker::Kafka).then_some(fault).flatten();
        let (restart, partition) = match self.broker {
            Broker::LogServer => ("log server restart", "gateway<->log server partition"),
            Broker::Kafka => ("Kafka broker restart", "gateway<->Kafka partition"),
        };
        let faults = [
            ("gateway crash", self.gateway_crash),
            (restart, self.broker_restart),
            ("client<->gateway partition", self.client_partition),
            (partition, self.broker_partition),
            ("connection kill", self.connection_kill),
            ("slow fetches", kafka(self.kafka.slow_fetches)),
            ("lost fetch answers", kafka(self.kafka.lost_fetches)),
            ("lost produce acks", kafka(self.kafka.lost_acks)),
            (
                "topic deleted and recreated",
                kafka(self.kafka.topic_recreate),
            ),
        ];
        let on: Vec<String> = faults
            .iter()
            .filter_map(|(name, fault)| {
                fault.map(|r| format!("{name} every ~{} ms, ≤{} ms", r.every_ms, r.size_max))
            })
            .collect();
        write!(
            f,
            "  faults: {}",
            if on.is_empty() {
                "none".to_owned()
            } else {
                on.join("; ")
            }
        )
    }
}
