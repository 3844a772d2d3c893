//! The Portal's security: with `[admin] token` set, a request without it or with a
//! wrong one gets 401 and changes nothing; a token issued by `POST /api/v1/tokens`
//! lets a client use exactly what it grants; `serve` refuses an admin listener
//! open to the network without a token.

mod common;

use common::admin_api::Admin;
use common::RawClient;
use serde_json::json;
use sluice_auth::{AuthMode, KeyAlgorithm, KeyConfig};

const ADMIN_TOKEN: &str = "admin-token-0123456789";

fn topic_names(topics: &serde_json::Value) -> Vec<String> {
    topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_is_required_and_issued_tokens_grant_exactly_their_patterns() {
    let dir = std::env::temp_dir().join(format!("sluice-portal-auth-{}", std::process::id()));
    let server = common::start(|c| {
        c.portal.data_dir = Some(dir.clone());
        c.admin.token = Some(ADMIN_TOKEN.into());
        c.auth.mode = AuthMode::Jwt;
        c.auth.keys = vec![KeyConfig {
            kid: "k1".into(),
            algorithm: KeyAlgorithm::HS256,
            secret: Some("a secret of at least thirty-two bytes!".into()),
            public_key_pem_file: None,
        }];
    })
    .await;
    let anonymous = Admin::new(server.admin_addr());
    let wrong = Admin::new(server.admin_addr()).with_token("admin-token-0123456780");
    let admin = Admin::new(server.admin_addr()).with_token(ADMIN_TOKEN);

    let (status, answer) = anonymous.get("/api/v1/topics").await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("unauthorized")),
        "{answer}"
    );
    let (status, answer) = anonymous.put("/api/v1/topics/news", None).await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("unauthorized")),
        "{answer}"
    );
    let (status, answer) = wrong.put("/api/v1/topics/news", None).await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("unauthorized")),
        "{answer}"
    );
    let (status, answer) = wrong.delete("/api/v1/topics/demo").await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("unauthorized")),
        "{answer}"
    );
    let (status, answer) = wrong
        .post(
            "/api/v1/tokens",
            r#"{"user":"eve","all":["/>"],"ttl_s":60}"#,
        )
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("unauthorized")),
        "{answer}"
    );

    // Nothing changed.
    let (status, topics) = admin.get("/api/v1/topics").await;
    assert_eq!(status, 200);
    assert_eq!(topic_names(&topics), ["_inbox", "chat", "demo"]);
    assert!(!dir.join("portal-state.json").exists());

    let (status, issued) = admin
        .post(
            "/api/v1/tokens",
            r#"{"user":"ann","subscribe":["/demo/ann/>"],"publish":["/chat/ann"],"ttl_s":600}"#,
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["kid"], "k1");
    let token = issued["token"].as_str().unwrap();
    let url = format!("{}?token={token}", server.url());
    let mut client = RawClient::connect(&url, "sluice.v1.json").await;
    let ok = client
        .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/ann/x"]}"#)
        .await;
    assert_eq!(ok, json!({"op":"ok","id":1}));
    let refused = client
        .request(r#"{"op":"subscribe","id":2,"subjects":["/demo/bob/x"]}"#)
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert_eq!(client.recv().await, json!({"op":"ok","id":2}));
    let refused = client
        .request(r#"{"op":"publish","id":3,"subject":"/demo/ann/x","data":"no"}"#)
        .await;
    assert_eq!(refused["code"], "forbidden", "subscribe only: {refused}");
    let ack = client
        .request(r#"{"op":"publish","id":4,"subject":"/chat/ann","data":"yes"}"#)
        .await;
    assert_eq!(ack["op"], "ack", "{ack}");

    // Without the admin token's header the console's page still loads (it holds
    // no data), its API calls do not.
    let (status, page) = common::admin_api::raw_request(
        server.admin_addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Sluice Portal"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_admin_listener_open_to_the_network_needs_a_token() {
    let mut config = sluice::config::Config::default();
    config.admin.listen = "0.0.0.0:9600".parse().unwrap();
    let err = config.validate().unwrap_err();
    assert!(err.contains("admin.token"), "{err}");
    config.admin.token = Some("short".into());
    let err = config.validate().unwrap_err();
    assert!(err.contains("at least 16"), "{err}");
    config.admin.token = Some(ADMIN_TOKEN.into());
    assert_eq!(config.validate(), Ok(()));
    config.admin.listen = "127.0.0.1:9600".parse().unwrap();
    config.admin.token = None;
    assert_eq!(
        config.validate(),
        Ok(()),
        "loopback without a token is fine"
    );
}
