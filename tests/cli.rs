//! The `sluice` binary as a user runs it: `serve`, then `pub` and `sub` against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// `sluice serve` on a free loopback port; killed on drop.
struct Gateway {
    child: Child,
    url: String,
}

impl Gateway {
    fn start() -> Gateway {
        let mut child = Command::new(SLUICE)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("SLUICE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sluice serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let url = loop {
            let line = lines
                .next()
                .expect("serve prints where it listens")
                .unwrap();
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
            printed.push(line);
        };
        assert!(
            printed.iter().any(|l| l == "exposed topics: demo, chat"),
            "{printed:?}"
        );
        Gateway { child, url }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let gw = Gateway::start();
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
    let gw = Gateway::start();
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
