//! What the soak watches on each gateway every few seconds: its resident memory,
//! CPU time and open file descriptors from `/proc`, and the gauges of its bounded
//! queues and caches from its `/metrics`.

use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::time::timeout;

use crate::proc_stats;
use crate::prometheus_text::{gauge_sum, scrape};

/// The gauges sampled, by their Prometheus names (summed over label sets).
pub const GAUGES: [&str; 6] = [
    "sluice_connections",
    "sluice_subscriptions",
    "sluice_client_queue_bytes",
    "sluice_message_cache_bytes",
    "sluice_snapshot_cache_bytes",
    "sluice_subject_partitions_bytes",
];

/// One reading of one gateway.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the soak started.
    pub at_s: f64,
    pub rss_bytes: u64,
    pub cpu_s: f64,
    pub open_fds: usize,
    /// [`GAUGES`] in order; `None` when the scrape failed.
    pub gauges: Option<[f64; GAUGES.len()]>,
}

impl Sample {
    pub fn gauge(&self, name: &str) -> Option<f64> {
        let index = GAUGES.iter().position(|g| *g == name)?;
        self.gauges.map(|gauges| gauges[index])
    }
}

/// Reads the process `pid` and scrapes `admin`; `None` if the process is gone.
pub async fn sample(pid: u32, admin: SocketAddr, at_s: f64) -> Option<Sample> {
    let process = proc_stats::sample(pid)?;
    let open_fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    let gauges = match timeout(Duration::from_secs(5), scrape(admin)).await {
        Ok(Ok(text)) => Some(GAUGES.map(|name| gauge_sum(&text, name))),
        _ => None,
    };
    Some(Sample {
        at_s,
        rss_bytes: process.rss_bytes,
        cpu_s: process.cpu_s,
        open_fds,
        gauges,
    })
}

/// The least-squares slope of `points` (x, y); `None` for fewer than two x values.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    (variance > 0.0).then(|| covariance / variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_its_gradient() {
        let points: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 1.0)).collect();
        assert!((slope(&points).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
    }
}
