//! The fault plan: everything about one run that is drawn from its seed before the
//! run starts — the world's shape, the gateway's limits and, swarm-style, which
//! faults happen and how often. Printed next to the seed, so a failure report says
//! what kind of world failed.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_core::partitioner::Partitioner;
use sluice_core::GatewayConfig;

/// One topic of the simulated log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicShape {
    pub name: &'static str,
    pub partitions: u32,
    /// Keyed subjects `/name/k0 …`; the null-key subject `/name` comes on top.
    pub keys: u32,
    /// How the topic's back-end producers partition keyed records (Java's murmur2 or
    /// librdkafka's CRC32); the gateway is configured with the same for publishes to
    /// keys it has not seen.
    pub partitioner: Partitioner,
    /// A second back-end producer that writes some of the keyed records elsewhere,
    /// so subjects move partition (and back): none in most runs.
    pub mover: Option<Mover>,
}

/// A back-end producer whose partitioning differs from the topic's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mover {
    pub placement: MoverPlacement,
    /// Percent of the other producers' keyed writes to the topic it makes.
    pub percent: u32,
}

/// How a [`Mover`] picks the partition of a keyed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoverPlacement {
    /// Another hashing partitioner: each key it writes goes to one partition,
    /// which may differ from the topic's.
    Partitioner(Partitioner),
    /// Any partition, drawn per record.
    Random,
}

impl fmt::Display for Mover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.placement {
            MoverPlacement::Partitioner(p) => {
                write!(f, "{}% of keyed writes by a {p} producer", self.percent)
            }
            MoverPlacement::Random => {
                write!(f, "{}% of keyed writes to a random partition", self.percent)
            }
        }
    }
}

/// A fault that recurs: on average every `every_ms`, each time up to `size_max` big:
/// milliseconds for stalls, outages, slow reads and crashes; records for a rewind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurring {
    pub every_ms: u64,
    pub size_max: u64,
}

/// Everything drawn from a seed before the run. Not the run itself: the world draws
/// its own choices from a second stream of the same seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    pub seed: u64,
    pub topics: Vec<TopicShape>,
    pub clients: usize,
    /// Faults happen and apps act only during this phase; then the world heals.
    pub fault_phase_ms: u64,
    /// After healing, everything must settle within this much virtual time.
    pub heal_budget_ms: u64,
    pub client_act_every_ms: u64,
    pub foreign_write_every_ms: u64,
    pub client_latency_ms_max: u64,
    pub broker_latency_ms_max: u64,
    pub stream_every_ms: u64,
    pub stream_batch_records_max: u64,
    pub fetch_batch_offsets_max: u64,
    /// Records kept per partition; older ones are deleted (Kafka's retention).
    pub retention_records_max: Option<u64>,
    /// Percent of writes whose payload is `large_payload_bytes` long.
    pub large_payload_percent: u32,
    pub large_payload_bytes: usize,
    /// Bytes every other payload ends with, the same each time: consecutive
    /// values then differ a little, as deltas (protocol 1.1) expect.
    pub payload_suffix_bytes: usize,
    pub gateway: GatewayConfig,
    pub disconnect: Option<Recurring>,
    pub slow_consumer: Option<Recurring>,
    pub broker_stall: Option<Recurring>,
    pub rewind: Option<Recurring>,
    pub partition_unavailable: Option<Recurring>,
    pub gateway_crash: Option<Recurring>,
}

const TOPIC_NAMES: [&str; 2] = ["a", "b"];

/// An app holds at most this many subscriptions at once.
pub const SUBJECTS_PER_CLIENT_MAX: usize = 4;

impl FaultPlan {
    /// Draws the plan of `seed`. Same seed, same plan, on every platform.
    pub fn draw(seed: u64) -> FaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let topic_count = rng.random_range(1..=TOPIC_NAMES.len());
        let topics: Vec<TopicShape> = TOPIC_NAMES[..topic_count]
            .iter()
            .map(|&name| TopicShape {
                name,
                partitions: rng.random_range(1..=4),
                keys: rng.random_range(1..=5),
                partitioner: Partitioner::ALL[rng.random_range(0..Partitioner::ALL.len())],
                mover: None,
            })
            .collect();
        // Pressure runs: a small client queue (subscription starts larger than it are
        // paced by the gateway), small caches and small batches.
        let under_pressure = rng.random_bool(0.6);
        let client_queue_bytes_max = if under_pressure {
            rng.random_range(300..=3_000)
        } else {
            64 * 1024
        };
        let messages_per_subject = if under_pressure {
            [0, 1, 2, 4][rng.random_range(0..4)]
        } else {
            [0, 1, 2, 4, 8, 128][rng.random_range(0..6)]
        };
        let batch_max = if under_pressure { 8 } else { 64 };
        let gateway = GatewayConfig {
            exposed_topics: topics.iter().map(|t| t.name.to_owned()).collect(),
            frame_bytes_max: client_queue_bytes_max,
            client_queue_bytes_max,
            publishes_in_flight_per_client_max: rng.random_range(1..=16),
            publish_timeout_ms: rng.random_range(200..=5_000),
            snapshot_cache_bytes_max: pressure(&mut rng, 0.4, 100..=1_500, 256 << 20),
            message_cache_messages_per_subject_max: messages_per_subject,
            message_cache_bytes_per_subject_max: pressure(&mut rng, 0.4, 200..=2_000, 1 << 20),
            message_cache_bytes_max: pressure(&mut rng, 0.4, 500..=10_000, 256 << 20),
            fetches_in_flight_max: rng.random_range(1..=4),
            fetch_queue_max: rng.random_range(0..=4),
            history_scan_offsets: [1, 3, 16, 10_000][rng.random_range(0..4)],
            delta_value_bytes_max: [16, 64 << 10][rng.random_range(0..2)],
            topic_partitioners: topics
                .iter()
                .map(|t| (t.name.to_owned(), t.partitioner))
                .collect(),
            ..GatewayConfig::default()
        };
        let large_payload_percent = if rng.random_bool(0.2) {
            rng.random_range(1..=5)
        } else {
            0
        };
        let mut plan = FaultPlan {
            seed,
            clients: rng.random_range(1..=5),
            fault_phase_ms: rng.random_range(5_000..=30_000),
            heal_budget_ms: 60_000,
            client_act_every_ms: rng.random_range(20..=300),
            foreign_write_every_ms: rng.random_range(20..=500),
            client_latency_ms_max: rng.random_range(1..=20),
            broker_latency_ms_max: rng.random_range(1..=30),
            stream_every_ms: rng.random_range(1..=20),
            stream_batch_records_max: rng.random_range(1..=batch_max),
            fetch_batch_offsets_max: rng.random_range(1..=batch_max),
            retention_records_max: rng.random_bool(0.3).then(|| rng.random_range(20..=200)),
            large_payload_percent,
            large_payload_bytes: 2 * client_queue_bytes_max.min(4_096),
            payload_suffix_bytes: [0, 60][rng.random_range(0..2)],
            disconnect: recurring(&mut rng, 300..=5_000, 0..=0),
            slow_consumer: recurring(&mut rng, 500..=5_000, 500..=8_000),
            broker_stall: recurring(&mut rng, 500..=8_000, 10..=3_000),
            rewind: recurring(&mut rng, 100..=3_000, 1..=20),
            partition_unavailable: recurring(&mut rng, 500..=8_000, 10..=3_000),
            gateway_crash: recurring(&mut rng, 1_000..=10_000, 0..=1_000),
            gateway,
            topics,
        };
        // Drawn last, so the rest of every seed's plan is what it was before movers.
        for topic in &mut plan.topics {
            topic.mover = draw_mover(&mut rng, topic.partitioner);
        }
        plan
    }
}

/// In about 30% of topics, a second producer that moves keys: another hashing
/// partitioner (the topic's other one) or a random-partition producer.
fn draw_mover(rng: &mut ChaCha8Rng, topic_partitioner: Partitioner) -> Option<Mover> {
    if !rng.random_bool(0.3) {
        return None;
    }
    let placement = if rng.random_bool(0.5) {
        let other = Partitioner::ALL
            .into_iter()
            .find(|&p| p != topic_partitioner)
            .unwrap_or(topic_partitioner);
        MoverPlacement::Partitioner(other)
    } else {
        MoverPlacement::Random
    };
    Some(Mover {
        placement,
        percent: rng.random_range(5..=50),
    })
}

/// A small limit (cache or queue pressure) with probability `p`, else a roomy one.
fn pressure(
    rng: &mut ChaCha8Rng,
    p: f64,
    small: std::ops::RangeInclusive<usize>,
    roomy: usize,
) -> usize {
    if rng.random_bool(p) {
        rng.random_range(small)
    } else {
        roomy
    }
}

/// Swarm testing: each fault class is on in about 60% of runs, at its own rate.
pub fn recurring(
    rng: &mut ChaCha8Rng,
    every_ms: std::ops::RangeInclusive<u64>,
    size_max: std::ops::RangeInclusive<u64>,
) -> Option<Recurring> {
    let on = rng.random_bool(0.6);
    let every_ms = rng.random_range(every_ms);
    let size_max = rng.random_range(size_max);
    on.then_some(Recurring { every_ms, size_max })
}

fn limit(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics: Vec<String> = self
            .topics
            .iter()
            .map(|t| {
                let mover = t.mover.map_or(String::new(), |m| format!("; {m}"));
                format!(
                    "{} ({} partitions, {} keys, {}{mover})",
                    t.name, t.partitions, t.keys, t.partitioner
                )
            })
            .collect();
        writeln!(
            f,
            "seed {}: topics {}; {} clients acting every ~{} ms; foreign writes every ~{} ms; faults for {} ms, then heal (settle within {} ms)",
            self.seed,
            topics.join(", "),
            self.clients,
            self.client_act_every_ms,
            self.foreign_write_every_ms,
            self.fault_phase_ms,
            self.heal_budget_ms
        )?;
        let g = &self.gateway;
        writeln!(
            f,
            "  gateway: client queue {}; message cache {} msgs & {}/subject, {} total; snapshot cache {}; {} fetches in flight, queue {}; history search {} offsets/step; {} publishes in flight/client, timeout {} ms",
            limit(g.client_queue_bytes_max),
            g.message_cache_messages_per_subject_max,
            limit(g.message_cache_bytes_per_subject_max),
            limit(g.message_cache_bytes_max),
            limit(g.snapshot_cache_bytes_max),
            g.fetches_in_flight_max,
            g.fetch_queue_max,
            g.history_scan_offsets,
            g.publishes_in_flight_per_client_max,
            g.publish_timeout_ms
        )?;
        writeln!(
            f,
            "  links: client latency ≤{} ms, broker latency ≤{} ms; stream every {} ms ≤{} records; fetch ≤{} offsets; retention {}; large payloads {}% of {} B; payload suffix {} B",
            self.client_latency_ms_max,
            self.broker_latency_ms_max,
            self.stream_every_ms,
            self.stream_batch_records_max,
            self.fetch_batch_offsets_max,
            self.retention_records_max
                .map_or("off".to_owned(), |r| format!("{r} records/partition")),
            self.large_payload_percent,
            self.large_payload_bytes,
            self.payload_suffix_bytes
        )?;
        writeln!(
            f,
            "  apps: at most {SUBJECTS_PER_CLIENT_MAX} subscriptions each"
        )?;
        let fault = |r: Option<Recurring>, unit: &str| match r {
            None => "off".to_owned(),
            Some(r) if unit.is_empty() => format!("every ~{} ms", r.every_ms),
            Some(r) => format!("every ~{} ms, ≤{} {unit}", r.every_ms, r.size_max),
        };
        write!(
            f,
            "  faults: disconnect {}; slow consumer {}; broker stall {}; rewind {}; partition unavailable {}; gateway crash {}",
            fault(self.disconnect, ""),
            fault(self.slow_consumer, "ms"),
            fault(self.broker_stall, "ms"),
            fault(self.rewind, "records"),
            fault(self.partition_unavailable, "ms"),
            fault(self.gateway_crash, "ms down")
        )
    }
}
