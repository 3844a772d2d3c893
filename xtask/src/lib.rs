//! What `cargo xtask` runs, as a library so the tests can run exactly the same
//! commands.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (xtask lives one level down).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

fn wants_injected_bug(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--inject-bug" || a.starts_with("--inject-bug="))
}

/// Tier 1: `sluice-sim` in release mode (with `inject-bugs` when asked for).
pub fn sim_core_command(args: &[String]) -> Command {
    let mut command = cargo();
    command.current_dir(workspace_root()).args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "sluice-sim",
        "--bin",
        "sluice-sim",
    ]);
    if wants_injected_bug(args) {
        command.args(["--features", "inject-bugs"]);
    }
    command.arg("--").args(without_tier(args));
    command
}

/// Tier 2: `sluice-sim-e2e` built with `--cfg madsim` in a target dir of its own
/// (`target/sim`, or `$CARGO_TARGET_DIR/sim`), so the simulator's build never
/// invalidates the normal one. Debug profile: for the seed counts we run, the
/// build, not the run, is what takes time.
pub fn sim_e2e_command(args: &[String]) -> Command {
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("sim");
    let mut rustflags = env::var("RUSTFLAGS").unwrap_or_default();
    if !rustflags.split_whitespace().any(|f| f == "madsim") {
        rustflags.push_str(" --cfg madsim");
    }
    let mut command = cargo();
    command
        .current_dir(workspace_root())
        .env("RUSTFLAGS", rustflags.trim())
        .args([
            "run",
            "--quiet",
            "--package",
            "sluice-sim-e2e",
            "--target-dir",
        ])
        .arg(target_dir);
    if wants_injected_bug(args) {
        command.args(["--features", "inject-bugs"]);
    }
    command.arg("--").args(without_tier(args));
    command
}

/// The value of `--tier`, as `--tier X` or `--tier=X`.
pub fn tier(args: &[String]) -> Option<&str> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--tier") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        })
}

/// `args` without `--tier X` / `--tier=X`: the tiers' binaries do not take it.
fn without_tier(args: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if arg == "--tier" {
            skip_next = true;
        } else if !arg.starts_with("--tier=") {
            kept.push(arg.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_tier_is_read_in_both_spellings_and_not_passed_on() {
        assert_eq!(tier(&args("--seeds 1..5 --tier e2e")), Some("e2e"));
        assert_eq!(tier(&args("--tier=core --seed 3")), Some("core"));
        assert_eq!(tier(&args("--seed 3")), None);
        assert_eq!(tier(&args("--tier")), None);
        assert_eq!(without_tier(&args("--tier e2e --seed 3")), args("--seed 3"));
        assert_eq!(
            without_tier(&args("--seed 3 --tier=core")),
            args("--seed 3")
        );
    }
}
