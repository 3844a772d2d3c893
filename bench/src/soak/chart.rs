//! The soak's chart: four panels over the run's minutes, one line per broker —
//! resident memory, open file descriptors, the caches and the client queues.

use std::path::Path;

use plotters::prelude::*;

use super::sampler::Sample;
use crate::report::{legend, COLORS};

const MIB: f64 = 1024.0 * 1024.0;

/// One panel: what it shows and how to read it off a sample.
struct Panel {
    title: &'static str,
    unit: &'static str,
    value: fn(&Sample) -> Option<f64>,
}

const PANELS: [Panel; 4] = [
    Panel {
        title: "resident memory",
        unit: "MiB",
        value: |s| Some(s.rss_bytes as f64 / MIB),
    },
    Panel {
        title: "open file descriptors",
        unit: "fds",
        value: |s| Some(s.open_fds as f64),
    },
    Panel {
        title: "message + snapshot caches, subject partitions",
        unit: "MiB",
        value: |s| {
            let caches = s.gauge("sluice_message_cache_bytes")?
                + s.gauge("sluice_snapshot_cache_bytes")?
                + s.gauge("sluice_subject_partitions_bytes")?;
            Some(caches / MIB)
        },
    },
    Panel {
        title: "bytes queued towards clients",
        unit: "KiB",
        value: |s| Some(s.gauge("sluice_client_queue_bytes")? / 1024.0),
    },
];

/// Draws the chart of `runs` (broker name, samples) to `path`.
pub fn draw(runs: &[(&str, &[Sample])], path: &Path) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("Sluice soak", ("sans-serif", 24))?;
    for (panel, area) in PANELS.iter().zip(root.split_evenly((2, 2))) {
        let series: Vec<(&str, Vec<(f64, f64)>)> = runs
            .iter()
            .map(|(name, samples)| {
                let points = samples
                    .iter()
                    .filter_map(|s| Some((s.at_s / 60.0, (panel.value)(s)?)))
                    .collect();
                (*name, points)
            })
            .collect();
        let max_x = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .fold(1.0f64, f64::max);
        let max_y = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&area)
            .caption(panel.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y * 1.15)?;
        chart
            .configure_mesh()
            .x_desc("minutes")
            .y_desc(panel.unit)
            .draw()?;
        for (i, (name, points)) in series.into_iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        legend(&mut chart)?;
    }
    root.present()?;
    Ok(())
}
