//! Samples of the gateway's counters, for the rates and charts of `/api/v1/stats`:
//! one every `stats_interval_ms`, at most `stats_samples_max` kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sluice_core::GatewayStats;

use crate::Inner;

/// What one sample holds.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at_ms: u64,
    pub connections: u64,
    pub deliveries_per_s: f64,
    pub publishes_per_s: f64,
    #[serde(skip)]
    pub totals: Totals,
}

/// Counters the rates are computed from.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub messages_out: u64,
    pub publishes: u64,
    /// Records seen per topic (sum of the partitions' next offsets).
    pub topic_records: BTreeMap<String, u64>,
}

pub struct StatsHistory {
    samples: Mutex<VecDeque<Sample>>,
    max: usize,
    /// Records per second of each topic, as of the last sample.
    topic_rates: Mutex<BTreeMap<String, f64>>,
}

impl StatsHistory {
    pub fn new(max: usize) -> Self {
        StatsHistory {
            samples: Mutex::new(VecDeque::with_capacity(max.min(4096))),
            max: max.max(1),
            topic_rates: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.samples).iter().cloned().collect()
    }

    pub fn topic_rates(&self) -> BTreeMap<String, f64> {
        lock(&self.topic_rates).clone()
    }

    fn push(&self, connections: u64, totals: Totals, at_ms: u64) {
        let mut samples = lock(&self.samples);
        let (deliveries_per_s, publishes_per_s, topic_rates) = match samples.back() {
            Some(last) if at_ms > last.at_ms => {
                let seconds = (at_ms - last.at_ms) as f64 / 1000.0;
                let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
                let topics = totals
                    .topic_records
                    .iter()
                    .map(|(topic, now)| {
                        let then = last
                            .totals
                            .topic_records
                            .get(topic)
                            .copied()
                            .unwrap_or(*now);
                        (topic.clone(), rate(*now, then))
                    })
                    .collect();
                (
                    rate(totals.messages_out, last.totals.messages_out),
                    rate(totals.publishes, last.totals.publishes),
                    topics,
                )
            }
            _ => (0.0, 0.0, BTreeMap::new()),
        };
        *lock(&self.topic_rates) = topic_rates;
        if samples.len() >= self.max {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at_ms,
            connections,
            deliveries_per_s,
            publishes_per_s,
            totals,
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every shard's stats, merged.
pub fn merged_stats(inner: &Inner) -> GatewayStats {
    let mut runtimes = inner.runtimes.iter();
    let mut stats = runtimes.next().map(|r| r.stats()).unwrap_or_default();
    for runtime in runtimes {
        stats.merge(&runtime.stats());
    }
    stats
}

/// Open connections per transport, from the `sluice_connections` gauge.
pub fn connections_by_transport(inner: &Inner) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for family in inner.registry.gather() {
        if family.name() != "sluice_connections" {
            continue;
        }
        for metric in family.get_metric() {
            let transport = metric
                .get_label()
                .iter()
                .find(|l| l.name() == "transport")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            out.insert(transport, metric.get_gauge().get_value().max(0.0) as u64);
        }
    }
    out
}

pub fn spawn_sampler(inner: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let interval = {
                let Some(inner) = inner.upgrade() else { return };
                let stats = merged_stats(&inner);
                let topic_records = inner
                    .runtimes
                    .first()
                    .map(|r| r.inspect(|g| g.topic_records_seen()))
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                let connections = connections_by_transport(&inner).values().sum();
                let totals = Totals {
                    messages_out: stats.messages_out_total,
                    publishes: stats.publishes_total,
                    topic_records,
                };
                inner.stats.push(connections, totals, now_ms());
                Duration::from_millis(inner.config.stats_interval_ms.max(10))
            };
            tokio::time::sleep(interval).await;
        }
    });
}
