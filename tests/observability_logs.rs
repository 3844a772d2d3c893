//! Logs go to stderr through `tracing`: readable lines by default, one JSON object
//! per event when `telemetry.log_format = "json"`, levels from `RUST_LOG`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::process::SLUICE;
use serde_json::Value;

/// `sluice serve` on free ports with `env` (and no `RUST_LOG` unless given), its
/// stderr piped.
fn serve(env: &[(&str, &str)], stdout: Stdio) -> Child {
    Command::new(SLUICE)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .env_remove("SLUICE_CONFIG")
        .env_remove("RUST_LOG")
        // Several run at once: none keeps a log in the working directory.
        .env("SLUICE_BROKER__EMBEDDED__STORAGE", "memory")
        .envs(env.iter().copied())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice serve starts")
}

/// Runs `sluice serve` with `env` and returns its first log line that mentions
/// `accepting clients`, then stops it.
fn first_line_about_listening(env: &[(&str, &str)]) -> String {
    let mut child = serve(env, Stdio::null());
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines
        .map_while(Result::ok)
        .find(|line| line.contains("accepting clients"));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("sluice serve logs that it accepts clients")
}

#[test]
fn logs_are_json_on_request() {
    let line = first_line_about_listening(&[("SLUICE_TELEMETRY__LOG_FORMAT", "json")]);
    let event: Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(event["level"], "INFO", "{event}");
    assert_eq!(event["fields"]["message"], "accepting clients", "{event}");
    assert!(event["fields"]["address"].as_str().is_some(), "{event}");
    assert!(event["timestamp"].as_str().is_some(), "{event}");
}

#[test]
fn logs_are_human_by_default() {
    let line = first_line_about_listening(&[]);
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    assert!(line.contains("INFO") && line.contains("address="), "{line}");
}

#[test]
fn rust_log_sets_the_level() {
    // At `warn`, the info line never comes; the process is stopped once it listens.
    let mut child = serve(&[("RUST_LOG", "warn")], Stdio::piped());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let listening = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("listening on "));
    assert!(listening);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("accepting clients"), "{stderr}");
}
