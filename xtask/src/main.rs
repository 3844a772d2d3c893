//! The project's task runner, in the rust-analyzer style: one small binary run as
//! `cargo xtask <task>` (an alias in `.cargo/config.toml`), so tasks need nothing
//! but cargo.
//!
//! - `cargo xtask sim [ARGS]`: the deterministic simulation (`sim/README.md`).
//!   `--tier core` (the default) builds and runs `sluice-sim` in release mode;
//!   `--tier e2e` builds `sluice-sim-e2e` with `--cfg madsim` in `target/sim` and
//!   runs it. Either gets the test-only `inject-bugs` feature when `--inject-bug`
//!   is given. `cargo xtask sim --help` lists the arguments.

use std::process::ExitCode;

use clap::Parser;
use xtask::{sim_core_command, sim_e2e_command, tier};

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
}

fn main() -> ExitCode {
    match Task::parse() {
        Task::Sim { args } => sim(&args),
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
    match command.status() {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(err) => {
            eprintln!("could not run cargo: {err}");
            ExitCode::FAILURE
        }
    }
}
