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
        gw.banner
            .iter()
            .any(|l| l == "exposed topics: demo, chat, _inbox"),
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
        gw.banner
            .iter()
            .any(|l| l == "exposed topics: demo, chat, _inbox"),
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

    // Trace export over gRPC is not built in: said at start, not lost span by span.
    let out = Command::new(SLUICE)
        .current_dir(std::env::temp_dir())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .expect("sluice runs");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(err.contains("\"grpc\" is not supported"), "{err}");
}

#[test]
fn pub_and_sub_over_quic_and_wss_with_a_pinned_dev_certificate() {
    let gw = GatewayProcess::start(Some(
        "[tls]\nself_signed = true\n[quic]\nlisten = \"127.0.0.1:0\"\n",
    ));
    assert!(gw.url.starts_with("wss://"), "{}", gw.url);
    let pin = gw
        .banner_value("TLS: self-signed dev certificate, SHA-256 ")
        .unwrap_or_else(|| panic!("no fingerprint in {:?}", gw.banner));
    let quic = gw.banner_value("QUIC on ").expect("QUIC URL printed");
    assert!(quic.starts_with("quic://127.0.0.1:"), "{quic}");

    let (ok, out, err) = sluice(&["pub", quic, "/demo/quic", "over quic", "--pin", pin]);
    assert!(ok, "{err}");
    let ack: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let (ok, out, err) = sluice(&["sub", &gw.url, "/demo/quic", "--count", "1", "--pin", pin]);
    assert!(ok, "{err}");
    let message: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (&message["data"], &message["seq"]),
        (&"over quic".into(), &ack["seq"])
    );

    let wrong = "00".repeat(32);
    for url in [quic, gw.url.as_str()] {
        let (ok, _, err) = sluice(&["sub", url, "/demo/quic", "--pin", &wrong]);
        assert!(!ok);
        assert!(err.contains("certificate pin mismatch"), "{url}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate_from_its_files() {
    let dir = common::certs::temp_dir("cli-sighup");
    let (cert_path, key_path) = (dir.join("gw.crt"), dir.join("gw.key"));
    let old = common::certs::write_certificate(&cert_path, &key_path).to_string();
    let gw = GatewayProcess::start(Some(&format!(
        "[tls]\ncert_path = {:?}\nkey_path = {:?}\n",
        cert_path, key_path
    )));
    let (ok, _, err) = sluice(&["pub", &gw.url, "/demo/h", "old", "--pin", &old]);
    assert!(ok, "{err}");

    let new = common::certs::write_certificate(&cert_path, &key_path).to_string();
    let status = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The reload happens on the gateway's own time; wait for it, not for a clock.
    let mut attempts = 0;
    loop {
        let (ok, _, err) = sluice(&["pub", &gw.url, "/demo/h", "new", "--pin", &new]);
        if ok {
            break;
        }
        assert!(err.contains("pin mismatch"), "{err}");
        attempts += 1;
        assert!(attempts < 200, "the certificate was never reloaded");
    }
    let (ok, _, err) = sluice(&["pub", &gw.url, "/demo/h", "old", "--pin", &old]);
    assert!(!ok && err.contains("pin mismatch"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `sluice token` issues what a `jwt` gateway accepts; `sub`/`pub` send it from
/// `SLUICE_TOKEN`; without it the handshake is refused.
#[test]
fn token_subcommand_issues_tokens_the_gateway_accepts() {
    let config = "[auth]\nmode = \"jwt\"\n\n[[auth.keys]]\nkid = \"k1\"\nalgorithm = \"HS256\"\nsecret = \"cli-test-secret-cli-test-secret!\"\n";
    let gw = GatewayProcess::start(Some(config));
    let file = std::env::temp_dir().join(format!("sluice-cli-token-{}.toml", std::process::id()));
    std::fs::write(&file, config).unwrap();
    let file = file.to_str().unwrap();
    let (ok, token, err) = sluice(&[
        "token", "--config", file, "--user", "ann", "--all", "/demo/>", "--ttl-s", "600",
    ]);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let with_token = |args: &[&str]| {
        let out = Command::new(SLUICE)
            .args(args)
            .env("SLUICE_TOKEN", &token)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, out, err) = with_token(&["pub", &gw.url, "/demo/t", "hi"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""op":"ack""#), "{out}");
    let (ok, _, err) = with_token(&["pub", &gw.url, "/chat/t", "hi"]);
    assert!(!ok);
    assert!(err.contains("forbidden"), "{err}");
    let (ok, _, err) = sluice(&["pub", &gw.url, "/demo/t", "no token"]);
    assert!(!ok, "a publish without a token must fail");
    assert!(!err.is_empty());
    let (ok, _, err) = sluice(&[
        "token", "--config", file, "--user", "ann", "--all", "/demo//x",
    ]);
    assert!(!ok);
    assert!(err.contains("/demo//x"), "{err}");
    std::fs::remove_file(file).unwrap();
}
