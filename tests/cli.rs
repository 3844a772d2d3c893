//! The `sluice` binary as a user runs it: `serve`, then `pub` and `sub` against it.

mod common;

use std::process::Command;

use common::process::{GatewayProcess, SLUICE};

fn sluice(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SLUICE)
        .args(args)
        .output()
        .expect("sluice runs");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn pub_prints_the_ack_and_sub_prints_json_lines() {
    let gw = GatewayProcess::start(None);
    assert!(
        gw.banner.iter().any(|l| l == "exposed topics: demo, chat"),
        "{:?}",
        gw.banner
    );
    let (ok, out, err) = sluice(&["pub", &gw.url, "/demo/greeting", "hello"]);
    assert!(ok, "{err}");
    let ack: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (ack["op"].as_str(), ack["subject"].as_str()),
        (Some("ack"), Some("/demo/greeting"))
    );

    let (ok, out, err) = sluice(&["sub", &gw.url, "/demo/greeting", "--count", "1"]);
    assert!(ok, "{err}");
    let message: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(message["type"], "snapshot");
    assert_eq!(message["data"], "hello");
    assert_eq!(message["seq"], ack["seq"]);
    assert_eq!(message["epoch"], ack["epoch"]);

    // The binary encoding gives the same answer.
    let (ok, out, err) = sluice(&["sub", &gw.url, "/demo/greeting", "--count", "1", "--binary"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap(),
        message
    );
}

#[test]
fn clear_errors_for_bad_use() {
    let gw = GatewayProcess::start(None);
    assert!(
        gw.banner.iter().any(|l| l == "exposed topics: demo, chat"),
        "{:?}",
        gw.banner
    );
    let (ok, _, err) = sluice(&["pub", &gw.url, "/secret/x", "data"]);
    assert!(!ok);
    assert!(err.contains("not_exposed"), "{err}");
    let (ok, _, err) = sluice(&["pub", &gw.url, "no-slash", "data"]);
    assert!(!ok);
    assert!(err.contains("invalid_subject"), "{err}");
    let (ok, _, err) = sluice(&["sub", "ws://127.0.0.1:1/v1/ws", "/demo/x"]);
    assert!(!ok);
    assert!(err.contains("connect"), "{err}");
    let (ok, _, err) = sluice(&["serve", "--config", "/nonexistent/sluice.toml"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
}
