//! What a bench run leaves behind: `results.json`, `results.md` (also printed),
//! and PNG charts drawn with plotters.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::register_font;

use crate::scenario::{RunResult, ScenarioKind};
use crate::system::SystemKind;

/// A font for chart labels: DejaVu Sans, from Debian's `fonts-dejavu-core`.
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn write_json(results: &[RunResult], path: &Path) -> anyhow::Result<()> {
    fs::write(path, serde_json::to_string_pretty(results)?)?;
    Ok(())
}

/// Deliveries per second of the server's CPU time: what a delivery costs,
/// whatever the generator's share of the machine (issue #19).
fn per_cpu_second(r: &RunResult) -> String {
    if r.cpu_percent < 1.0 || r.deliveries_per_s < 1.0 {
        return "–".to_owned();
    }
    format!("{:.0}", r.deliveries_per_s / (r.cpu_percent / 100.0))
}

/// The markdown table, with Sluice/peer ratios for every peer run of the same
/// scenario and size.
pub fn markdown(results: &[RunResult]) -> String {
    let mut out = String::from(
        "| scenario | system | conns | subjects | offered/s | delivered/s | per server CPU-s | p50 ms | p99 ms | p999 ms | max ms | CPU % | RSS MiB | RSS/conn KiB | connect s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {:?} | {} | {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.2} |",
            r.scenario,
            r.system.name(),
            r.connections,
            r.subjects,
            r.offered_deliveries_per_s,
            r.deliveries_per_s,
            per_cpu_second(r),
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.latency_p999_ms,
            r.latency_max_ms,
            r.cpu_percent,
            r.rss_bytes as f64 / (1024.0 * 1024.0),
            r.rss_per_connection_bytes / 1024.0,
            r.connect_s
        );
    }
    let on_kafka: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.scenario == ScenarioKind::Kafka)
        .collect();
    if !on_kafka.is_empty() {
        out.push_str("\nW5 on Kafka (librdkafka's mock cluster): produce → delivery is the table above; the gateway's own share (the consumer handing the record over → written to the socket, from `sluice_gateway_latency_seconds`, interpolated within its buckets):\n\n| conns | keys | records/s | delivered/s | per gateway CPU-s | produce→delivery p50 / p99 / p999 ms | gateway share p50 / p99 / p999 ms | consumed from Kafka MB/s | gateway CPU % | RSS MB | caches MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
        for r in on_kafka {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {} | {:.1} / {:.1} / {:.1} | {} / {} / {} | {} | {:.0} | {:.0} | {} |",
                r.connections,
                r.subjects,
                r.publish_rate_per_s,
                r.deliveries_per_s,
                per_cpu_second(r),
                r.latency_p50_ms,
                r.latency_p99_ms,
                r.latency_p999_ms,
                ms(r.gateway_share_p50_ms),
                ms(r.gateway_share_p99_ms),
                ms(r.gateway_share_p999_ms),
                r.kafka_consumed_bytes_per_s
                    .map_or("–".to_owned(), |b| format!("{:.2}", b / 1e6)),
                r.cpu_percent,
                r.rss_bytes as f64 / 1e6,
                r.kafka_cache_bytes
                    .map_or("–".to_owned(), |b| format!("{:.1}", b / 1e6)),
            );
        }
    }
    let resumed: Vec<&RunResult> = results.iter().filter(|r| r.resumed > 0).collect();
    if !resumed.is_empty() {
        out.push_str("\nResumes checked (storm: every client resumes, then one live message per subject):\n\n| scenario | system | conns | resumed | messages received | resyncs | gaps | duplicates | resumed in s |\n|---|---|---|---|---|---|---|---|---|\n");
        for r in resumed {
            let _ = writeln!(
                out,
                "| {:?} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
                r.scenario,
                r.system.name(),
                r.connections,
                r.resumed,
                r.resumed_messages,
                r.resyncs,
                r.violations.gaps,
                r.violations.duplicates,
                r.connect_s
            );
        }
    }
    let ratios: Vec<String> = results
        .iter()
        .filter(|r| r.system != SystemKind::Sluice)
        .filter_map(|peer| {
            let ours = results
                .iter()
                .find(|r| r.system == SystemKind::Sluice && same_run(r, peer))?;
            Some(format!(
                "| {:?} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                peer.scenario,
                peer.system.name(),
                peer.connections,
                peer.subjects,
                peer.offered_deliveries_per_s,
                ratio(ours.deliveries_per_s, peer.deliveries_per_s),
                ratio(
                    ours.deliveries_per_s / ours.cpu_percent.max(1.0),
                    peer.deliveries_per_s / peer.cpu_percent.max(1.0)
                ),
                ratio(peer.latency_p99_ms, ours.latency_p99_ms),
                ratio(peer.rss_per_connection_bytes, ours.rss_per_connection_bytes),
                ratio(peer.connect_s, ours.connect_s),
            ))
        })
        .collect();
    if !ratios.is_empty() {
        out.push_str("\nSluice against each peer at the same load (above 1 means Sluice is better):\n\n| scenario | peer | conns | subjects | offered/s | delivered/s × | per server CPU-s × | p99 latency × | RSS/conn × | connect time × |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for line in ratios {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Two runs of the same workload at the same offered load.
fn same_run(a: &RunResult, b: &RunResult) -> bool {
    a.scenario == b.scenario
        && a.connections == b.connections
        && a.subjects == b.subjects
        && (a.offered_deliveries_per_s - b.offered_deliveries_per_s).abs() < 0.5
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 && numerator > 0.0 {
        format!("{:.2}", numerator / denominator)
    } else {
        "–".to_owned()
    }
}

/// Registers the label font; charts are skipped (with a note) without it.
pub fn font_available() -> bool {
    let Ok(bytes) = fs::read(FONT_PATH) else {
        return false;
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
}

/// The boxed legend every chart has.
pub(crate) fn legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// One colour per system (four systems: Sluice, Sluice over QUIC and two peers).
pub(crate) const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
];

/// Latency CDFs of every system in `scenario` at its largest size.
pub fn latency_cdf_chart(
    results: &[RunResult],
    scenario: ScenarioKind,
    path: &Path,
) -> anyhow::Result<bool> {
    let largest = results
        .iter()
        .filter(|r| r.scenario == scenario)
        .map(|r| r.connections)
        .max();
    let runs: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.scenario == scenario && Some(r.connections) == largest && !r.cdf.is_empty())
        .collect();
    if runs.is_empty() {
        return Ok(false);
    }
    let max_ms = runs
        .iter()
        .flat_map(|r| r.cdf.iter().map(|(ms, _)| *ms))
        .fold(0.1f64, f64::max);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{scenario:?}: delivery latency CDF, {} connections",
                largest.unwrap_or(0)
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((0.01f64..max_ms * 1.1).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log)")
        .y_desc("fraction of deliveries")
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                run.cdf.iter().map(|(ms, q)| (ms.max(0.01), *q)),
                color.stroke_width(2),
            ))?
            .label(run.system.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(true)
}

/// Fan-out deliveries per second against connections, one line per system.
pub fn throughput_chart(results: &[RunResult], path: &Path) -> anyhow::Result<bool> {
    let fanout: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.scenario == ScenarioKind::Fanout)
        .collect();
    if fanout.is_empty() {
        return Ok(false);
    }
    let max_conns = fanout.iter().map(|r| r.connections).max().unwrap_or(1) as f64;
    let max_rate = fanout
        .iter()
        .map(|r| r.deliveries_per_s.max(r.offered_deliveries_per_s))
        .fold(1.0f64, f64::max);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Fan-out: deliveries per second", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_conns * 1.05, 0f64..max_rate * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("subscribed connections")
        .y_desc("deliveries / s")
        .draw()?;
    // In the order they ran, each once (runs go size by size, system by system).
    let mut systems: Vec<SystemKind> = Vec::new();
    for run in &fanout {
        if !systems.contains(&run.system) {
            systems.push(run.system);
        }
    }
    for (i, system) in systems.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points: Vec<(f64, f64)> = fanout
            .iter()
            .filter(|r| r.system == system)
            .map(|r| (r.connections as f64, r.deliveries_per_s))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(system.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(true)
}

/// W5's sweep: latencies against offered deliveries per second, produce → delivery
/// beside the gateway's own share, for the largest sweep of one shape.
pub fn kafka_chart(results: &[RunResult], path: &Path) -> anyhow::Result<bool> {
    let mut runs: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.scenario == ScenarioKind::Kafka)
        .collect();
    // The shape with the most runs is the sweep.
    let shape = |r: &RunResult| (r.connections, r.subjects);
    let sweep = runs
        .iter()
        .map(|r| shape(r))
        .max_by_key(|s| runs.iter().filter(|r| shape(r) == *s).count());
    runs.retain(|r| Some(shape(r)) == sweep);
    if runs.len() < 2 {
        return Ok(false);
    }
    runs.sort_by(|a, b| {
        a.offered_deliveries_per_s
            .total_cmp(&b.offered_deliveries_per_s)
    });
    let max_x = runs
        .iter()
        .map(|r| r.offered_deliveries_per_s)
        .fold(1.0f64, f64::max);
    let max_ms = runs.iter().map(|r| r.latency_p99_ms).fold(1.0f64, f64::max);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (connections, keys) = sweep.unwrap_or_default();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("W5 on Kafka: {connections} subscribers over {keys} keys"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..max_x * 1.05, (0.1f64..max_ms * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered deliveries / s")
        .y_desc("latency (ms, log)")
        .draw()?;
    type Pick = fn(&RunResult) -> Option<f64>;
    let lines: [(&str, Pick); 4] = [
        ("produce → delivery p50", |r| Some(r.latency_p50_ms)),
        ("produce → delivery p99", |r| Some(r.latency_p99_ms)),
        ("gateway share p50", |r| r.gateway_share_p50_ms),
        ("gateway share p99", |r| r.gateway_share_p99_ms),
    ];
    for (i, (label, pick)) in lines.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                runs.iter()
                    .filter_map(|r| pick(r).map(|ms| (r.offered_deliveries_per_s, ms.max(0.1)))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(true)
}
