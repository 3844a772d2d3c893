//! The project's task runner, in the rust-analyzer style: one small binary run as
//! `cargo xtask <task>` (an alias in `.cargo/config.toml`), so tasks need nothing
//! but cargo.
//!
//! - `cargo xtask sim [ARGS]`: the deterministic simulation (`sim/README.md`).
//!   `--tier core` (the default) builds and runs `sluice-sim` in release mode;
//!   `--tier e2e` builds `sluice-sim-e2e` with `--cfg madsim` in `target/sim` and
//!   runs it. Either gets the test-only `inject-bugs` feature when `--inject-bug`
//!   is given. `cargo xtask sim --help` lists the arguments.
//! - `cargo xtask bench [ARGS]`: the benchmark harness (`BENCHMARKS.md`). It
//!   installs what the run needs from Debian if missing (nats-server for `--peers
//!   nats`, a font for the charts), builds `sluice` and `sluice-bench` in release
//!   mode and runs the harness; results and charts go to `target/bench`.

use std::path::Path;
use std::process::{Command, ExitCode};

use clap::Parser;
use xtask::{bench_commands, bench_packages, sim_core_command, sim_e2e_command, tier};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Sluice's task runner")]
enum Task {
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
}

fn main() -> ExitCode {
    match Task::parse() {
        Task::Sim { args } => sim(&args),
        Task::Bench { args } => bench(&args),
    }
}

fn bench(args: &[String]) -> ExitCode {
    let missing: Vec<&str> = bench_packages(args)
        .into_iter()
        .filter(|(file, _)| !Path::new(file).exists())
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        eprintln!("installing {} (apt-get)", missing.join(", "));
        let installed = Command::new("apt-get")
            .arg("update")
            .arg("-q")
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("apt-get")
                .args(["install", "-y", "-q"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success());
        if !installed {
            eprintln!(
                "could not install {}; install them and retry",
                missing.join(", ")
            );
            return ExitCode::FAILURE;
        }
    }
    let (mut build, mut run) = bench_commands(args);
    eprintln!("building sluice and sluice-bench (release)");
    match build.status() {
        Ok(status) if status.success() => {}
        _ => {
            eprintln!("the release build failed");
            return ExitCode::FAILURE;
        }
    }
    exit_code(run.status())
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
