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
    use std::process::ExitCode;
    use std::sync::mpsc;
    use std::time::Instant;

    use clap::Parser;
    use sluice_sim::cli::{parse_seeds, progress_bar, SeedRange};
    use sluice_sim_e2e::run::{run_seed, run_seed_twice, E2eReport};

    /// Runs tier 2 of the Sluice simulation.
    #[derive(Debug, Parser)]
    #[command(name = "sluice-sim-e2e")]
    struct Args {
        /// Run one seed and print its plan.
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
        let started = Instant::now();
        let run = |seed| {
            if args.check_determinism {
                run_seed_twice(seed)
            } else {
                run_seed(seed)
            }
        };
        let (reports, single) = match args.seed {
            Some(seed) => (vec![run(seed)], true),
            None => {
                let seeds = args
                    .seeds
                    .unwrap_or(SeedRange { first: 1, last: 50 })
                    .seeds();
                let threads = args
                    .threads
                    .unwrap_or_else(sluice_sim::default_threads)
                    .max(1);
                (sweep(&seeds, threads, &run), false)
            }
        };
        let mut passed = 0;
        let mut failed = 0;
        for report in &reports {
            match &report.outcome {
                Ok(trace) => {
                    passed += 1;
                    if single {
                        println!("{}", report.plan);
                        println!("seed {} passed: {trace}", report.seed());
                    }
                }
                Err(violation) => {
                    failed += 1;
                    println!("FAILED seed {}", report.seed());
                    if failed <= FULL_REPORTS_MAX {
                        println!("{}", report.plan);
                    }
                    println!("{violation}");
                    println!("replay: {}", report.replay_command());
                }
            }
        }
        let runs = if args.check_determinism { 2 } else { 1 } * reports.len();
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

    /// Runs the seeds on `threads` workers, in seed order in the result.
    fn sweep(
        seeds: &[u64],
        threads: usize,
        run: &(dyn Fn(u64) -> E2eReport + Sync),
    ) -> Vec<E2eReport> {
        let bar = progress_bar(seeds.len() as u64);
        let (done_tx, done_rx) = mpsc::channel();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let next = &next;
                scope.spawn(move || loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else { return };
                    if done_tx.send((index, run(seed))).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let mut reports: Vec<Option<E2eReport>> = vec![None; seeds.len()];
            for (index, report) in done_rx {
                bar.inc(1);
                reports[index] = Some(report);
            }
            bar.finish_and_clear();
            reports.into_iter().flatten().collect()
        })
    }
}
