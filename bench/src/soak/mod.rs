//! `sluice-soak` (`cargo xtask soak`): a steady churn of clients against one
//! gateway per broker for as long as asked, sampled every few seconds. The run
//! fails if an acknowledged publish never reached the witnesses, if a gateway
//! died, or if file descriptors stayed open after the load left.

pub mod chart;
pub mod churn;
pub mod gateway;
pub mod ledger;
pub mod sampler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, Instant};

use churn::ChurnCounts;
use gateway::{SoakBroker, SoakGateway};
use ledger::{Ledger, Verdict};
use sampler::Sample;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub minutes: f64,
    pub brokers: Vec<SoakBroker>,
    /// Apps per gateway, each always connected or about to reconnect.
    pub apps: usize,
    pub subjects: usize,
    /// Publishes per second into each gateway.
    pub publish_rate_per_s: f64,
    pub witnesses: usize,
    /// Sockets per gateway that never finish a handshake.
    pub idle_sockets: usize,
    pub sample_every: Duration,
    /// Samples before this are warm-up, left out of the memory slope.
    pub warmup_minutes: f64,
    pub sluice_bin: PathBuf,
    pub out: PathBuf,
}

/// What one gateway's run showed.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub broker: &'static str,
    pub samples: Vec<Sample>,
    pub acked: usize,
    pub lost: usize,
    pub unverifiable: usize,
    pub connects: u64,
    pub connect_errors: u64,
    pub kills: u64,
    pub stalls: u64,
    pub messages: u64,
    pub publishes: u64,
    pub publish_errors: u64,
    pub handshake_timeouts: u64,
    /// Resident memory's least-squares slope after warm-up, MiB per hour.
    pub rss_slope_mib_per_hour: Option<f64>,
    pub rss_after_warmup_mib: Option<f64>,
    pub rss_peak_mib: f64,
    /// Open descriptors before any client came, and once every client had gone.
    pub fds_before: usize,
    pub fds_after: usize,
    pub gateway_survived: bool,
}

impl SoakReport {
    /// Why the run failed, if it did.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.lost > 0 {
            failures.push(format!(
                "{}: {} acknowledged publishes never reached a witness",
                self.broker, self.lost
            ));
        }
        if !self.gateway_survived {
            failures.push(format!("{}: the gateway process died", self.broker));
        }
        // A few descriptors may come and go (the admin scrape, the broker's own).
        if self.fds_after > self.fds_before + 8 {
            failures.push(format!(
                "{}: {} file descriptors open after the load left, {} before it came",
                self.broker, self.fds_after, self.fds_before
            ));
        }
        if self.acked == 0 {
            failures.push(format!("{}: no publish was acknowledged", self.broker));
        }
        failures
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Runs the soak on every broker at once, each with its own gateway and load.
pub async fn run(options: SoakOptions) -> anyhow::Result<Vec<SoakReport>> {
    let mut runs = JoinSet::new();
    for (index, &broker) in options.brokers.iter().enumerate() {
        let options = options.clone();
        runs.spawn(async move { soak_one(broker, index as u64, options).await });
    }
    let mut reports = Vec::new();
    while let Some(report) = runs.join_next().await {
        reports.push(report??);
    }
    reports.sort_by_key(|r| r.broker);
    Ok(reports)
}

async fn soak_one(
    broker: SoakBroker,
    seed: u64,
    options: SoakOptions,
) -> anyhow::Result<SoakReport> {
    let dir = options.out.join(broker.name());
    let sluice_bin = options.sluice_bin.clone();
    let mut gateway =
        tokio::task::spawn_blocking(move || SoakGateway::start(broker, &dir, &sluice_bin))
            .await??;
    let start = Instant::now();
    let at_s = move || start.elapsed().as_secs_f64();
    let fds_before = sampler::sample(gateway.pid, gateway.admin_addr, 0.0)
        .await
        .map_or(0, |s| s.open_fds);

    let counts = Arc::new(ChurnCounts::default());
    let ledger = Arc::new(Ledger::default());
    let (stop_tx, stop) = watch::channel(false);
    let (done_tx, done) = watch::channel(false);
    let url = gateway.ws_url.clone();
    let mut witnesses = JoinSet::new();
    for index in 0..options.witnesses {
        witnesses.spawn(churn::witness(
            url.clone(),
            options.subjects,
            index,
            seed * 1_000 + index as u64,
            ledger.clone(),
            done.clone(),
        ));
    }
    // The witnesses hold every subject before the first publish.
    sleep(Duration::from_secs(3)).await;
    let mut load = JoinSet::new();
    load.spawn(churn::publisher(
        url.clone(),
        options.subjects,
        options.publish_rate_per_s,
        seed,
        counts.clone(),
        ledger.clone(),
        stop.clone(),
    ));
    for app in 0..options.apps {
        let seed = seed * 1_000_000 + app as u64;
        let (url, counts, stop) = (url.clone(), counts.clone(), stop.clone());
        load.spawn(async move {
            churn::app(url, options.subjects, seed, counts, stop).await;
            Ok(())
        });
    }
    let idle = tokio::spawn(churn::idle_sockets(
        gateway.ws_addr,
        options.idle_sockets,
        counts.clone(),
        stop.clone(),
    ));

    let mut samples = Vec::new();
    let end = start + Duration::from_secs_f64(options.minutes * 60.0);
    let mut tick = tokio::time::interval(options.sample_every);
    while Instant::now() < end && gateway.is_running() {
        tick.tick().await;
        if let Some(sample) = sampler::sample(gateway.pid, gateway.admin_addr, at_s()).await {
            eprintln!(
                "soak {:>8} {:>6.1} min: rss {:>6.1} MiB, fds {:>5}, connections {:>5}, acked {:>8}, messages {:>10}",
                broker.name(),
                sample.at_s / 60.0,
                sample.rss_bytes as f64 / MIB,
                sample.open_fds,
                sample.gauge("sluice_connections").unwrap_or(f64::NAN),
                ledger.acked_count(),
                ChurnCounts::get(&counts.messages),
            );
            samples.push(sample);
        }
    }

    // The load leaves; the witnesses read what is still on its way, then go.
    let _ = stop_tx.send(true);
    while let Some(finished) = load.join_next().await {
        if let Ok(Err(err)) = finished {
            eprintln!("soak {}: publisher: {err:#}", broker.name());
        }
    }
    let _ = idle.await;
    sleep(Duration::from_secs(10)).await;
    let _ = done_tx.send(true);
    while let Some(finished) = witnesses.join_next().await {
        if let Ok(Err(err)) = finished {
            eprintln!("soak {}: witness: {err:#}", broker.name());
        }
    }
    let fds_after = settled_fds(&mut gateway, fds_before).await;
    let gateway_survived = gateway.is_running();
    let verdict = ledger.verdict(options.witnesses);
    Ok(report(
        broker,
        samples,
        verdict,
        &counts,
        &options,
        fds_before,
        fds_after,
        gateway_survived,
    ))
}

/// Open descriptors once closed connections are gone: waits up to a minute for
/// the count to fall back to `before`, since closes finish asynchronously.
async fn settled_fds(gateway: &mut SoakGateway, before: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", gateway.pid))
            .map_or(0, |entries| entries.count());
        if fds <= before || Instant::now() >= deadline {
            return fds;
        }
        sleep(Duration::from_secs(1)).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    broker: SoakBroker,
    samples: Vec<Sample>,
    verdict: Verdict,
    counts: &ChurnCounts,
    options: &SoakOptions,
    fds_before: usize,
    fds_after: usize,
    gateway_survived: bool,
) -> SoakReport {
    let warm: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at_s >= options.warmup_minutes * 60.0)
        .map(|s| (s.at_s / 3600.0, s.rss_bytes as f64 / MIB))
        .collect();
    let get = ChurnCounts::get;
    SoakReport {
        broker: broker.name(),
        acked: verdict.acked,
        lost: verdict.lost,
        unverifiable: verdict.unverifiable,
        connects: get(&counts.connects),
        connect_errors: get(&counts.connect_errors),
        kills: get(&counts.kills),
        stalls: get(&counts.stalls),
        messages: get(&counts.messages),
        publishes: get(&counts.publishes),
        publish_errors: get(&counts.publish_errors),
        handshake_timeouts: get(&counts.handshake_timeouts),
        rss_slope_mib_per_hour: sampler::slope(&warm),
        rss_after_warmup_mib: warm.first().map(|p| p.1),
        rss_peak_mib: samples
            .iter()
            .map(|s| s.rss_bytes as f64 / MIB)
            .fold(0.0, f64::max),
        samples,
        fds_before,
        fds_after,
        gateway_survived,
    }
}

/// The summary table, in Markdown.
pub fn summary(reports: &[SoakReport], options: &SoakOptions) -> String {
    let mut out = format!(
        "Soak: {} min, {} apps and {} witnesses per gateway over {} subjects, {} publishes/s, {} idle sockets; warm-up {} min\n\n",
        options.minutes,
        options.apps,
        options.witnesses,
        options.subjects,
        options.publish_rate_per_s,
        options.idle_sockets,
        options.warmup_minutes,
    );
    out.push_str("| broker | RSS after warm-up | RSS peak | RSS slope | fds before / after | connects | kills / stalls | handshake timeouts | publishes acked / errors | lost | after resync | messages to apps |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        let mib = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1} MiB"));
        out.push_str(&format!(
            "| {} | {} | {:.1} MiB | {} | {} / {} | {} | {} / {} | {} | {} / {} | {} | {} | {} |\n",
            r.broker,
            mib(r.rss_after_warmup_mib),
            r.rss_peak_mib,
            r.rss_slope_mib_per_hour
                .map_or("–".to_owned(), |v| format!("{v:+.2} MiB/h")),
            r.fds_before,
            r.fds_after,
            r.connects,
            r.kills,
            r.stalls,
            r.handshake_timeouts,
            r.acked,
            r.publish_errors,
            r.lost,
            r.unverifiable,
            r.messages,
        ));
    }
    out
}
