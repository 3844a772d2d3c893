//! CI's smoke run of the benchmark harness (`cargo xtask bench --profile smoke`
//! does the same against a release build): Sluice alone, tiny loads, under 30 s.
//! It keeps the harness working; it measures nothing that a test could assert on
//! speed, so it asserts only that every scenario ran, the storm's resumes were
//! checked without a gap, and the outputs were written; and that W5 runs on Kafka
//! (librdkafka's mock cluster) with the gateway's latency share read.

use std::path::PathBuf;
use std::process::Command;

/// The debug `sluice` binary, built by cargo for the workspace's tests (built here
/// if this package is tested alone).
fn sluice_bin() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_sluice-bench"));
    let dir = bench.parent().expect("the binary's directory");
    let sluice = dir.join("sluice");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "sluice", "--bin", "sluice"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building sluice failed");
    sluice
}

#[test]
fn the_smoke_profile_runs_every_scenario_and_writes_its_results() {
    let out = tempfile_dir();
    let (stdout, results) = run_bench(&["--profile", "smoke", "--seconds", "1"], &out);
    for scenario in ["Fanout", "Broadcast", "Storm", "Idle"] {
        assert!(
            stdout.contains(&format!("| {scenario} | sluice |")),
            "{stdout}"
        );
    }
    let runs = results.as_array().expect("an array of runs");
    assert_eq!(runs.len(), 4);
    let fanout = &runs[0];
    assert_eq!(fanout["scenario"], "fanout");
    assert!(
        fanout["deliveries_per_s"].as_f64().unwrap() > 0.0,
        "{fanout}"
    );
    // The storm resumed every client from history and found no gap or duplicate.
    let storm = &runs[2];
    assert_eq!(storm["scenario"], "storm");
    assert_eq!(storm["resumed"], storm["connections"], "{storm}");
    assert!(storm["resumed_messages"].as_u64().unwrap() > 0, "{storm}");
    assert_eq!(storm["violations"]["gaps"], 0, "{storm}");
    assert_eq!(storm["violations"]["duplicates"], 0, "{storm}");
    assert!(stdout.contains("Resumes checked"), "{stdout}");
    assert!(out.join("results.md").is_file());
}

#[test]
fn w5_runs_on_the_mock_cluster_and_reads_the_gateways_share() {
    let out = tempfile_dir().join("w5");
    let (stdout, results) = run_bench(
        &[
            "--scenarios",
            "kafka",
            "--connections",
            "50",
            "--subjects",
            "5",
            "--rate",
            "200",
            "--seconds",
            "1",
        ],
        &out,
    );
    assert!(stdout.contains("W5 on Kafka"), "{stdout}");
    let run = &results[0];
    assert_eq!(run["scenario"], "kafka", "{results}");
    assert_eq!(run["system"], "sluice-kafka", "{run}");
    assert!(run["deliveries_per_s"].as_f64().unwrap() > 0.0, "{run}");
    // The gateway's share came from its /metrics: records were stamped and timed.
    assert!(run["gateway_share_p50_ms"].is_number(), "{run}");
}

#[test]
fn w5_in_interest_mode_reads_only_the_watched_partition() {
    let out = tempfile_dir().join("w5-interest");
    let (_, results) = run_bench(
        &[
            "--scenarios",
            "kafka",
            "--connections",
            "20",
            "--subjects",
            "64",
            "--rate",
            "320",
            "--seconds",
            "1",
            "--kafka-partitions",
            "16",
            "--kafka-watched-partitions",
            "1",
            "--kafka-consumption",
            "interest",
        ],
        &out,
    );
    let run = &results[0];
    assert!(run["deliveries_per_s"].as_f64().unwrap() > 0.0, "{run}");
    // Records of the watched partition only: about 1/16 of the 320 records/s of
    // ~520 bytes each (all 16 would be ~166 kB/s).
    let consumed = run["kafka_consumed_bytes_per_s"].as_f64().unwrap();
    assert!(consumed > 0.0 && consumed < 60_000.0, "{run}");
}

/// Runs the harness with `args` against the debug gateway, results into `out`;
/// its printed table and `results.json`. A failed run fails the test.
fn run_bench(args: &[&str], out: &std::path::Path) -> (String, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
        .args(args)
        .arg("--sluice-bin")
        .arg(sluice_bin())
        .arg("--out")
        .arg(out)
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let results =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    (stdout, results)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
