//! What the soak watches on each gateway every few seconds: its resident memory,
//! CPU time and open file descriptors from `/proc`, and the gauges of its bounded
//! queues and caches from its `/metrics`.

use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::proc_stats;

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

/// `GET /metrics` over HTTP/1.0: the server answers with the whole body and
/// closes, so no chunked decoding is needed.
async fn scrape(admin: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(admin).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: soak\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_owned())
        }
        _ => Err(std::io::Error::other("not a 200 response")),
    }
}

/// The sum of every sample of metric `name` in Prometheus' text format.
fn gauge_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            // The name must end here: `sluice_connections` is not `sluice_connections_total`.
            let rest = match rest.chars().next()? {
                '{' => rest.split_once('}')?.1,
                ' ' => rest,
                _ => return None,
            };
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
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
    fn gauges_are_summed_over_labels_and_names_match_whole() {
        let text = "# HELP sluice_connections open\n\
                    # TYPE sluice_connections gauge\n\
                    sluice_connections{transport=\"websocket\"} 7\n\
                    sluice_connections{transport=\"quic\"} 3\n\
                    sluice_connections_total 99\n\
                    sluice_client_queue_bytes 1.5e3\n";
        assert_eq!(gauge_sum(text, "sluice_connections"), 10.0);
        assert_eq!(gauge_sum(text, "sluice_client_queue_bytes"), 1500.0);
        assert_eq!(gauge_sum(text, "sluice_subscriptions"), 0.0);
    }

    #[test]
    fn slope_of_a_line_is_its_gradient() {
        let points: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 1.0)).collect();
        assert!((slope(&points).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
    }
}
