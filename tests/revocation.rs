//! Revocation through the file, reloaded on SIGHUP: `sluice serve` as a process, the
//! file polled only hourly, so nothing but the signal can make it notice.

mod common;

use common::process::{GatewayProcess, SLUICE};
use common::RawClient;
use serde_json::json;

fn token(config: &std::path::Path, user: &str, jti: &str) -> String {
    let out = std::process::Command::new(SLUICE)
        .args(["token", "--config"])
        .arg(config)
        .args(["--user", user, "--subscribe", "/demo/>", "--jti", jti])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn sighup_reloads_the_revocation_list_and_closes_revoked_connections() {
    let dir = std::env::temp_dir().join(format!("sluice-revocation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let revoked = dir.join("revoked.txt");
    std::fs::write(&revoked, "").unwrap();
    let config = format!(
        "[auth]\nmode = \"jwt\"\nrevoked_tokens_file = {:?}\nrevoked_tokens_poll_ms = 3600000\n\n\
         [[auth.keys]]\nkid = \"k1\"\nalgorithm = \"HS256\"\nsecret = \"revocation-test-secret-revocation!\"\n",
        revoked.to_str().unwrap()
    );
    let config_file = dir.join("sluice.toml");
    std::fs::write(&config_file, &config).unwrap();
    let gw = GatewayProcess::start(Some(&config));

    let connect = |user: &'static str, jti: &'static str| {
        let headers = vec![(
            "authorization",
            format!("Bearer {}", token(&config_file, user, jti)),
        )];
        let url = gw.url.clone();
        async move {
            RawClient::connect_with(&url, "sluice.v1.json", &headers, None)
                .await
                .unwrap()
        }
    };
    let mut ann = connect("ann", "ann-1").await;
    let mut bob = connect("bob", "bob-1").await;
    assert_eq!(
        ann.request(r#"{"op":"ping","id":1}"#).await,
        json!({"op":"ok","id":1})
    );

    std::fs::write(&revoked, "# incident 42\nann-1\n").unwrap();
    gw.signal("HUP");
    let close = ann.recv_close().await.expect("a close frame");
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (4003, "token revoked")
    );
    // Others are untouched, and the revoked token is refused from now on.
    assert_eq!(
        bob.request(r#"{"op":"ping","id":2}"#).await,
        json!({"op":"ok","id":2})
    );
    let mut again = connect("ann", "ann-1").await;
    let close = again.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4003);
    std::fs::remove_dir_all(dir).unwrap();
}
