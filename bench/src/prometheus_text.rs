//! Reading a gateway's `/metrics` (Prometheus' text format): gauges summed over
//! their labels, and quantiles of a histogram between two scrapes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET /metrics` over HTTP/1.0: the server answers with the whole body and
/// closes, so no chunked decoding is needed.
pub async fn scrape(admin: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(admin).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
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

/// The samples of metric `name`: (labels without braces, value).
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(move |line| {
            let rest = line.strip_prefix(name)?;
            // The name must end here: `sluice_connections` is not `sluice_connections_total`.
            let (labels, rest) = match rest.chars().next()? {
                '{' => rest[1..].split_once('}')?,
                ' ' => ("", rest),
                _ => return None,
            };
            Some((labels, rest.split_whitespace().next()?.parse::<f64>().ok()?))
        })
}

/// The sum of every sample of metric `name`.
pub fn gauge_sum(text: &str, name: &str) -> f64 {
    samples(text, name).map(|(_, value)| value).sum()
}

/// The cumulative buckets `(le, count)` of histogram `name` whose labels include
/// `label` (e.g. `transport="websocket"`), in order of `le`, `+Inf` last.
pub fn buckets(text: &str, name: &str, label: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut found: Vec<(f64, f64)> = samples(text, &bucket)
        .filter(|(labels, _)| labels.split(',').any(|l| l == label))
        .filter_map(|(labels, count)| {
            let le = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))?
                .trim_end_matches('"');
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count))
        })
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found
}

/// Quantile `q` of what a histogram counted between two scrapes' [`buckets`], as
/// Prometheus' `histogram_quantile` estimates it: linear within the bucket it
/// falls in (so it is only as fine as the buckets). `None` if nothing was counted;
/// the highest finite bound if it falls in `+Inf`.
pub fn quantile_between(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let counted: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, count)| {
            let earlier = before.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
            (le, count - earlier)
        })
        .collect();
    let total = counted.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in &counted {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let within = count - below;
            let fraction = if within > 0.0 {
                (rank - below) / within
            } else {
                1.0
            };
            return Some(lower + (le - lower) * fraction);
        }
        (lower, below) = (le, count);
    }
    Some(lower)
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
    fn quantiles_interpolate_within_the_bucket_counted_between_scrapes() {
        let scrape = |a: f64, b: f64, c: f64| {
            format!(
                "h_bucket{{transport=\"websocket\",le=\"0.001\"}} {a}\n\
                 h_bucket{{transport=\"websocket\",le=\"0.002\"}} {b}\n\
                 h_bucket{{transport=\"websocket\",le=\"+Inf\"}} {c}\n\
                 h_bucket{{transport=\"quic\",le=\"+Inf\"}} 1000\n"
            )
        };
        let before = buckets(&scrape(10.0, 10.0, 10.0), "h", "transport=\"websocket\"");
        assert_eq!(before.len(), 3);
        // Between the scrapes: 50 at most 1 ms, 50 in (1, 2] ms, none above.
        let after = buckets(&scrape(60.0, 110.0, 110.0), "h", "transport=\"websocket\"");
        let p50 = quantile_between(&before, &after, 0.5).unwrap();
        assert!((p50 - 0.001).abs() < 1e-12, "{p50}");
        let p75 = quantile_between(&before, &after, 0.75).unwrap();
        assert!((p75 - 0.0015).abs() < 1e-12, "{p75}");
        assert_eq!(quantile_between(&after, &after, 0.5), None);
    }
}
