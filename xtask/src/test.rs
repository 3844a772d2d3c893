//! `cargo xtask test`: the one command that runs every test the project has on a
//! fresh machine. It installs what the tests need when it is missing, then runs
//! `cargo test --workspace`, the fuzz targets and the JavaScript SDK's tests, and
//! ends with one summary line over all of them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::install::{install_debian_packages, CrateTool, DebianPackage};
use crate::{cargo, target_dir, workspace_root};

/// What the Rust suite needs beyond a Rust toolchain: the C toolchain of the -sys
/// crates and Prometheus for the observability tests.
pub const RUST_SUITE_PACKAGES: &[DebianPackage] = &[
    DebianPackage {
        name: "gcc",
        provides: "cc",
        why: "librdkafka and other -sys crates build C code",
    },
    DebianPackage {
        name: "g++",
        provides: "c++",
        why: "libFuzzer (the fuzz targets) is C++",
    },
    DebianPackage {
        name: "make",
        provides: "make",
        why: "librdkafka's bundled build",
    },
    DebianPackage {
        name: "perl",
        provides: "perl",
        why: "librdkafka's bundled build",
    },
    DebianPackage {
        name: "pkg-config",
        provides: "pkg-config",
        why: "-sys crates look up system libraries",
    },
    DebianPackage {
        name: "zlib1g-dev",
        provides: "/usr/include/zlib.h",
        why: "librdkafka's compression",
    },
    DebianPackage {
        name: "prometheus",
        provides: "promtool",
        why: "the observability tests run a real Prometheus server and promtool",
    },
];

/// What the JavaScript SDK's tests need: Node.js with npm, and Chromium for the
/// browser tests (driven by playwright-core, which downloads no browser).
pub const JS_SUITE_PACKAGES: &[DebianPackage] = &[
    DebianPackage {
        name: "nodejs",
        provides: "node",
        why: "the JavaScript SDK's tests run on Node.js",
    },
    DebianPackage {
        name: "npm",
        provides: "npm",
        why: "installs the JavaScript SDK's test dependencies (npm ci)",
    },
    DebianPackage {
        name: "chromium",
        provides: "/usr/bin/chromium",
        why: "the demo page and console are tested in a real browser",
    },
];

/// The Kafka tests' broker: tansu, a Kafka-protocol broker published as a crate
/// (Apache Kafka itself cannot be downloaded here).
pub const TANSU: CrateTool = CrateTool {
    name: "tansu",
    version: Some("0.6.0"),
    features: &["libsql"],
    why: "the Kafka tests' broker (a Kafka-protocol broker published as a crate)",
};

/// The npm packages whose `npm test` is part of the suite (each once it exists):
/// the JavaScript SDK, and the Portal console's browser tests.
const JS_PACKAGES: &[&str] = &["sdk/js", "portal/console-tests"];

/// Options of `cargo xtask test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestOptions {
    /// Seconds each fuzz target runs (0: skip the fuzz targets).
    #[arg(long, default_value_t = 20)]
    pub fuzz_seconds: u32,
    /// Do not install anything; fail where a tool is missing.
    #[arg(long)]
    pub no_install: bool,
}

/// Passed, failed and skipped tests, summed over stages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Tally {
    /// A stage that could not run its tests (a missing tool, a failed install).
    const FAILED_STAGE: Tally = Tally {
        passed: 0,
        failed: 1,
        skipped: 0,
    };

    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Counts what one output line of a test runner reports:
/// cargo's `test result: ok. 12 passed; 0 failed; 1 ignored; …`, node's test
/// runner's closing `ℹ pass 12` / `ℹ fail 0` / `ℹ skipped 1` (or `# pass 12` in TAP),
/// and the plain `fuzz: 4 passed, 0 failed` that `fuzz/run` ends with.
pub fn tally_line(line: &str) -> Tally {
    let mut tally = Tally::default();
    if let Some(plain) = plain_summary(line) {
        return plain;
    }
    if let Some(rest) = line.trim().strip_prefix("test result: ") {
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            // The first part is "ok. 12 passed": the count is the word before "passed".
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => tally.passed += count,
                "failed" => tally.failed += count,
                "ignored" => tally.skipped += count,
                _ => {}
            }
        }
        return tally;
    }
    let node = line
        .trim()
        .strip_prefix("ℹ ")
        .or_else(|| line.trim().strip_prefix("# "));
    if let Some(rest) = node {
        let mut words = rest.split_whitespace();
        if let (Some(what), Some(count), None) = (words.next(), words.next(), words.next()) {
            if let Ok(count) = count.parse::<u64>() {
                match what {
                    "pass" => tally.passed += count,
                    "fail" => tally.failed += count,
                    "skipped" | "todo" => tally.skipped += count,
                    _ => {}
                }
            }
        }
    }
    tally
}

/// `[word:] N passed, N failed[, N skipped]`, alone on a line.
fn plain_summary(line: &str) -> Option<Tally> {
    let line = line.trim();
    let counts = match line.split_once(": ") {
        Some((word, rest)) if !word.contains(' ') => rest,
        _ => line,
    };
    let mut tally = Tally::default();
    let mut seen = Vec::new();
    for part in counts.split(", ") {
        let (count, what) = part.split_once(' ')?;
        let count = count.parse::<u64>().ok()?;
        match what {
            "passed" => tally.passed = count,
            "failed" => tally.failed = count,
            "skipped" => tally.skipped = count,
            _ => return None,
        }
        seen.push(what);
    }
    seen.starts_with(&["passed", "failed"]).then_some(tally)
}

/// Runs `command`, echoing its standard output line by line and tallying it. A
/// command that fails without reporting a failed test (it did not build, say)
/// counts as one failure, so the summary never says "0 failed" of a failed run.
fn run_tallied(name: &str, command: &mut Command) -> Tally {
    eprintln!("== {name}: {command:?}");
    let started = Instant::now();
    let mut tally = Tally::default();
    let status = command
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(stdout) = child.stdout.take() {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    println!("{line}");
                    tally.add(tally_line(&line));
                }
            }
            child.wait()
        });
    let ok = match status {
        Ok(status) => status.success(),
        Err(err) => {
            eprintln!("{name}: could not run: {err}");
            false
        }
    };
    if !ok && tally.failed == 0 {
        tally.failed = 1;
    }
    eprintln!(
        "== {name}: {} passed, {} failed, {} skipped in {:.0} s",
        tally.passed,
        tally.failed,
        tally.skipped,
        started.elapsed().as_secs_f64()
    );
    tally
}

/// Runs the whole suite; returns the summed tally.
pub fn run(options: &TestOptions) -> Tally {
    let root = workspace_root();
    let js_packages: Vec<&str> = JS_PACKAGES
        .iter()
        .copied()
        .filter(|dir| root.join(dir).join("package.json").exists())
        .collect();
    let mut packages = RUST_SUITE_PACKAGES.to_vec();
    if !js_packages.is_empty() {
        packages.extend_from_slice(JS_SUITE_PACKAGES);
    }
    let setup = if options.no_install {
        let missing: Vec<&str> = packages
            .iter()
            .filter(|p| !p.is_present())
            .map(|p| p.name)
            .chain(TANSU.location().is_none().then_some(TANSU.name))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing: {}", missing.join(", ")))
        }
    } else {
        // Each install on its own, so one that cannot be done (no root for
        // apt-get, say) does not keep the others, or the tests, from running.
        let debian = install_debian_packages(&packages);
        let tansu = TANSU.install();
        debian.and(tansu)
    };
    let mut total = Tally::default();
    let mut stages = Vec::new();
    if let Err(err) = setup {
        // The tests that need what is missing fail with a message naming it; the
        // others still run.
        eprintln!("cargo xtask test: {err}; running the tests anyway");
        stages.push(("setup", Tally::FAILED_STAGE));
    }
    if !js_packages.is_empty() {
        if let Err(err) = node_is_recent_enough() {
            eprintln!("cargo xtask test: {err}");
            stages.push(("node", Tally::FAILED_STAGE));
        }
    }

    let rust = run_tallied(
        "cargo test",
        cargo()
            .current_dir(&root)
            .args(["test", "--workspace", "--no-fail-fast"]),
    );
    stages.push(("cargo test", rust));
    if options.fuzz_seconds > 0 {
        let fuzz = run_tallied(
            "fuzz",
            Command::new("bash")
                .current_dir(&root)
                .arg("fuzz/run")
                .arg(options.fuzz_seconds.to_string()),
        );
        stages.push(("fuzz", fuzz));
    }
    for dir in js_packages {
        stages.push((dir, run_npm_tests(&root, dir)));
    }
    for (name, tally) in &stages {
        eprintln!(
            "{name}: {} passed, {} failed, {} skipped",
            tally.passed, tally.failed, tally.skipped
        );
        total.add(*tally);
    }
    total
}

/// The JavaScript tests use node's test runner options of Node.js 20
/// (`--test-concurrency`, `--test-timeout`); Debian 12's own `nodejs` is 18.
const NODE_MAJOR_MIN: u32 = 20;

fn node_is_recent_enough() -> Result<(), String> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|err| format!("cannot run node: {err}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if major >= NODE_MAJOR_MIN => Ok(()),
        _ => Err(format!(
            "the JavaScript tests need Node.js {NODE_MAJOR_MIN} or newer, found {version:?}: \
             install a newer nodejs (NodeSource's packages, or Debian's bookworm-backports)"
        )),
    }
}

/// An npm package's tests: `npm ci` when its dependencies are missing or older
/// than the lock file, then `npm test` against the `sluice` binary that `cargo
/// test` built.
fn run_npm_tests(root: &Path, name: &str) -> Tally {
    let dir = &root.join(name);
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules").join(".package-lock.json");
    let modified = |file: &Path| file.metadata().and_then(|m| m.modified()).ok();
    if modified(&installed).is_none() || modified(&installed) < modified(&lock) {
        eprintln!("== installing the npm packages of {name} (npm ci)");
        let ok = Command::new("npm")
            .current_dir(dir)
            .args(["ci", "--no-audit", "--no-fund"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("npm ci failed in {name}");
            return Tally::FAILED_STAGE;
        }
    }
    run_tallied(
        name,
        Command::new("npm")
            .current_dir(dir)
            .arg("test")
            .env("SLUICE_BIN", target_dir().join("debug").join("sluice"))
            .env("CHROMIUM_PATH", "/usr/bin/chromium"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_result_lines_are_counted() {
        let tally = tally_line(
            "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.20s",
        );
        assert_eq!(
            tally,
            Tally {
                passed: 12,
                failed: 0,
                skipped: 3
            }
        );
        let failed = tally_line("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured");
        assert_eq!((failed.passed, failed.failed), (2, 1));
    }

    #[test]
    fn node_summary_lines_are_counted() {
        assert_eq!(tally_line("ℹ pass 7").passed, 7);
        assert_eq!(tally_line("ℹ fail 2").failed, 2);
        assert_eq!(tally_line("# pass 3").passed, 3);
        assert_eq!(tally_line("ℹ skipped 1").skipped, 1);
        let fuzz = tally_line("fuzz: 3 passed, 1 failed");
        assert_eq!((fuzz.passed, fuzz.failed), (3, 1));
        assert_eq!(
            tally_line("summary: 5 passed, 0 failed, 2 skipped").skipped,
            2
        );
        assert_eq!(tally_line("we passed, then failed"), Tally::default());
        // Other lines, and a test named like a summary, count nothing.
        assert_eq!(tally_line("ℹ tests 9"), Tally::default());
        assert_eq!(tally_line("ℹ pass the token along"), Tally::default());
        assert_eq!(tally_line("test foo ... ok"), Tally::default());
    }
}
