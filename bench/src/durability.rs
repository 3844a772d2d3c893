//! The cost of keeping the embedded log on disk: acknowledged publishes per second
//! and the latency from publish to ack, for the log in memory and on disk with each
//! fsync policy. Publishers keep a fixed number of publishes in flight (a closed
//! loop), so the rate is what the gateway and its disk sustain.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::Serialize;

use crate::conn::Conn;
use crate::load::{new_histogram, payload};
use crate::pinning::Pinning;
use crate::proc_stats;
use crate::system::{self, SystemKind};
use crate::wire::Wire;

/// One way of keeping the log.
#[derive(Debug, Clone, Copy)]
pub struct LogSetting {
    pub name: &'static str,
    /// `[broker.embedded]` keys; `{data_dir}` is replaced by the run's directory.
    pub toml: &'static str,
}

pub const SETTINGS: [LogSetting; 4] = [
    LogSetting {
        name: "memory",
        toml: "storage = \"memory\"",
    },
    LogSetting {
        name: "disk, fsync never",
        toml: "storage = \"disk\"\ndata_dir = \"{data_dir}\"\nfsync = \"never\"",
    },
    LogSetting {
        name: "disk, fsync interval 1000 ms",
        toml: "storage = \"disk\"\ndata_dir = \"{data_dir}\"\nfsync = \"interval\"\nfsync_interval_ms = 1000",
    },
    LogSetting {
        name: "disk, fsync always",
        toml: "storage = \"disk\"\ndata_dir = \"{data_dir}\"\nfsync = \"always\"",
    },
];

/// How hard to push.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DurabilityLoad {
    pub publishers: usize,
    /// Publishes each publisher keeps unacknowledged.
    pub in_flight: usize,
    pub payload_bytes: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct DurabilityResult {
    pub log: &'static str,
    pub load: DurabilityLoad,
    pub acked_per_s: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub ack_p999_ms: f64,
    pub cpu_percent: f64,
}

/// Runs every setting in turn on a fresh gateway.
pub async fn run_all(
    dir: &Path,
    sluice_bin: &Path,
    pinning: &Pinning,
    load: DurabilityLoad,
) -> anyhow::Result<Vec<DurabilityResult>> {
    let mut results = Vec::new();
    for setting in SETTINGS {
        results.push(run(dir, sluice_bin, pinning, setting, load).await?);
    }
    Ok(results)
}

async fn run(
    dir: &Path,
    sluice_bin: &Path,
    pinning: &Pinning,
    setting: LogSetting,
    load: DurabilityLoad,
) -> anyhow::Result<DurabilityResult> {
    let data_dir = dir.join("sluice-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    let toml = setting
        .toml
        .replace("{data_dir}", &data_dir.to_string_lossy());
    let system = system::start_with_log(SystemKind::Sluice, dir, sluice_bin, pinning, &toml)?;
    let origin = Instant::now();
    let measure_from = origin + load.warmup;
    let measure_until = measure_from + load.measure;
    let mut publishers = Vec::new();
    for index in 0..load.publishers {
        let conn = Conn::open(&system.target, index)
            .await
            .with_context(|| format!("publisher {index} connects"))?;
        let wire = Arc::clone(&system.target.wire);
        publishers.push(tokio::spawn(publisher(
            conn,
            wire,
            index,
            load,
            origin,
            (measure_from, measure_until),
        )));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let before = proc_stats::sample(system.pid).context("the gateway is gone")?;
    tokio::time::sleep_until(measure_until.into()).await;
    let after = proc_stats::sample(system.pid).context("the gateway is gone")?;
    let cpu_percent = 100.0 * (after.cpu_s - before.cpu_s) / load.measure.as_secs_f64();
    let mut histogram = new_histogram();
    let mut acked = 0;
    for publisher in publishers {
        let (count, latencies) = publisher.await??;
        acked += count;
        histogram.add(&latencies)?;
    }
    drop(system);
    let _ = std::fs::remove_dir_all(&data_dir);
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(DurabilityResult {
        log: setting.name,
        load,
        acked_per_s: acked as f64 / load.measure.as_secs_f64(),
        ack_p50_ms: ms(0.5),
        ack_p99_ms: ms(0.99),
        ack_p999_ms: ms(0.999),
        cpu_percent,
    })
}

/// Keeps `in_flight` publishes outstanding until the window ends; returns the
/// acks received inside the window and their latencies (µs).
async fn publisher(
    mut conn: Conn,
    wire: Arc<dyn Wire>,
    index: usize,
    load: DurabilityLoad,
    origin: Instant,
    (from, until): (Instant, Instant),
) -> anyhow::Result<(u64, hdrhistogram::Histogram<u64>)> {
    let subject = format!("/bench/durability-{index}");
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut latencies = new_histogram();
    let mut acked = 0;
    let mut next_id = 1;
    let mut partial = Vec::new();
    while Instant::now() < until {
        while sent_at.len() < load.in_flight {
            let publish = wire.publish(&subject, &payload(origin, load.payload_bytes), next_id);
            conn.send(wire.as_ref(), publish).await?;
            sent_at.insert(next_id, Instant::now());
            next_id += 1;
        }
        let message = tokio::time::timeout_at(until.into(), conn.recv()).await;
        let Ok(message) = message else { break };
        let message = message?.ok_or_else(|| anyhow!("the gateway closed a publisher"))?;
        for ack in wire.receive(&message, &mut partial).acks {
            let Some(sent) = sent_at.remove(&ack.id) else {
                continue;
            };
            let now = Instant::now();
            if sent >= from && now <= until {
                acked += 1;
                latencies.record(now.duration_since(sent).as_micros() as u64)?;
            }
        }
    }
    Ok((acked, latencies))
}

/// The results as a Markdown table.
pub fn markdown(results: &[DurabilityResult]) -> String {
    let mut table = String::from(
        "Acknowledged publishes, embedded log (publishers × in flight each, closed loop):\n\n\
         | log | publishers × in flight | acked/s | ack p50 ms | ack p99 ms | ack p999 ms | CPU % |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in results {
        table.push_str(&format!(
            "| {} | {} × {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |\n",
            r.log,
            r.load.publishers,
            r.load.in_flight,
            r.acked_per_s,
            r.ack_p50_ms,
            r.ack_p99_ms,
            r.ack_p999_ms,
            r.cpu_percent
        ));
    }
    table
}
