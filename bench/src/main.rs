//! `sluice-bench`: the benchmark harness behind `cargo xtask bench`. It starts each
//! system under test as its own process on loopback, drives it with the load
//! generator in this process, and writes `results.json`, `results.md` and charts.
//! Benchmarks measure; they are not tests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use sluice_bench::durability::{self, DurabilityLoad};
use sluice_bench::pinning::Pinning;
use sluice_bench::report;
use sluice_bench::scenario::{self, Load, RunResult, ScenarioKind, WatchedPartitions};
use sluice_bench::system::{self, KafkaConsumption, SluiceOptions, SystemKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// Under 30 s: Sluice alone, tiny loads (what CI runs).
    Smoke,
    /// Under 2 minutes: every scenario at small sizes.
    Quick,
    /// The sizes BENCHMARKS.md reports, up to the machine's limit of open files.
    Full,
    /// Issue #19's workloads W1–W4, each at a ladder of rates up to saturation:
    /// W1 1,000 / 1,000 and 10,000 / 10,000 (one subscriber per subject), W2
    /// 10,000 / 1,000, W3 2,000 / 100, W4 5,000 on one subject. About 15 minutes
    /// with one peer.
    Matrix,
    /// Issue #20's W5, Kafka-sourced fan-out on librdkafka's mock cluster:
    /// Kafkorama's shape (10,000 keys updated once a second each, 18,000
    /// subscribers: as many as the open-file limit allows) and a sweep of 10,000
    /// subscribers over 1,000 keys up to saturation. About 3 minutes.
    Kafka,
}

/// Where the system under test and the generator run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pin {
    /// Servers on CPU 0, the generator on the others, when `taskset` and two CPUs
    /// are there.
    Auto,
    Off,
}

/// Benchmarks Sluice, side by side with peers on the same machine.
#[derive(Debug, Parser)]
#[command(name = "sluice-bench")]
struct Args {
    #[arg(long, value_enum, default_value = "quick")]
    profile: Profile,
    /// Shorthand for `--profile quick`.
    #[arg(long)]
    quick: bool,
    /// Peers to run beside Sluice (`nats`); none runs Sluice alone.
    #[arg(long, value_enum, value_delimiter = ',')]
    peers: Vec<SystemKind>,
    /// Only these scenarios (default: all but `kafka`, which needs `--scenarios kafka`
    /// or `--profile kafka`).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<ScenarioKind>,
    /// Fan-out connection counts (overrides the profile's).
    #[arg(long, value_delimiter = ',')]
    connections: Vec<usize>,
    /// Subjects in the fan-out scenario.
    #[arg(long)]
    subjects: Option<usize>,
    /// Fan-out publish rate, messages per second in total.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 512)]
    payload_bytes: usize,
    /// Measured seconds per publishing run.
    #[arg(long)]
    seconds: Option<f64>,
    /// The `sluice` binary to benchmark (xtask passes its release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice_bin: PathBuf,
    /// Where results and charts go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Pin servers and the generator to separate CPUs.
    #[arg(long, value_enum, default_value = "auto")]
    pin: Pin,
    /// On Kafka, how long the gateway's consumer lets the broker hold a fetch that
    /// finds nothing (librdkafka's `fetch.wait.max.ms`, default 500). The mock
    /// cluster holds such a fetch for all of it even when records arrive meanwhile
    /// (Kafka answers as soon as they do), so its default would put up to half a
    /// second of the broker's waiting into every latency.
    #[arg(long, default_value_t = 5)]
    kafka_fetch_wait_ms: u32,
    /// Sluice's `[runtime] shards` (threads, each with its own core).
    #[arg(long, default_value_t = 1)]
    sluice_shards: usize,
    /// W5: partitions of the topic.
    #[arg(long, default_value_t = 8)]
    kafka_partitions: u32,
    /// W5: subscribers take only the keys on the first N partitions (default: all),
    /// as one gateway's clients watching part of a topic.
    #[arg(long)]
    kafka_watched_partitions: Option<u32>,
    /// W5: what the gateway reads (`[broker.kafka] consumption`).
    #[arg(long, value_enum, default_value = "all")]
    kafka_consumption: KafkaConsumption,
}

/// One planned run.
struct Planned {
    scenario: ScenarioKind,
    load: Load,
}

/// The matrix profile's runs: (scenario, connections, subjects, publish rates).
const MATRIX: [(ScenarioKind, usize, usize, &[f64]); 5] = [
    (
        ScenarioKind::Fanout,
        1_000,
        1_000,
        &[20_000.0, 40_000.0, 60_000.0, 80_000.0, 100_000.0],
    ),
    (
        ScenarioKind::Fanout,
        10_000,
        10_000,
        &[10_000.0, 20_000.0, 40_000.0, 60_000.0],
    ),
    (
        ScenarioKind::Fanout,
        10_000,
        1_000,
        &[5_000.0, 10_000.0, 20_000.0, 40_000.0],
    ),
    (
        ScenarioKind::Fanout,
        2_000,
        100,
        &[10_000.0, 20_000.0, 40_000.0, 60_000.0],
    ),
    (
        ScenarioKind::Broadcast,
        5_000,
        1,
        &[20.0, 50.0, 100.0, 200.0],
    ),
];

/// The kafka profile's runs: (connections, keys, records per second).
const KAFKA: [(usize, usize, &[f64]); 2] = [
    (18_000, 10_000, &[10_000.0]),
    (10_000, 1_000, &[10_000.0, 20_000.0, 40_000.0, 60_000.0]),
];

/// W5's `--kafka-watched-partitions`, if given.
fn watched_partitions(args: &Args) -> Option<WatchedPartitions> {
    args.kafka_watched_partitions
        .map(|watched| WatchedPartitions {
            partitions: args.kafka_partitions,
            watched,
        })
}

fn plan(args: &Args, profile: Profile) -> Vec<Planned> {
    if profile == Profile::Kafka {
        let seconds = args.seconds.unwrap_or(10.0);
        return KAFKA
            .iter()
            .flat_map(|&(connections, subjects, rates)| {
                rates.iter().map(move |&rate| Planned {
                    scenario: ScenarioKind::Kafka,
                    load: Load {
                        connections,
                        subjects,
                        publish_rate_per_s: rate,
                        payload_bytes: args.payload_bytes,
                        warmup: Duration::from_millis(3_000),
                        measure: Duration::from_secs_f64(seconds),
                        watched_partitions: watched_partitions(args),
                    },
                })
            })
            .collect();
    }
    if profile == Profile::Matrix {
        let seconds = args.seconds.unwrap_or(10.0);
        return MATRIX
            .iter()
            .flat_map(|&(scenario, connections, subjects, rates)| {
                rates.iter().map(move |&rate| Planned {
                    scenario,
                    load: Load {
                        connections,
                        subjects,
                        publish_rate_per_s: rate,
                        payload_bytes: args.payload_bytes,
                        warmup: Duration::from_millis(2_000),
                        measure: Duration::from_secs_f64(seconds),
                        watched_partitions: None,
                    },
                })
            })
            .filter(|p| args.scenarios.is_empty() || args.scenarios.contains(&p.scenario))
            .collect();
    }
    let (fanout_conns, subjects, rate, broadcast, idle, storm, seconds) = match profile {
        Profile::Smoke => (vec![50], 5, 200.0, (50, 20.0), 50, 50, 1.0),
        Profile::Quick => (
            vec![500, 2_000],
            100,
            1_000.0,
            (2_000, 50.0),
            5_000,
            2_000,
            4.0,
        ),
        Profile::Full | Profile::Matrix | Profile::Kafka => (
            vec![1_000, 5_000, 10_000, 18_000],
            1_000,
            2_000.0,
            (10_000, 20.0),
            18_000,
            18_000,
            10.0,
        ),
    };
    let fanout_conns = if args.connections.is_empty() {
        fanout_conns
    } else {
        args.connections.clone()
    };
    let seconds = args.seconds.unwrap_or(seconds);
    let load = |connections, subjects, rate| Load {
        connections,
        subjects,
        publish_rate_per_s: rate,
        payload_bytes: args.payload_bytes,
        warmup: Duration::from_millis(1_000),
        measure: Duration::from_secs_f64(seconds),
        watched_partitions: None,
    };
    let wanted = |s| args.scenarios.is_empty() || args.scenarios.contains(&s);
    let mut planned = Vec::new();
    if wanted(ScenarioKind::Fanout) {
        for &connections in &fanout_conns {
            let subjects = args.subjects.unwrap_or(subjects).min(connections).max(1);
            planned.push(Planned {
                scenario: ScenarioKind::Fanout,
                load: load(connections, subjects, args.rate.unwrap_or(rate)),
            });
        }
    }
    if args.scenarios.contains(&ScenarioKind::Kafka) {
        let subjects = args.subjects.unwrap_or(subjects);
        for &connections in &fanout_conns {
            planned.push(Planned {
                scenario: ScenarioKind::Kafka,
                load: Load {
                    watched_partitions: watched_partitions(args),
                    ..load(connections, subjects, args.rate.unwrap_or(rate))
                },
            });
        }
    }
    if wanted(ScenarioKind::Broadcast) {
        planned.push(Planned {
            scenario: ScenarioKind::Broadcast,
            load: load(broadcast.0, 1, broadcast.1),
        });
    }
    if wanted(ScenarioKind::Storm) {
        planned.push(Planned {
            scenario: ScenarioKind::Storm,
            load: load(storm, subjects.min(storm), 0.0),
        });
    }
    if wanted(ScenarioKind::Idle) {
        planned.push(Planned {
            scenario: ScenarioKind::Idle,
            load: load(idle, subjects.min(idle), 0.0),
        });
    }
    planned
}

/// The durability runs of `profile`, if wanted: one per way of keeping the log.
fn durability_load(args: &Args, profile: Profile) -> Option<DurabilityLoad> {
    let wanted = if args.scenarios.is_empty() {
        !matches!(profile, Profile::Smoke | Profile::Kafka)
    } else {
        args.scenarios.contains(&ScenarioKind::Durability)
    };
    let (publishers, seconds) = match profile {
        Profile::Smoke => (1, 1.0),
        Profile::Quick => (4, 4.0),
        Profile::Full | Profile::Matrix | Profile::Kafka => (16, 10.0),
    };
    wanted.then(|| DurabilityLoad {
        publishers,
        in_flight: 64,
        payload_bytes: args.payload_bytes,
        warmup: Duration::from_millis(1_000),
        measure: Duration::from_secs_f64(args.seconds.unwrap_or(seconds)),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let profile = if args.quick {
        Profile::Quick
    } else {
        args.profile
    };
    let pinning = match args.pin {
        Pin::Auto => Pinning::auto(),
        Pin::Off => Pinning::off(),
    };
    if let Some(status) = pinning.rerun_harness_pinned() {
        return if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the load generator: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(&args, profile, &pinning)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(args: &Args, profile: Profile, pinning: &Pinning) -> anyhow::Result<()> {
    eprintln!("{}", pinning.describe());
    std::fs::create_dir_all(&args.out)?;
    let mut systems = vec![SystemKind::Sluice];
    systems.extend(args.peers.iter().filter(|p| **p != SystemKind::Sluice));
    let planned = plan(args, profile);
    // W5 runs on Kafka only; the other scenarios on everything else.
    let systems_of = |scenario: ScenarioKind| -> Vec<SystemKind> {
        if scenario == ScenarioKind::Kafka {
            vec![SystemKind::SluiceKafka]
        } else {
            systems
                .iter()
                .copied()
                .filter(|s| *s != SystemKind::SluiceKafka)
                .collect()
        }
    };
    let runs_total: usize = planned.iter().map(|p| systems_of(p.scenario).len()).sum();
    let bar = ProgressBar::new(runs_total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs {msg}") {
        bar.set_style(style);
    }
    let mut results: Vec<RunResult> = Vec::new();
    for run in &planned {
        for kind in systems_of(run.scenario) {
            bar.set_message(format!(
                "{:?} on {}, {} connections",
                run.scenario,
                kind.name(),
                run.load.connections
            ));
            let dir = args.out.join("systems").join(kind.name());
            let system = system::start(
                kind,
                &dir,
                &args.sluice_bin,
                pinning,
                SluiceOptions {
                    kafka_fetch_wait_ms: args.kafka_fetch_wait_ms,
                    shards: args.sluice_shards,
                    kafka_partitions: args.kafka_partitions,
                    kafka_consumption: args.kafka_consumption,
                },
            )?;
            let result = scenario::run(run.scenario, &system, run.load).await;
            drop(system);
            match result {
                Ok(result) => results.push(result),
                // On stderr: the bar's own output is hidden when it is not a terminal.
                Err(error) => bar.suspend(|| {
                    eprintln!(
                        "{:?} on {} with {} connections failed: {error:#}",
                        run.scenario,
                        kind.name(),
                        run.load.connections
                    )
                }),
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let mut table = format!("{}.\n\n{}", pinning.describe(), report::markdown(&results));
    let mut durability_failed = 0;
    if let Some(load) = durability_load(args, profile) {
        eprintln!(
            "durability: {} publishers × {} in flight, {} s per way of keeping the log",
            load.publishers,
            load.in_flight,
            load.measure.as_secs_f64()
        );
        let dir = args.out.join("systems").join("sluice-durability");
        match durability::run_all(&dir, &args.sluice_bin, pinning, load).await {
            Ok(durable) => {
                table.push('\n');
                table.push_str(&durability::markdown(&durable));
                std::fs::write(
                    args.out.join("durability.json"),
                    serde_json::to_string_pretty(&durable)?,
                )?;
            }
            Err(error) => {
                eprintln!("durability runs failed: {error:#}");
                durability_failed = 1;
            }
        }
    }
    println!("{table}");
    report::write_json(&results, &args.out.join("results.json"))?;
    std::fs::write(args.out.join("results.md"), &table)?;
    if report::font_available() {
        let mut charts = Vec::new();
        if report::throughput_chart(&results, &args.out.join("throughput.png"))? {
            charts.push("throughput.png");
        }
        if report::kafka_chart(&results, &args.out.join("kafka.png"))? {
            charts.push("kafka.png");
        }
        for (scenario, file) in [
            (ScenarioKind::Fanout, "latency_cdf_fanout.png"),
            (ScenarioKind::Broadcast, "latency_cdf_broadcast.png"),
        ] {
            if report::latency_cdf_chart(&results, scenario, &args.out.join(file))? {
                charts.push(file);
            }
        }
        println!("charts in {}: {}", args.out.display(), charts.join(", "));
    } else {
        println!("no charts: the font DejaVuSans.ttf is missing (Debian: fonts-dejavu-core)");
    }
    println!("results in {}", args.out.join("results.json").display());
    // A run that delivered a gap or a duplicate is reported above, and failed.
    let wrong: Vec<String> = results
        .iter()
        .filter(|r| r.violations.any())
        .map(|r| {
            format!(
                "{:?} on {} with {} connections: {} gaps, {} duplicates",
                r.scenario,
                r.system.name(),
                r.connections,
                r.violations.gaps,
                r.violations.duplicates
            )
        })
        .collect();
    for line in &wrong {
        eprintln!("FAILED: {line}");
    }
    let failed = runs_total - results.len() + wrong.len() + durability_failed;
    if failed > 0 {
        anyhow::bail!("{failed} runs failed");
    }
    Ok(())
}
