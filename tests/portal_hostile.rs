//! Hostile requests to the Portal's admin API: each gets its exact 4xx answer with a
//! JSON error, none changes what is exposed, and the gateway serves on. Counted in
//! `sluice_admin_requests_total{result}`.

mod common;

use common::admin_api::{raw_request, raw_response, Admin};
use common::RawClient;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-0123456789";

/// One hostile request: raw bytes, the status and error code it must get.
struct Case {
    what: &'static str,
    raw: Vec<u8>,
    status: u16,
    error: &'static str,
}

fn request(method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn authed(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    request(method, path, Some(&format!("Bearer {TOKEN}")), body)
}

fn cases() -> Vec<Case> {
    let bearer = format!("Bearer {TOKEN}");
    let long_topic = "t".repeat(250);
    let mut chunked_over = format!(
        "PUT /api/v1/patterns HTTP/1.1\r\nHost: admin\r\nConnection: close\r\nAuthorization: {bearer}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..3 {
        chunked_over.extend_from_slice(b"8000\r\n");
        chunked_over.extend_from_slice(&[b'a'; 0x8000]);
        chunked_over.extend_from_slice(b"\r\n");
    }
    chunked_over.extend_from_slice(b"0\r\n\r\n");
    vec![
        Case {
            what: "no token",
            raw: request("GET", "/api/v1/topics", None, b""),
            status: 401,
            error: "unauthorized",
        },
        Case {
            what: "wrong token",
            raw: request(
                "PUT",
                "/api/v1/topics/evil",
                Some("Bearer admin-token-0123456780"),
                b"",
            ),
            status: 401,
            error: "unauthorized",
        },
        Case {
            what: "token as Basic auth",
            raw: request(
                "DELETE",
                "/api/v1/topics/demo",
                Some(&format!("Basic {TOKEN}")),
                b"",
            ),
            status: 401,
            error: "unauthorized",
        },
        Case {
            what: "token prefix only",
            raw: request(
                "DELETE",
                "/api/v1/topics/demo",
                Some("Bearer admin-token"),
                b"",
            ),
            status: 401,
            error: "unauthorized",
        },
        Case {
            what: "a page of another origin, token and all",
            raw: {
                let mut raw = authed("PUT", "/api/v1/topics/evil", b"");
                let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                raw.splice(at..at, b"\r\nOrigin: http://evil.example".iter().copied());
                raw
            },
            status: 403,
            error: "forbidden_origin",
        },
        Case {
            what: "topic name with a space",
            raw: authed("PUT", "/api/v1/topics/bad%20name", b""),
            status: 400,
            error: "invalid_topic",
        },
        Case {
            what: "topic name of 250 characters",
            raw: authed("PUT", &format!("/api/v1/topics/{long_topic}"), b""),
            status: 400,
            error: "invalid_topic",
        },
        Case {
            what: "topic name with bad percent-encoding",
            raw: authed("PUT", "/api/v1/topics/%zz", b""),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "regex that does not compile",
            raw: authed("PUT", "/api/v1/patterns", br#"{"regex":"("}"#),
            status: 400,
            error: "invalid_pattern",
        },
        Case {
            what: "regex too large once compiled",
            raw: authed(
                "PUT",
                "/api/v1/patterns",
                br#"{"regex":"((a{100}){100}){100}"}"#,
            ),
            status: 400,
            error: "invalid_pattern",
        },
        Case {
            what: "malformed JSON",
            raw: authed("PUT", "/api/v1/patterns", br#"{"regex":"#),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "unknown JSON field",
            raw: authed("PUT", "/api/v1/patterns", br#"{"regex":"a.*","drop":true}"#),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "JSON of the wrong type",
            raw: authed("PUT", "/api/v1/patterns", br#"["a.*"]"#),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "declared body over portal.body_bytes_max",
            raw: {
                let mut raw = format!("PUT /api/v1/patterns HTTP/1.1\r\nHost: admin\r\nConnection: close\r\nAuthorization: {bearer}\r\nContent-Length: 104857600\r\n\r\n").into_bytes();
                raw.extend_from_slice(b"{\"regex\":\"");
                raw
            },
            status: 413,
            error: "body_too_large",
        },
        Case {
            what: "chunked body over portal.body_bytes_max",
            raw: chunked_over,
            status: 413,
            error: "body_too_large",
        },
        Case {
            what: "stop a topic that is not exposed",
            raw: authed("DELETE", "/api/v1/topics/never", b""),
            status: 404,
            error: "not_exposed",
        },
        Case {
            what: "stop a pattern that is not exposed",
            raw: authed("DELETE", "/api/v1/patterns?regex=nothing.*", b""),
            status: 404,
            error: "not_exposed",
        },
        Case {
            what: "subjects of a topic not exposed",
            raw: authed("GET", "/api/v1/topics/never/subjects", b""),
            status: 404,
            error: "not_exposed",
        },
        Case {
            what: "page larger than portal.subjects_page_max",
            raw: authed("GET", "/api/v1/topics/demo/subjects?limit=100000", b""),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "page size that is not a number",
            raw: authed("GET", "/api/v1/topics/demo/subjects?limit=-1", b""),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "token lifetime over portal.token_ttl_s_max",
            raw: authed(
                "POST",
                "/api/v1/tokens",
                br#"{"user":"ann","all":["/>"],"ttl_s":999999999}"#,
            ),
            status: 400,
            error: "bad_request",
        },
        Case {
            what: "token with a bad subject pattern",
            raw: authed(
                "POST",
                "/api/v1/tokens",
                br#"{"user":"ann","all":["no-slash"],"ttl_s":60}"#,
            ),
            status: 400,
            error: "invalid_pattern",
        },
        Case {
            what: "token without an HS key to sign with",
            raw: authed(
                "POST",
                "/api/v1/tokens",
                br#"{"user":"ann","all":["/>"],"ttl_s":60}"#,
            ),
            status: 409,
            error: "no_signing_key",
        },
        Case {
            what: "unknown method on topics",
            raw: authed("PATCH", "/api/v1/topics", b""),
            status: 405,
            error: "method_not_allowed",
        },
        Case {
            what: "unknown endpoint",
            raw: authed("GET", "/api/v1/../../etc/passwd", b""),
            status: 404,
            error: "not_found",
        },
        Case {
            what: "console path that does not exist",
            raw: request("GET", "/console/../../Cargo.toml", None, b""),
            status: 404,
            error: "not_found",
        },
    ]
}

/// Idle connections (no request sent) hold at most `ADMIN_CONNECTIONS_MAX` slots:
/// one more is closed at once, and the listener serves again when they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_admin_connections_are_bounded() {
    let server = common::start(|_| {}).await;
    let addr = server.admin_addr();
    let mut idle = Vec::new();
    for _ in 0..sluice_observability::ADMIN_CONNECTIONS_MAX {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let (status, body) = raw_request(
        addr,
        b"GET /api/v1/info HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!((status, body.as_str()), (0, ""), "closed without an answer");
    drop(idle);
    let admin = Admin::new(addr);
    common::eventually("the admin listener serves again", || {
        let admin = admin.clone();
        async move { (admin.get("/api/v1/info").await.0 == 200).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_admin_requests_get_exact_errors_and_change_nothing() {
    let dir = std::env::temp_dir().join(format!("sluice-portal-hostile-{}", std::process::id()));
    let server = common::start(|c| {
        c.portal.data_dir = Some(dir.clone());
        c.admin.token = Some(TOKEN.into());
    })
    .await;
    let admin = Admin::new(server.admin_addr()).with_token(TOKEN);
    let (_, before) = admin.get("/api/v1/topics").await;

    let cases = cases();
    assert!(cases.len() >= 12);
    for case in &cases {
        let (status, body) = raw_request(server.admin_addr(), &case.raw).await;
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{}: the answer is not JSON: {body:?}", case.what));
        assert_eq!(
            (status, answer["error"].as_str()),
            (case.status, Some(case.error)),
            "{}: {answer}",
            case.what
        );
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}: a message for people",
            case.what
        );
    }

    let (status, after) = admin.get("/api/v1/topics").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "nothing changed");
    assert!(!dir.join("portal-state.json").exists(), "nothing stored");

    // The gateway serves on.
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let ok = client
        .request(r#"{"op":"subscribe","id":1,"subjects":["/demo/x"]}"#)
        .await;
    assert_eq!(ok, json!({"op":"ok","id":1}));

    let (_, metrics) = common::http::get(server.admin_addr(), "/metrics").await;
    let unauthorized = metrics
        .lines()
        .find(|l| l.starts_with("sluice_admin_requests_total{result=\"unauthorized\"}"))
        .expect("refused requests are counted");
    assert!(unauthorized.ends_with(" 4"), "{unauthorized}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without an admin token, only requests to a loopback host are served: a page
/// whose DNS name was re-pointed at 127.0.0.1 (DNS rebinding) is "same origin"
/// with the listener, and must still not read subjects or mint tokens. The
/// console may not be framed by another site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_hosts_are_served_and_the_console_is_not_framed() {
    let server = common::start(|_| {}).await;
    let addr = server.admin_addr();
    let get = |host: &str, path: &str, origin: Option<&str>| {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let rebound = get(
        "evil.example:9600",
        "/api/v1/topics",
        Some("http://evil.example:9600"),
    );
    let (status, body) = raw_request(addr, &rebound).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, answer["error"].as_str()),
        (403, Some("forbidden_host")),
        "{answer}"
    );
    let (status, body) = raw_request(addr, &get("evil.example", "/api/v1/tokens", None)).await;
    assert_eq!(status, 403, "{body}");

    for host in [
        addr.to_string(),
        format!("localhost:{}", addr.port()),
        "127.0.0.1".to_string(),
        format!("[::1]:{}", addr.port()),
    ] {
        let (status, body) = raw_request(addr, &get(&host, "/api/v1/topics", None)).await;
        assert_eq!(status, 200, "Host {host}: {body}");
    }

    let console = raw_response(addr, &get(&addr.to_string(), "/", None)).await;
    let head = console
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(
        head.contains("content-security-policy: frame-ancestors 'none'"),
        "{head}"
    );
}
