//! The project's task runner, in the rust-analyzer style: one small binary run as
//! `cargo xtask <task>` (an alias in `.cargo/config.toml`), so tasks need nothing
//! but cargo.
//!
//! - `cargo xtask sim [ARGS]`: the deterministic simulation (`sim/README.md`). It
//!   builds and runs `sluice-sim` in release mode, adding the test-only
//!   `inject-bugs` feature when `--inject-bug` is given; `cargo xtask sim --help`
//!   lists the arguments.

use std::env;
use std::ffi::OsString;
use std::process::{Command, ExitCode};

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Sluice's task runner")]
enum Task {
    /// Run the deterministic simulation: `--seed N`, `--seeds A..B`,
    /// `--tier core|e2e`, `--check-determinism`, `--inject-bug NAME`.
    #[command(disable_help_flag = true)]
    Sim {
        /// Passed on to `sluice-sim` (see `cargo xtask sim --help`).
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
    if tier(args) == Some("e2e") {
        eprintln!("tier e2e is not built yet");
        return ExitCode::from(2);
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "sluice-sim",
        "--bin",
        "sluice-sim",
    ]);
    if args
        .iter()
        .any(|a| a == "--inject-bug" || a.starts_with("--inject-bug="))
    {
        command.args(["--features", "inject-bugs"]);
    }
    command.arg("--").args(args);
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

/// The value of `--tier`, as `--tier X` or `--tier=X`.
fn tier(args: &[String]) -> Option<&str> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--tier") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        })
}

#[cfg(test)]
mod tests {
    use super::tier;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_tier_is_read_in_both_spellings() {
        assert_eq!(tier(&args("--seeds 1..5 --tier e2e")), Some("e2e"));
        assert_eq!(tier(&args("--tier=core --seed 3")), Some("core"));
        assert_eq!(tier(&args("--seed 3")), None);
        assert_eq!(tier(&args("--tier")), None);
    }
}
