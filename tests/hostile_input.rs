//! Hostile input against a real gateway on loopback, with entitlement (`jwt`) and
//! every limit switched on. Each row of the table is an attack and the exact answer
//! it gets (error frames, close code, HTTP refusal, dropped connection). After every
//! row a bystander on the same gateway must receive the next published message,
//! with the ack's seq: nothing the attacker did reached it, and it missed nothing.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use base64::Engine;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sluice::server::Server;
use sluice_auth::{issue_token, AuthMode, Claims, KeyAlgorithm, KeyConfig, PermissionClaims};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use common::{http_refusal, unix_now_s, RawClient, HANG_GUARD};

const JSON: &str = "sluice.v1.json";
const SECRET: &str = "hostile-input-test-secret-of-32-bytes!";
const PER_IP_MAX: usize = 8;
const PUBLISH_BURST: u32 = 100;
const ALLOWED_ORIGIN: &str = "https://app.example";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn hs256_key() -> KeyConfig {
    KeyConfig {
        kid: "k1".into(),
        algorithm: KeyAlgorithm::HS256,
        secret: Some(SECRET.into()),
        public_key_pem_file: None,
    }
}

fn claims(user: &str, sub: &[&str], publish: &[&str], ttl_s: i64) -> Claims {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    Claims {
        sub: user.into(),
        exp: unix_now_s().saturating_add_signed(ttl_s),
        nbf: None,
        iat: Some(unix_now_s()),
        jti: Some(format!("{user}-jti")),
        permissions: PermissionClaims {
            sub: strings(sub),
            publish: strings(publish),
            all: Vec::new(),
        },
    }
}

/// A token of `k1` (HS256) for `user`, valid for an hour.
fn token(user: &str, sub: &[&str], publish: &[&str]) -> String {
    issue_token(&hs256_key(), &claims(user, sub, publish, 3600)).unwrap()
}

fn sign(
    algorithm: jsonwebtoken::Algorithm,
    kid: &str,
    claims: &Claims,
    key: &jsonwebtoken::EncodingKey,
) -> String {
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// The attacker's usual token: subscribe anywhere under /demo, publish under /demo/h.
fn attacker_token() -> String {
    token("mallory", &["/demo/>"], &["/demo/h/>"])
}

struct World {
    server: Server,
    url: String,
    revoked_file: PathBuf,
    bystander: RawClient,
    publisher: RawClient,
    published: u64,
}

impl World {
    async fn start() -> World {
        let revoked_file =
            std::env::temp_dir().join(format!("sluice-hostile-revoked-{}.txt", std::process::id()));
        std::fs::write(&revoked_file, "# revoked token ids\n").unwrap();
        let revoked = revoked_file.clone();
        let server = common::start(move |c| {
            c.auth.mode = AuthMode::Jwt;
            c.auth.keys = vec![
                hs256_key(),
                KeyConfig {
                    kid: "k2".into(),
                    algorithm: KeyAlgorithm::HS512,
                    secret: Some("another-secret-for-the-second-key!!".into()),
                    public_key_pem_file: None,
                },
                KeyConfig {
                    kid: "es1".into(),
                    algorithm: KeyAlgorithm::ES256,
                    secret: None,
                    public_key_pem_file: Some(fixture("es256-public.pem")),
                },
                KeyConfig {
                    kid: "rs1".into(),
                    algorithm: KeyAlgorithm::RS256,
                    secret: None,
                    public_key_pem_file: Some(fixture("rs256-public.pem")),
                },
            ];
            c.auth.revoked_tokens_file = Some(revoked);
            c.auth.revoked_tokens_poll_ms = 50;
            c.gateway.publish_rate_per_s = 1;
            c.gateway.publish_burst = PUBLISH_BURST;
            c.websocket.handshake_timeout_ms = 1000;
            c.gateway.auth_timeout_ms = 1000;
            c.websocket.connections_per_ip_max = PER_IP_MAX;
            c.websocket.allowed_origins = vec![ALLOWED_ORIGIN.into()];
        })
        .await;
        let url = server.url();
        let connect = |token: String| {
            let url = url.clone();
            async move {
                RawClient::connect_with(&url, JSON, &bearer(&token), None)
                    .await
                    .expect("connects")
            }
        };
        let mut bystander = connect(token("bystander", &["/demo/b"], &[])).await;
        assert_eq!(
            bystander
                .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/b"]}"#)
                .await,
            json!({"op":"ok","id":1})
        );
        let publisher = connect(token("publisher", &[], &["/demo/b"])).await;
        World {
            server,
            url,
            revoked_file,
            bystander,
            publisher,
            published: 0,
        }
    }

    /// The bystander receives the next message, with the seq its publish was acked at.
    async fn bystander_receives_the_next_message(&mut self, case: &str) {
        self.published += 1;
        let n = self.published;
        let publish = json!({"op":"publish","id":n,"subject":"/demo/b","data":format!("m{n}")});
        let ack = self.publisher.request(&publish.to_string()).await;
        assert_eq!(ack["op"], "ack", "after {case}: {ack}");
        let update = self.bystander.recv().await;
        assert_eq!(
            (&update["type"], &update["data"], &update["seq"]),
            (&json!("update"), &json!(format!("m{n}")), &ack["seq"]),
            "after {case}: the bystander missed or misread m{n}"
        );
    }

    async fn attacker(&self) -> RawClient {
        self.connect_with_token(&attacker_token()).await
    }

    async fn connect_with_token(&self, token: &str) -> RawClient {
        RawClient::connect_with(&self.url, JSON, &bearer(token), None)
            .await
            .expect("connects")
    }

    /// Connects with these handshake headers; the HTTP refusal as an answer.
    async fn refused(&self, subprotocol: &str, headers: &[(&str, String)]) -> Vec<Value> {
        match RawClient::connect_with(&self.url, subprotocol, headers, None).await {
            Ok(_) => vec![json!("accepted")],
            Err(err) => {
                let (status, body) = http_refusal(err);
                vec![json!({"http": status, "body": body})]
            }
        }
    }

    async fn refused_token(&self, token: &str) -> Vec<Value> {
        self.refused(JSON, &bearer(token)).await
    }
}

/// A frame as the table states it: the error `message` is for humans (checked
/// non-empty, then left out); a close is `{"close": code, "reason": ...}`.
async fn answer(client: &mut RawClient) -> Value {
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, client.recv_frame())
            .await
            .expect("an answer within the hang guard");
        if let Some(answer) = as_answer(frame) {
            return answer;
        }
    }
}

/// A WebSocket message as the table states it; `None` for pings and pongs.
fn as_answer(frame: Option<Message>) -> Option<Value> {
    match frame {
        Some(Message::Text(text)) => {
            let mut v: Value = serde_json::from_str(&text).expect("JSON");
            if v["op"] == "error" {
                let message = v.as_object_mut().unwrap().remove("message");
                assert!(
                    message
                        .as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|m| !m.is_empty()),
                    "{v} has no message"
                );
            }
            Some(v)
        }
        Some(Message::Close(Some(c))) => Some(close(u16::from(c.code), &c.reason)),
        Some(Message::Ping(_) | Message::Pong(_)) => None,
        other => panic!("unexpected {other:?}"),
    }
}

async fn answers(client: &mut RawClient, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(answer(client).await);
    }
    out
}

/// Sends `frames` as text on the attacker's connection and reads `n` answers.
async fn send_text(w: &World, frames: &[&str], n: usize) -> Vec<Value> {
    let mut c = w.attacker().await;
    for f in frames {
        c.send_text(f).await;
    }
    answers(&mut c, n).await
}

fn invalid_frame() -> Value {
    json!({"op":"error","code":"invalid_frame"})
}

// ---- the attacks --------------------------------------------------------------

fn malformed_json(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(w, &[r#"{"op":"subscribe","id":1,"#], 1))
}

fn truncated_json(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(w, &[r#"{"op":"ping","id":5"#], 1))
}

fn json_not_an_object(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(w, &[r#""subscribe""#, "null", "1e999"], 3))
}

fn binary_garbage_on_json(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.attacker().await;
        c.send_binary(vec![0x00, 0xff, 0x13, 0x37, 0x01, 0x02, 0x80])
            .await;
        answers(&mut c, 1).await
    })
}

fn invalid_utf8_text_message(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.attacker().await;
        let bytes = b"{\"op\":\"ping\",\"id\":1,\"x\":\"\xff\xfe\"}".to_vec();
        c.send_message(Message::Frame(Frame::message(
            bytes,
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
        answers(&mut c, 1).await
    })
}

fn invalid_utf8_inside_json(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.attacker().await;
        c.send_binary(b"{\"op\":\"ping\",\"id\":1,\"x\":\"\xff\"}".to_vec())
            .await;
        answers(&mut c, 1).await
    })
}

fn ten_megabyte_frame(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let (mut sink, mut stream) = w.attacker().await.split();
        let data = "x".repeat(10 * 1024 * 1024);
        let frame = format!(r#"{{"op":"publish","id":1,"subject":"/demo/h/x","data":"{data}"}}"#);
        // The gateway closes while the frame is still being written: write and read
        // at once, and let the write fail.
        let writer = async move {
            let _ = sink.send(Message::Text(frame.into())).await;
        };
        let reader = async move {
            loop {
                let next = tokio::time::timeout(HANG_GUARD, stream.next())
                    .await
                    .expect("an answer within the hang guard");
                if let Some(answer) = as_answer(next.and_then(Result::ok)) {
                    return answer;
                }
            }
        };
        let ((), answer) = tokio::join!(writer, reader);
        vec![answer]
    })
}

/// 100 000 subscribe requests on one connection, written in windows of 1000 and
/// read as they are answered: the first `subscriptions_per_client_max` (1024) get
/// `ok`, every later one `too_many_subscriptions` then `ok`.
fn hundred_thousand_subscribes(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        const N: u64 = 100_000;
        const WINDOW: u64 = 1000;
        let (mut sink, mut stream) = w.attacker().await.split();
        let (mut oks, mut refused) = (0u64, 0u64);
        for window in 0..N / WINDOW {
            for i in window * WINDOW..(window + 1) * WINDOW {
                let f = format!(r#"{{"op":"subscribe","id":{i},"subjects":["/demo/s/{i}"]}}"#);
                sink.feed(Message::Text(f.into())).await.unwrap();
            }
            sink.flush().await.unwrap();
            let mut answered = 0;
            while answered < WINDOW {
                let m = tokio::time::timeout(HANG_GUARD, stream.next())
                    .await
                    .expect("answers within the hang guard");
                let v = as_answer(m.and_then(Result::ok));
                match v.as_ref().map(|v| (v["op"].as_str(), v["code"].as_str())) {
                    None => {}
                    Some((Some("ok"), _)) => {
                        oks += 1;
                        answered += 1;
                    }
                    Some((Some("error"), Some("too_many_subscriptions"))) => refused += 1,
                    _ => panic!("unexpected {v:?}"),
                }
            }
        }
        vec![json!({"ok": oks, "too_many_subscriptions": refused})]
    })
}

fn invalid_subject(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(
        w,
        &[r#"{"op":"subscribe","id":3,"subjects":["/demo//x","demo/x"]}"#],
        3,
    ))
}

fn wildcard_in_a_publish(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(
        w,
        &[r#"{"op":"publish","id":4,"subject":"/demo/h/*","data":"x"}"#],
        1,
    ))
}

fn wildcard_in_a_subscribe(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(send_text(
        w,
        &[r#"{"op":"subscribe","id":5,"subjects":["/demo/>"]}"#],
        2,
    ))
}

fn expired_token(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let t = issue_token(&hs256_key(), &claims("mallory", &["/>"], &[], -10)).unwrap();
        w.refused_token(&t).await
    })
}

fn not_yet_valid_token(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = claims("mallory", &["/>"], &[], 3600);
        c.nbf = Some(unix_now_s() + 600);
        w.refused_token(&issue_token(&hs256_key(), &c).unwrap())
            .await
    })
}

fn forged_token(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let forged = KeyConfig {
            secret: Some("not-the-gateways-secret-at-all!!!!!".into()),
            ..hs256_key()
        };
        let t = issue_token(&forged, &claims("mallory", &["/>"], &["/>"], 3600)).unwrap();
        w.refused_token(&t).await
    })
}

fn wrong_kid(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let key = KeyConfig {
            kid: "k9".into(),
            ..hs256_key()
        };
        let t = issue_token(&key, &claims("mallory", &["/>"], &[], 3600)).unwrap();
        w.refused_token(&t).await
    })
}

fn alg_none(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let body =
            b64.encode(serde_json::to_vec(&claims("mallory", &["/>"], &["/>"], 3600)).unwrap());
        w.refused_token(&format!("{header}.{body}.")).await
    })
}

/// The RS256 key's public PEM used as an HMAC secret under its `kid`: the classic
/// algorithm-confusion forgery.
fn algorithm_confusion(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let pem = std::fs::read(fixture("rs256-public.pem")).unwrap();
        let t = sign(
            jsonwebtoken::Algorithm::HS256,
            "rs1",
            &claims("mallory", &["/>"], &["/>"], 3600),
            &jsonwebtoken::EncodingKey::from_secret(&pem),
        );
        w.refused_token(&t).await
    })
}

/// Genuine ES256 and RS256 tokens, in the `token` query parameter, are accepted.
fn es256_and_rs256_tokens_in_the_query(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut out = Vec::new();
        let keys = [
            (jsonwebtoken::Algorithm::ES256, "es1", "es256-private.pem"),
            (jsonwebtoken::Algorithm::RS256, "rs1", "rs256-private.pem"),
        ];
        for (alg, kid, private) in keys {
            let pem = std::fs::read(fixture(private)).unwrap();
            let key = match alg {
                jsonwebtoken::Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
                _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
            }
            .unwrap();
            let t = sign(alg, kid, &claims("carol", &["/demo/c"], &[], 3600), &key);
            let url = format!("{}?token={t}", w.url);
            let mut c = RawClient::connect_with(&url, JSON, &[], None)
                .await
                .unwrap();
            c.send_text(r#"{"op":"subscribe","id":1,"subjects":["/demo/c","/demo/d"]}"#)
                .await;
            out.extend(answers(&mut c, 2).await);
        }
        out
    })
}

fn token_for_the_wrong_subject(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w
            .connect_with_token(&token("mallory", &["/demo/a/>"], &["/demo/a/>"]))
            .await;
        c.send_text(r#"{"op":"subscribe","id":1,"subjects":["/demo/a/1","/demo/b"]}"#)
            .await;
        c.send_text(r#"{"op":"publish","id":2,"subject":"/demo/b","data":"spoof"}"#)
            .await;
        answers(&mut c, 3).await
    })
}

/// A refresh must be for the connection's user; the refused one changes nothing.
fn refresh_for_another_user(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.attacker().await;
        let alice = token("alice", &["/>"], &["/>"]);
        c.send_text(&json!({"op":"auth","id":1,"token":alice}).to_string())
            .await;
        c.send_text(r#"{"op":"publish","id":2,"subject":"/demo/b","data":"as alice"}"#)
            .await;
        answers(&mut c, 2).await
    })
}

fn first_frame_not_auth(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = RawClient::connect_with(&w.url, JSON, &[], None)
            .await
            .unwrap();
        c.send_text(r#"{"op":"subscribe","id":1,"subjects":["/demo/b"]}"#)
            .await;
        answers(&mut c, 1).await
    })
}

/// Upgraded without a token, then silence: closed when `auth_timeout_ms` passes.
fn never_authenticates(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = RawClient::connect_with(&w.url, JSON, &[], None)
            .await
            .unwrap();
        answers(&mut c, 1).await
    })
}

/// Without a token in the handshake: a forged `auth` frame is refused, a genuine
/// one then accepted, and the connection works.
fn auth_frame_forged_then_genuine(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = RawClient::connect_with(&w.url, JSON, &[], None)
            .await
            .unwrap();
        let mut forged = attacker_token();
        forged.push('x');
        c.send_text(&json!({"op":"auth","id":1,"token":forged}).to_string())
            .await;
        c.send_text(&json!({"op":"auth","id":2,"token":attacker_token()}).to_string())
            .await;
        c.send_text(r#"{"op":"ping","id":3}"#).await;
        answers(&mut c, 3).await
    })
}

/// 150 publishes at once against a burst of 100 and 1/s: 100 acks, 50 `rate_limited`.
fn publish_flood(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.attacker().await;
        for id in 1..=150 {
            c.send_text(
                &json!({"op":"publish","id":id,"subject":"/demo/h/flood","data":"x"}).to_string(),
            )
            .await;
        }
        let mut tally = std::collections::BTreeMap::<String, u64>::new();
        for _ in 0..150 {
            let a = answer(&mut c).await;
            let kind = a["code"].as_str().or(a["op"].as_str()).unwrap().to_owned();
            *tally.entry(kind).or_default() += 1;
        }
        vec![json!(tally)]
    })
}

/// Half an HTTP request, then silence: dropped at the handshake timeout.
fn slowloris(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let before = w.server.runtime().stats().handshake_timeouts_total;
        let mut tcp = TcpStream::connect(w.server.local_addr()).await.unwrap();
        tcp.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
            .await
            .unwrap();
        let rest = read_to_end(&mut tcp).await;
        let after = w.server.runtime().stats().handshake_timeouts_total;
        vec![json!({"dropped": rest.is_empty(), "handshake_timeouts_total": after - before})]
    })
}

fn wrong_subprotocol(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move { w.refused("mqtt", &bearer(&attacker_token())).await })
}

fn origin_not_allowed(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut headers = bearer(&attacker_token());
        headers.push(("origin", "https://evil.example".into()));
        let mut out = w.refused(JSON, &headers).await;
        headers.pop();
        headers.push(("origin", ALLOWED_ORIGIN.into()));
        out.extend(w.refused(JSON, &headers).await);
        out
    })
}

/// An upgraded connection whose client shuts its sending side: the gateway ends it.
fn half_closed_tcp(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut tcp = raw_upgrade(w, None).await;
        tcp.shutdown().await.unwrap();
        let rest = read_to_end(&mut tcp).await;
        // Whatever the gateway sent before closing is at most its close frame.
        vec![json!({"ended": true, "close_frame_or_nothing": rest.is_empty() || rest[0] == 0x88})]
    })
}

/// `connections_per_ip_max` connections from 127.0.0.2, then one more: HTTP 429.
/// Other addresses (the bystander's) are not affected.
fn too_many_connections_from_one_ip(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let mut open = Vec::new();
        for _ in 0..PER_IP_MAX {
            open.push(raw_upgrade(w, Some(source)).await);
        }
        let refused =
            RawClient::connect_with(&w.url, JSON, &bearer(&attacker_token()), Some(source))
                .await
                .err()
                .map(http_refusal)
                .expect("refused");
        vec![json!({"http": refused.0, "body": refused.1})]
    })
}

fn revoked_token(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let mut c = w.connect_with_token(&token("eve", &["/demo/e"], &[])).await;
        let mut out = vec![c.request(r#"{"op":"ping","id":1}"#).await];
        std::fs::write(&w.revoked_file, "# revoked\neve-jti\n").unwrap();
        out.push(answer(&mut c).await);
        out
    })
}

/// A token within the notice period of its expiry: `token_expiring` at once, the
/// close (4002) at `exp`.
fn token_expiring_then_expired(w: &mut World) -> BoxFuture<'_, Vec<Value>> {
    Box::pin(async move {
        let t = issue_token(&hs256_key(), &claims("dave", &["/demo/d"], &[], 2)).unwrap();
        let mut c = w.connect_with_token(&t).await;
        let mut notice = answer(&mut c).await;
        let expires_in_ms = notice
            .as_object_mut()
            .unwrap()
            .remove("expires_in_ms")
            .and_then(|v| v.as_u64())
            .unwrap();
        assert!((1..=2000).contains(&expires_in_ms), "{expires_in_ms}");
        vec![notice, answer(&mut c).await]
    })
}

// ---- helpers for raw TCP -------------------------------------------------------

async fn read_to_end(tcp: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    tokio::time::timeout(HANG_GUARD, tcp.read_to_end(&mut rest))
        .await
        .expect("the gateway ends the connection within the hang guard")
        .ok();
    rest
}

/// A WebSocket upgrade written by hand (with the attacker's token), from `source`.
async fn raw_upgrade(w: &World, source: Option<IpAddr>) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(ip) = source {
        socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
    }
    let mut tcp = socket.connect(w.server.local_addr()).await.unwrap();
    let request = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {}\r\n\r\n",
        attacker_token()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(HANG_GUARD, tcp.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "upgrade answer cut short: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

// ---- the table -----------------------------------------------------------------

type Attack = for<'a> fn(&'a mut World) -> BoxFuture<'a, Vec<Value>>;

fn error(id: Option<u64>, subject: Option<&str>, code: &str) -> Value {
    let mut v = json!({"op":"error","code":code});
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    if let Some(subject) = subject {
        v["subject"] = json!(subject);
    }
    v
}

fn http(status: u16, body: &str) -> Value {
    json!({"http": status, "body": body})
}

fn close(code: u16, reason: &str) -> Value {
    json!({"close": code, "reason": reason})
}

fn cases() -> Vec<(&'static str, Attack, Vec<Value>)> {
    let ok = |id: u64| json!({"op":"ok","id":id});
    vec![
        ("malformed JSON", malformed_json, vec![invalid_frame()]),
        ("truncated JSON", truncated_json, vec![invalid_frame()]),
        (
            "JSON that is not an object",
            json_not_an_object,
            vec![invalid_frame(); 3],
        ),
        (
            "binary garbage on the JSON subprotocol",
            binary_garbage_on_json,
            vec![invalid_frame()],
        ),
        (
            "invalid UTF-8 in a text message",
            invalid_utf8_text_message,
            vec![close(1007, "text message is not UTF-8")],
        ),
        (
            "invalid UTF-8 inside JSON",
            invalid_utf8_inside_json,
            vec![invalid_frame()],
        ),
        (
            "a 10 MB frame",
            ten_megabyte_frame,
            vec![close(1009, "frame too large")],
        ),
        (
            "100k subscribe requests",
            hundred_thousand_subscribes,
            vec![json!({"ok": 100_000, "too_many_subscriptions": 100_000 - 1024})],
        ),
        (
            "an invalid subject",
            invalid_subject,
            vec![
                error(Some(3), Some("/demo//x"), "invalid_subject"),
                error(Some(3), Some("demo/x"), "invalid_subject"),
                ok(3),
            ],
        ),
        (
            "a wildcard in a publish",
            wildcard_in_a_publish,
            vec![error(Some(4), Some("/demo/h/*"), "invalid_subject")],
        ),
        (
            "a wildcard in a subscribe",
            wildcard_in_a_subscribe,
            vec![error(Some(5), Some("/demo/>"), "invalid_subject"), ok(5)],
        ),
        (
            "an expired token",
            expired_token,
            vec![http(401, "token expired")],
        ),
        (
            "a token not valid yet",
            not_yet_valid_token,
            vec![http(401, "token not valid yet (`nbf`)")],
        ),
        (
            "a forged token",
            forged_token,
            vec![http(401, "bad signature")],
        ),
        (
            "a wrong kid",
            wrong_kid,
            vec![http(401, "unknown key id (`kid`)")],
        ),
        (
            "alg: none",
            alg_none,
            vec![http(
                401,
                "malformed token header, or an algorithm Sluice does not accept",
            )],
        ),
        (
            "algorithm confusion (RS256 key as HS256 secret)",
            algorithm_confusion,
            vec![http(401, "the token's algorithm is not its key's")],
        ),
        (
            "genuine ES256 and RS256 tokens in the query",
            es256_and_rs256_tokens_in_the_query,
            vec![
                error(Some(1), Some("/demo/d"), "forbidden"),
                ok(1),
                error(Some(1), Some("/demo/d"), "forbidden"),
                ok(1),
            ],
        ),
        (
            "a token for the wrong subject",
            token_for_the_wrong_subject,
            vec![
                error(Some(1), Some("/demo/b"), "forbidden"),
                ok(1),
                error(Some(2), Some("/demo/b"), "forbidden"),
            ],
        ),
        (
            "a refresh with a token for a different user",
            refresh_for_another_user,
            vec![
                error(Some(1), None, "forbidden"),
                error(Some(2), Some("/demo/b"), "forbidden"),
            ],
        ),
        (
            "a first frame that is not auth",
            first_frame_not_auth,
            vec![close(4001, "authentication required")],
        ),
        (
            "a connection that never authenticates",
            never_authenticates,
            vec![close(4001, "no token in time")],
        ),
        (
            "a forged auth frame, then a genuine one",
            auth_frame_forged_then_genuine,
            vec![error(Some(1), None, "unauthorized"), ok(2), ok(3)],
        ),
        (
            "a publish flood over the rate",
            publish_flood,
            vec![json!({"ack": PUBLISH_BURST, "rate_limited": 150 - PUBLISH_BURST})],
        ),
        (
            "a slowloris handshake",
            slowloris,
            vec![json!({"dropped": true, "handshake_timeouts_total": 1})],
        ),
        (
            "a wrong subprotocol",
            wrong_subprotocol,
            vec![http(
                400,
                "no supported subprotocol; offer sluice.v1.json or sluice.v1.bin",
            )],
        ),
        (
            "an Origin not on the allow-list",
            origin_not_allowed,
            vec![http(403, "origin not allowed"), json!("accepted")],
        ),
        (
            "a half-closed TCP connection",
            half_closed_tcp,
            vec![json!({"ended": true, "close_frame_or_nothing": true})],
        ),
        (
            "too many connections from one IP",
            too_many_connections_from_one_ip,
            vec![http(429, "too many connections from this address")],
        ),
        (
            "a revoked token",
            revoked_token,
            vec![ok(1), close(4003, "token revoked")],
        ),
        (
            "a token expiring, then expired",
            token_expiring_then_expired,
            vec![
                json!({"op":"status","status":"token_expiring"}),
                close(4002, "token expired"),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_exact_answers_and_the_bystander_misses_nothing() {
    let mut world = World::start().await;
    let cases = cases();
    assert!(cases.len() >= 20);
    for (name, attack, expected) in cases {
        let got = attack(&mut world).await;
        assert_eq!(got, expected, "case: {name}");
        world.bystander_receives_the_next_message(name).await;
    }
    let stats = world.server.runtime().stats();
    assert_eq!(stats.connections_refused_per_ip_total, 1);
    assert_eq!(stats.handshakes_refused_origin_total, 1);
    assert_eq!(stats.token_revoked_disconnects_total, 1);
    assert_eq!(stats.token_expired_disconnects_total, 1);
    assert_eq!(stats.unauthenticated_disconnects_total, 2);
    assert_eq!(
        stats.publishes_rate_limited_total,
        150 - u64::from(PUBLISH_BURST)
    );
    assert!(stats.handshakes_refused_token_total >= 6, "{stats:?}");
    let _ = std::fs::remove_file(&world.revoked_file);
}

/// `connections_max` counts every connection: one more gets HTTP 503, and the
/// bystander, already connected, keeps receiving.
#[tokio::test]
async fn connections_over_the_total_limit_get_503() {
    let server = common::start(|c| c.websocket.connections_max = 3).await;
    let url = server.url();
    let mut bystander = RawClient::connect(&url, JSON).await;
    assert_eq!(
        bystander
            .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/b"]}"#)
            .await,
        json!({"op":"ok","id":1})
    );
    let mut publisher = RawClient::connect(&url, JSON).await;
    let _third = RawClient::connect(&url, JSON).await;
    let refused = RawClient::connect_with(&url, JSON, &[], None)
        .await
        .err()
        .map(http_refusal);
    assert_eq!(refused, Some((503, "too many connections".to_owned())));
    assert_eq!(server.runtime().stats().connections_refused_limit_total, 1);
    let ack = publisher
        .request(r#"{"op":"publish","id":1,"subject":"/demo/b","data":"still here"}"#)
        .await;
    let update = bystander.recv().await;
    assert_eq!(
        (&update["data"], &update["seq"]),
        (&json!("still here"), &ack["seq"])
    );
}
