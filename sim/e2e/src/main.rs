//! `sluice-sim-e2e`: runs seeds of tier 2 (real adapters on madsim). Only a
//! `--cfg madsim` build can; `cargo xtask sim --tier e2e` makes one in `target/sim`.

use std::process::ExitCode;

#[cfg(not(madsim))]
fn main() -> ExitCode {
    eprintln!(
        "sluice-sim-e2e needs the simulator's build (`--cfg madsim`): run `cargo xtask sim --tier e2e`"
    );
    ExitCode::from(2)
}

#[cfg(madsim)]
fn main() -> ExitCode {
    cli::main()
}

#[cfg(madsim)]
mod cli {
    use std::process::{Command, ExitCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    use clap::Parser;
    use sluice_kafka::testing::KafkaBug;
    use sluice_sim::cli::{parse_injected_bug, parse_seeds, progress_bar, SeedRange};
    use sluice_sim::Invariant;
    use sluice_sim_e2e::plan::Broker;
    use sluice_sim_e2e::run::{run_seed, E2eOptions};

    /// Runs tier 2 of the Sluice simulation.
    #[derive(Debug, Parser)]
    #[command(name = "sluice-sim-e2e")]
    struct Args {
        /// Run one seed, in this process, and print its plan.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Run a range of seeds: `A..B` (B excluded) or `A..=B`. Default 1..=50.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<SeedRange>,
        /// Run every seed twice and compare the traces.
        #[arg(long)]
        check_determinism: bool,
        /// Seeds run at once (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Switch on a deliberate core bug (`sluice_core::testing::InjectedBug`), or
        /// with `--broker kafka` an adapter bug (`sluice_kafka::testing::KafkaBug`).
        #[arg(long, value_name = "NAME")]
        inject_bug: Option<String>,
        /// What the gateways read from: `log-server` (the simulator's own) or
        /// `kafka` (the real Kafka adapter on the simulated Kafka client).
        #[arg(long, default_value = "log-server")]
        broker: String,
    }

    /// Failures printed in full; more are listed one line each.
    const FULL_REPORTS_MAX: usize = 5;

    pub fn main() -> ExitCode {
        let args = Args::parse();
        if std::env::var_os("RUST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .init();
        }
        let options = match options(&args) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
        };
        if let (Some(seed), false) = (args.seed, args.check_determinism) {
            // One seed, in this (fresh) process.
            let report = run_seed(seed, options);
            println!("{}", report.plan);
            return match &report.outcome {
                Ok(trace) => {
                    println!("seed {seed} passed: {trace}");
                    println!("1 passed, 0 failed");
                    ExitCode::SUCCESS
                }
                Err(violation) => {
                    println!("FAILED seed {seed}");
                    println!("{violation}");
                    println!("replay: {}", report.replay_command());
                    println!("0 passed, 1 failed");
                    ExitCode::FAILURE
                }
            };
        }
        let seeds = match args.seed {
            Some(seed) => vec![seed],
            None => args
                .seeds
                .unwrap_or(SeedRange { first: 1, last: 50 })
                .seeds(),
        };
        let threads = args
            .threads
            .unwrap_or_else(sluice_sim::default_threads)
            .max(1);
        let started = Instant::now();
        let runs_per_seed = if args.check_determinism { 2 } else { 1 };
        let outcomes = sweep(&seeds, threads, &|seed| {
            run_in_child(seed, &args, runs_per_seed)
        });
        let mut passed = 0;
        let mut failed = 0;
        for (seed, outcome) in seeds.iter().zip(&outcomes) {
            match outcome {
                Ok(_) => passed += 1,
                Err(report) => {
                    failed += 1;
                    if failed <= FULL_REPORTS_MAX {
                        print!("{report}");
                    } else if let Some(line) = report.lines().find(|l| l.starts_with("invariant")) {
                        println!("FAILED seed {seed}: {line}");
                    }
                }
            }
        }
        let runs = runs_per_seed * seeds.len();
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{runs} runs in {elapsed:.1} s ({:.0} runs per minute)",
            runs as f64 * 60.0 / elapsed.max(1e-9)
        );
        println!("{passed} passed, {failed} failed");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Runs `seed` `runs` times, each in a fresh child process (this binary with
    /// `--seed`), and compares their traces. `Ok` holds the trace line; `Err` the
    /// report to print.
    fn run_in_child(seed: u64, args: &Args, runs: usize) -> Result<String, String> {
        let bug = args.inject_bug.as_deref();
        let mut traces = Vec::new();
        for _ in 0..runs {
            let exe = std::env::current_exe().map_err(|e| format!("FAILED seed {seed}: {e}\n"))?;
            let mut command = Command::new(exe);
            command
                .args(["--seed", &seed.to_string(), "--broker", &args.broker])
                .env_remove("RUST_LOG");
            if let Some(bug) = bug {
                command.args(["--inject-bug", bug]);
            }
            let output = command
                .output()
                .map_err(|e| format!("FAILED seed {seed}: cannot run the simulator: {e}\n"))?;
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            if !output.status.success() {
                let report: String = stdout
                    .lines()
                    .filter(|l| !l.ends_with(" failed") || l.starts_with("FAILED"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                return Err(report);
            }
            let trace = stdout
                .lines()
                .find(|l| l.starts_with(&format!("seed {seed} passed:")))
                .unwrap_or_default()
                .to_owned();
            traces.push(trace);
        }
        if traces.windows(2).any(|pair| pair[0] != pair[1]) {
            let mut replay =
                format!("cargo xtask sim --tier e2e --seed {seed} --check-determinism");
            if args.broker != "log-server" {
                replay.push_str(&format!(" --broker {}", args.broker));
            }
            if let Some(bug) = bug {
                replay.push_str(&format!(" --inject-bug {bug}"));
            }
            return Err(format!(
                "FAILED seed {seed}\ninvariant {} violated: {}\nreplay: {replay}\n",
                Invariant::Determinism.title(),
                traces.join(" / ")
            ));
        }
        Ok(traces.pop().unwrap_or_default())
    }

    fn options(args: &Args) -> Result<E2eOptions, String> {
        let broker = Broker::from_name(&args.broker).ok_or_else(|| {
            format!(
                "unknown --broker {:?}: use log-server or kafka",
                args.broker
            )
        })?;
        let name = args.inject_bug.as_deref();
        let kafka_bug = name.and_then(KafkaBug::from_name);
        if kafka_bug.is_some() && broker != Broker::Kafka {
            return Err(format!(
                "--inject-bug {} is a Kafka adapter bug: add --broker kafka",
                name.unwrap_or_default()
            ));
        }
        Ok(E2eOptions {
            injected_bug: match kafka_bug {
                Some(_) => None,
                None => parse_injected_bug(name).map_err(|error| {
                    let kafka: Vec<&str> = KafkaBug::ALL.iter().map(|b| b.name()).collect();
                    format!("{error} (with --broker kafka also: {})", kafka.join(", "))
                })?,
            },
            broker,
            kafka_bug,
        })
    }

    /// Runs the seeds on `threads` workers; results in seed order.
    fn sweep<T: Send>(seeds: &[u64], threads: usize, run: &(dyn Fn(u64) -> T + Sync)) -> Vec<T> {
        let bar = progress_bar(seeds.len() as u64);
        let (done_tx, done_rx) = mpsc::channel();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let next = &next;
                scope.spawn(move || loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else {
                        return;
                    };
                    if done_tx.send((index, run(seed))).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let mut results: Vec<Option<T>> = (0..seeds.len()).map(|_| None).collect();
            for (index, result) in done_rx {
                bar.inc(1);
                results[index] = Some(result);
            }
            bar.finish_and_clear();
            results.into_iter().flatten().collect()
        })
    }
}
