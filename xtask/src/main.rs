//! The project's task runner, in the rust-analyzer style: one small binary run as
//! `cargo xtask <task>` (an alias in `.cargo/config.toml`), so tasks need nothing
//! but cargo.
//!
//! - `cargo xtask test [--fuzz-seconds N]`: every test, on a fresh machine too
//!   (`xtask/src/test.rs`): installs what is missing (tansu with `cargo install`,
//!   Prometheus, and for the JavaScript SDK Node.js, npm packages and Chromium),
//!   runs `cargo test --workspace`, the fuzz targets and the SDK's `npm test`, and
//!   prints one summary line.
//! - `cargo xtask sim [ARGS]`: the deterministic simulation (`sim/README.md`).
//!   `--tier core` (the default) builds and runs `sluice-sim` in release mode;
//!   `--tier e2e` builds `sluice-sim-e2e` with `--cfg madsim` in `target/sim` and
//!   runs it. Both are built with the core's test-only `testing` feature, so
//!   `--inject-bug NAME` needs no other build. `cargo xtask sim --help` lists the arguments.
//! - `cargo xtask bench [ARGS]`: the benchmark harness (`BENCHMARKS.md`). It
//!   installs what the run needs if missing (nats-server for `--peers nats` and
//!   protoc from Debian, sockudo with `cargo install` for `--peers sockudo`, a
//!   font for the charts), builds `sluice` and `sluice-bench` in release
//!   mode and runs the harness; results and charts go to `target/bench`.
//! - `cargo xtask soak [ARGS]`: the soak (`BENCHMARKS.md`, "Soak"): the same
//!   release build, then `sluice-soak` churns clients through one gateway per
//!   broker for `--minutes`; chart and figures go to `target/soak`.

use std::process::{Command, ExitCode};

use clap::Parser;
use xtask::install::install_debian_packages;
use xtask::test::TestOptions;
use xtask::{
    bench_commands, bench_crates, bench_packages, sim_core_command, sim_e2e_command, soak_commands,
    tier,
};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Sluice's task runner")]
enum Task {
    /// Run every test the project has, installing what the tests need when it is
    /// missing (tansu, Prometheus, Chromium, npm packages); ends with one line
    /// `summary: N passed, M failed`.
    Test(TestOptions),
    /// Run the deterministic simulation: `--seed N`, `--seeds A..B`,
    /// `--tier core|e2e`, `--check-determinism`, `--inject-bug NAME`.
    #[command(disable_help_flag = true)]
    Sim {
        /// Passed on to `sluice-sim` or `sluice-sim-e2e` (see `cargo xtask sim --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks: `--quick`, `--peers nats`, `--scenarios fanout,idle`,
    /// `--connections 1000,5000` (see `cargo xtask bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on to `sluice-bench`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the soak: `--minutes 60`, `--brokers embedded,kafka`, `--apps 1000`
    /// (see `cargo xtask soak --help`); chart and figures in `target/soak`.
    #[command(disable_help_flag = true)]
    Soak {
        /// Passed on to `sluice-soak`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match Task::parse() {
        Task::Test(options) => test(&options),
        Task::Sim { args } => sim(&args),
        Task::Bench { args } => bench(&args),
        Task::Soak { args } => soak(&args),
    }
}

fn bench(args: &[String]) -> ExitCode {
    let installed = install_debian_packages(&bench_packages(args)).and_then(|()| {
        bench_crates(args)
            .iter()
            .try_for_each(|krate| krate.install())
    });
    if let Err(err) = installed {
        eprintln!("cargo xtask bench: {err}");
        return ExitCode::FAILURE;
    }
    build_then_run(bench_commands(args))
}

fn soak(args: &[String]) -> ExitCode {
    // The chart's font; the soak itself needs nothing installed.
    if let Err(err) = install_debian_packages(&bench_packages(&[])) {
        eprintln!("cargo xtask soak: {err}");
    }
    build_then_run(soak_commands(args))
}

/// The release build of `sluice` and the harness, then the harness itself.
fn build_then_run((mut build, mut run): (Command, Command)) -> ExitCode {
    eprintln!("building sluice, sluice-bench and sluice-soak (release)");
    match build.status() {
        Ok(status) if status.success() => {}
        _ => {
            eprintln!("the release build failed");
            return ExitCode::FAILURE;
        }
    }
    exit_code(run.status())
}

fn test(options: &TestOptions) -> ExitCode {
    let tally = xtask::test::run(options);
    println!(
        "summary: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.skipped
    );
    if tally.failed == 0 && tally.passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(err) => {
            eprintln!("could not run: {err}");
            ExitCode::FAILURE
        }
    }
}

fn sim(args: &[String]) -> ExitCode {
    let mut command = match tier(args) {
        None | Some("core") => sim_core_command(args),
        Some("e2e") => sim_e2e_command(args),
        Some(other) => {
            eprintln!("--tier {other}: expected core or e2e");
            return ExitCode::from(2);
        }
    };
    exit_code(command.status())
}
