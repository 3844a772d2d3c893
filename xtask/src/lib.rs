//! What `cargo xtask` runs, as a library so the tests can run exactly the same
//! commands.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod install;
pub mod test;

use install::{CrateTool, DebianPackage};

/// The workspace root (xtask lives one level down).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Tier 1: `sluice-sim` in release mode (always with the core's `testing` feature:
/// `--inject-bug` needs no other build).
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
    command.arg("--").args(without_tier(args));
    command
}

/// Tier 2: `sluice-sim-e2e` built with `--cfg madsim` in a target dir of its own
/// (`target/sim`, or `$CARGO_TARGET_DIR/sim`), so the simulator's build never
/// invalidates the normal one. Debug profile: for the seed counts we run, the
/// build, not the run, is what takes time.
pub fn sim_e2e_command(args: &[String]) -> Command {
    let target_dir = target_dir().join("sim");
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
    command.arg("--").args(without_tier(args));
    command
}

/// The target directory cargo builds into.
pub(crate) fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// The peers `args` names with `--peers` (`--peers nats,sockudo` or `--peers=...`).
fn bench_peers(args: &[String]) -> Vec<&str> {
    flag_value(args, "--peers")
        .map(|peers| peers.split(',').collect())
        .unwrap_or_default()
}

/// Debian packages the bench needs for `args`: nats-server for `--peers nats`,
/// protoc to build sockudo, and a font for the charts' labels.
pub fn bench_packages(args: &[String]) -> Vec<DebianPackage> {
    let mut packages = vec![DebianPackage {
        name: "fonts-dejavu-core",
        provides: "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        why: "the charts' labels",
    }];
    let peers = bench_peers(args);
    if peers.contains(&"nats") {
        packages.push(DebianPackage {
            name: "nats-server",
            provides: "/usr/sbin/nats-server",
            why: "the nats-server peer",
        });
    }
    if peers.contains(&"sockudo") {
        packages.push(DebianPackage {
            name: "protobuf-compiler",
            provides: "/usr/bin/protoc",
            why: "building sockudo",
        });
    }
    packages
}

/// Crates the bench installs with `cargo install` for `args`: sockudo for
/// `--peers sockudo` (about 12 minutes to build cold on 2 cores).
pub fn bench_crates(args: &[String]) -> Vec<CrateTool> {
    if bench_peers(args).contains(&"sockudo") {
        vec![CrateTool {
            name: "sockudo",
            version: None,
            features: &[],
            why: "the sockudo peer",
        }]
    } else {
        Vec::new()
    }
}

/// The bench: builds `sluice` and `sluice-bench` in release mode, then runs the
/// harness with results in `target/bench`.
pub fn bench_commands(args: &[String]) -> (Command, Command) {
    release_tool_commands("sluice-bench", "bench", args)
}

/// The soak: the same release build, then `sluice-soak` with results in
/// `target/soak`.
pub fn soak_commands(args: &[String]) -> (Command, Command) {
    release_tool_commands("sluice-soak", "soak", args)
}

/// Builds `sluice` and the `sluice-bench` package's binaries in release mode, then
/// runs `tool` on that `sluice` with its results in `target/<out>`.
fn release_tool_commands(tool: &str, out: &str, args: &[String]) -> (Command, Command) {
    let mut build = cargo();
    build.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "sluice",
        "--package",
        "sluice-bench",
    ]);
    let release = target_dir().join("release");
    let mut run = Command::new(release.join(tool));
    run.current_dir(workspace_root())
        .arg("--sluice-bin")
        .arg(release.join("sluice"))
        .arg("--out")
        .arg(target_dir().join(out))
        .args(args);
    (build, run)
}

/// The value of `--tier`, as `--tier X` or `--tier=X`.
pub fn tier(args: &[String]) -> Option<&str> {
    flag_value(args, "--tier")
}

/// The value of `flag` in `args`, as `FLAG X` or `FLAG=X`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix(flag) {
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

    #[test]
    fn the_bench_installs_nats_only_when_it_is_a_peer() {
        let packages = |text| {
            bench_packages(&args(text))
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(packages("--quick"), vec!["fonts-dejavu-core"]);
        let with_nats = vec!["fonts-dejavu-core", "nats-server"];
        assert_eq!(packages("--quick --peers nats"), with_nats);
        assert_eq!(packages("--peers=sluice,nats"), with_nats);
        assert_eq!(
            packages("--peers nats,sockudo"),
            vec!["fonts-dejavu-core", "nats-server", "protobuf-compiler"]
        );
        let crates: Vec<_> = bench_crates(&args("--peers nats,sockudo"))
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(crates, vec!["sockudo"]);
        assert!(bench_crates(&args("--quick")).is_empty());
    }
}
