//! `sluice-soak`: the soak behind `cargo xtask soak`. Starts one gateway per
//! broker, churns clients through it for `--minutes`, samples it every few
//! seconds, and writes `soak.json`, `soak.md` (also printed) and `soak.png`.
//! Exits non-zero if an acknowledged publish was lost, a gateway died or file
//! descriptors leaked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use sluice_bench::report;
use sluice_bench::soak::gateway::SoakBroker;
use sluice_bench::soak::{self, SoakOptions};

#[derive(Debug, Parser)]
#[command(name = "sluice-soak")]
struct Args {
    /// How long the load runs.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// Brokers to soak, each with its own gateway, at the same time.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "embedded,kafka"
    )]
    brokers: Vec<SoakBroker>,
    /// Apps per gateway: each connects, subscribes, lives 5–40 s (some lose their
    /// connection and resume, some stall), closes and comes back.
    #[arg(long, default_value_t = 1_000)]
    apps: usize,
    #[arg(long, default_value_t = 500)]
    subjects: usize,
    /// Publishes per second into each gateway, every ack checked.
    #[arg(long, default_value_t = 200.0)]
    publish_rate: f64,
    /// Clients subscribed to every subject for the whole run.
    #[arg(long, default_value_t = 2)]
    witnesses: usize,
    /// Sockets per gateway that never finish a handshake.
    #[arg(long, default_value_t = 20)]
    idle_sockets: usize,
    #[arg(long, default_value_t = 5)]
    sample_seconds: u64,
    /// Minutes left out of the memory slope.
    #[arg(long, default_value_t = 10.0)]
    warmup_minutes: f64,
    /// The `sluice` binary (xtask passes its release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice_bin: PathBuf,
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.witnesses == 0 || args.subjects == 0 || args.publish_rate <= 0.0 {
        eprintln!("sluice-soak: --witnesses, --subjects and --publish-rate must be above 0");
        return ExitCode::from(2);
    }
    // The gateways run in their own directories: paths must not be relative.
    let sluice_bin = match std::fs::canonicalize(&args.sluice_bin) {
        Ok(path) => path,
        Err(err) => {
            eprintln!(
                "sluice-soak: {}: {err} (build it with `cargo build --release`)",
                args.sluice_bin.display()
            );
            return ExitCode::from(2);
        }
    };
    let out =
        match std::fs::create_dir_all(&args.out).and_then(|()| std::fs::canonicalize(&args.out)) {
            Ok(path) => path,
            Err(err) => {
                eprintln!("sluice-soak: {}: {err}", args.out.display());
                return ExitCode::from(2);
            }
        };
    let options = SoakOptions {
        minutes: args.minutes,
        brokers: args.brokers,
        apps: args.apps,
        subjects: args.subjects,
        publish_rate_per_s: args.publish_rate,
        witnesses: args.witnesses,
        idle_sockets: args.idle_sockets,
        sample_every: Duration::from_secs(args.sample_seconds.max(1)),
        warmup_minutes: args.warmup_minutes.min(args.minutes / 2.0),
        sluice_bin,
        out,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let reports = match runtime.block_on(soak::run(options.clone())) {
        Ok(reports) => reports,
        Err(err) => {
            eprintln!("sluice-soak: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let summary = soak::summary(&reports, &options);
    println!("{summary}");
    let written = (|| -> anyhow::Result<()> {
        std::fs::create_dir_all(&options.out)?;
        std::fs::write(options.out.join("soak.md"), &summary)?;
        std::fs::write(
            options.out.join("soak.json"),
            serde_json::to_vec_pretty(&reports)?,
        )?;
        if report::font_available() {
            let runs: Vec<(&str, &[soak::sampler::Sample])> = reports
                .iter()
                .map(|r| (r.broker, r.samples.as_slice()))
                .collect();
            soak::chart::draw(&runs, &options.out.join("soak.png"))?;
        } else {
            eprintln!("sluice-soak: no chart (install fonts-dejavu-core)");
        }
        Ok(())
    })();
    if let Err(err) = written {
        eprintln!("sluice-soak: writing results: {err:#}");
        return ExitCode::FAILURE;
    }
    println!("results in {}", options.out.display());
    let failures: Vec<String> = reports.iter().flat_map(|r| r.failures()).collect();
    for failure in &failures {
        eprintln!("sluice-soak: FAILED: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
