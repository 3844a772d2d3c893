//! `sluice-sim`: runs seeds of the tier-1 simulation. Usually started through
//! `cargo xtask sim`, which builds it in release mode (and with the `inject-bugs`
//! feature when `--inject-bug` is given).

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use sluice_sim::cli::{parse_injected_bug, parse_seeds, progress_bar, SeedRange};
use sluice_sim::{
    default_threads, run_seed, run_seed_twice, sweep, Coverage, RunOptions, RunReport,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tier {
    /// The sans-IO core alone, in a seeded world (fast).
    Core,
    /// Real adapters over madsim: the `sluice-sim-e2e` binary, built by
    /// `cargo xtask sim --tier e2e`.
    E2e,
}

/// Runs the deterministic simulation of the Sluice gateway.
#[derive(Debug, Parser)]
#[command(name = "sluice-sim")]
struct Args {
    /// Run one seed and print its plan (and trace with --trace).
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run a range of seeds: `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_parser = parse_seeds)]
    seeds: Option<SeedRange>,
    #[arg(long, value_enum, default_value = "core")]
    tier: Tier,
    /// Run every seed twice and compare the traces.
    #[arg(long)]
    check_determinism: bool,
    /// Switch on a deliberate core bug (`sluice_core::testing::InjectedBug`).
    #[arg(long, value_name = "NAME")]
    inject_bug: Option<String>,
    /// With --seed: print the whole trace.
    #[arg(long)]
    trace: bool,
    /// Threads for a sweep (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Failures printed in full; more are listed one line each.
const FULL_REPORTS_MAX: usize = 5;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.tier == Tier::E2e {
        eprintln!("tier e2e is the sluice-sim-e2e binary (a madsim build): run `cargo xtask sim --tier e2e`");
        return ExitCode::from(2);
    }
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let (passed, failures, seeds) = match args.seed {
        Some(seed) => {
            let report = if args.check_determinism {
                run_seed_twice(seed, &options)
            } else {
                run_seed(seed, &options)
            };
            println!("{}", report.plan);
            if args.trace {
                for line in &report.trace {
                    println!("{line}");
                }
            }
            if report.passed() {
                println!(
                    "seed {seed} passed: {} trace entries (hash {:016x}), {} ms of virtual time",
                    report.trace_entries, report.trace_hash, report.virtual_ms
                );
                println!("coverage: {}", report.coverage);
                (1, Vec::new(), 1)
            } else {
                (0, vec![report], 1)
            }
        }
        None => {
            let range = args.seeds.unwrap_or(SeedRange {
                first: 1,
                last: 1000,
            });
            let seeds = range.seeds();
            let threads = args.threads.unwrap_or_else(default_threads);
            let bar = progress_bar(seeds.len() as u64);
            let coverage = Mutex::new(Coverage::default());
            let outcome = sweep(&seeds, &options, args.check_determinism, threads, &|r| {
                *coverage.lock().unwrap_or_else(|e| e.into_inner()) += r.coverage;
                bar.inc(1)
            });
            bar.finish_and_clear();
            let coverage = coverage.into_inner().unwrap_or_else(|e| e.into_inner());
            println!("coverage: {coverage}");
            (outcome.passed, outcome.failures, seeds.len())
        }
    };
    for (i, report) in failures.iter().enumerate() {
        if i < FULL_REPORTS_MAX {
            print_failure(report, args.seed.is_none(), !args.trace);
        } else if let Err(violation) = &report.outcome {
            println!("FAILED seed {}: {violation}", report.seed());
            println!("  replay: {}", report.replay_command());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let runs = if args.check_determinism {
        2 * seeds
    } else {
        seeds
    };
    println!(
        "{runs} runs in {elapsed:.1} s ({:.0} runs per minute)",
        runs as f64 * 60.0 / elapsed.max(1e-9)
    );
    println!("{passed} passed, {} failed", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn options(args: &Args) -> Result<RunOptions, String> {
    Ok(RunOptions {
        keep_full_trace: args.trace,
        injected_bug: parse_injected_bug(args.inject_bug.as_deref())?,
    })
}

fn print_failure(report: &RunReport, with_plan: bool, with_trace: bool) {
    let Err(violation) = &report.outcome else {
        return;
    };
    println!("FAILED seed {}", report.seed());
    if with_plan {
        println!("{}", report.plan);
    }
    println!("{violation}");
    if with_trace {
        println!("last trace entries:");
        for line in &report.trace {
            println!("  {line}");
        }
    }
    println!("replay: {}", report.replay_command());
}
