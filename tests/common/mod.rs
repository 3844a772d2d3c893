//! Shared by the end-to-end tests: a real gateway on a loopback port, and a raw
//! WebSocket client that sees exactly the frames the gateway sends.
#![allow(dead_code)]

pub mod admin_api;
pub mod certs;
pub mod forwarder;
pub mod http;
pub mod mock_kafka;
pub mod otlp;
pub mod process;
pub mod prometheus;
pub mod quic;
pub mod sdk;
pub mod tansu;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sluice::config::Config;
use sluice::server::Server;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Seconds since the Unix epoch: the clock JWT claims (`exp`, `nbf`) are stated on.
pub fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `message` frame's type, data and seq, to compare in one assertion.
pub fn message_fields(m: &Value) -> (Option<&str>, Option<&str>, Option<u64>) {
    (m["type"].as_str(), m["data"].as_str(), m["seq"].as_u64())
}

/// A new client subscribed to `subject`, and the first frame after the `ok` (the
/// snapshot, if the subject has one).
pub async fn subscribe_new_client(url: &str, subject: &str) -> (RawClient, Value) {
    let mut client = RawClient::connect(url, "sluice.v1.json")
        .await
        .with_guard(SLOW_HANG_GUARD);
    let subscribe = serde_json::json!({"op":"subscribe","id":1,"subjects":[subject]});
    assert_eq!(client.request(&subscribe.to_string()).await["op"], "ok");
    let first = client.recv().await;
    (client, first)
}

/// Subscribes `client` to `subjects` and asserts the `ok`.
pub async fn subscribe_ok(client: &mut RawClient, id: u64, subjects: &[&str]) {
    let ok = client
        .request(&serde_json::json!({"op":"subscribe","id":id,"subjects":subjects}).to_string())
        .await;
    assert_eq!(ok, serde_json::json!({"op":"ok","id":id}));
}

/// Nothing more is queued for this client: a ping is answered next.
pub async fn assert_quiet(client: &mut RawClient) {
    assert_eq!(
        client.request(r#"{"op":"ping","id":424242}"#).await,
        serde_json::json!({"op":"ok","id":424242})
    );
}

/// A new client resuming `subject` from `(epoch, seq)`, a position the gateway must
/// call void: asserts the `resync` and returns the client, its snapshot (if any) next.
pub async fn resume_expecting_resync(url: &str, subject: &str, epoch: &str, seq: u64) -> RawClient {
    let mut client = RawClient::connect(url, "sluice.v1.json")
        .await
        .with_guard(SLOW_HANG_GUARD);
    let resume = serde_json::json!({"op":"subscribe","id":1,"subjects":[subject],
        "resume":{subject:{"epoch":epoch,"seq":seq}}});
    assert_eq!(client.request(&resume.to_string()).await["op"], "ok");
    assert_eq!(
        client.recv().await,
        serde_json::json!({"op":"status","subject":subject,"status":"resync"})
    );
    client
}

/// Guards against hangs only; no test relies on timing.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// The hang guard of waits on other processes (Prometheus scraping, a broker
/// coming back, spans exported in batches).
pub const SLOW_HANG_GUARD: Duration = Duration::from_secs(90);

/// How often `eventually` looks again.
pub const POLL: Duration = Duration::from_millis(100);

/// Waits until `check` yields a value, looking again every [`POLL`]; fails the
/// test, naming `what`, only if it never does within [`SLOW_HANG_GUARD`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + SLOW_HANG_GUARD;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(POLL).await;
    }
}

pub async fn start(tweak: impl FnOnce(&mut Config)) -> Server {
    Server::start(config(tweak)).await.expect("gateway starts")
}

/// A gateway's config on free loopback ports, changed by `tweak`.
pub fn config(tweak: impl FnOnce(&mut Config)) -> Config {
    init_logs();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    // Gateways in one test process would share (and lock) ./sluice-data; the
    // durable log has its own tests with real processes.
    config.broker.embedded.storage = sluice::config::EmbeddedStorage::Memory;
    tweak(&mut config);
    config.websocket.frame_bytes_max = config.gateway.frame_bytes_max;
    config.quic.frame_bytes_max = config.gateway.frame_bytes_max;
    config
}

/// A gateway with a self-signed certificate on `wss://` and on QUIC, both on free
/// loopback ports. Clients pin `server.tls_fingerprint()`.
pub async fn start_tls_and_quic() -> Server {
    start(|config| {
        config.tls.self_signed = true;
        config.quic.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// Gateway logs are shown with a failing test's output (RUST_LOG sets the level).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type WsSink = futures_util::stream::SplitSink<WsStream, Message>;
pub type WsSource = futures_util::stream::SplitStream<WsStream>;

pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// How long a read may wait before the test is declared hung.
    guard: Duration,
}

impl RawClient {
    pub async fn connect(url: &str, subprotocol: &str) -> RawClient {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(subprotocol).unwrap(),
        );
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], subprotocol);
        RawClient {
            ws,
            guard: HANG_GUARD,
        }
    }

    /// A longer hang guard, for tests that wait on a broker recovering.
    pub fn with_guard(mut self, guard: Duration) -> RawClient {
        self.guard = guard;
        self
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws
            .send(Message::Binary(data.into()))
            .await
            .expect("send");
    }

    /// The next data frame, as JSON.
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(self.guard, self.ws.next())
                .await
                .expect("a frame within the hang guard")
                .expect("connection open")
                .expect("frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("gateway sends JSON")
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next data frame, raw binary.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        loop {
            let message = tokio::time::timeout(self.guard, self.ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            match message {
                Message::Binary(data) => return data.to_vec(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next WebSocket message of any kind, or `None` once the connection ends.
    pub async fn recv_frame(&mut self) -> Option<Message> {
        match self.ws.next().await {
            Some(Ok(message)) => Some(message),
            _ => None,
        }
    }

    /// Ends the session as a well-behaved client does, with a close frame.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Some(Ok(_)) = self.ws.next().await {}
    }

    /// Waits for the close frame the gateway sends.
    pub async fn recv_close(&mut self) -> Option<CloseFrame> {
        loop {
            let next = tokio::time::timeout(self.guard, self.ws.next())
                .await
                .expect("close within the hang guard");
            match next {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("connection failed instead of closing: {err}"),
                None => return None,
            }
        }
    }

    /// Sends a request and returns the frame that answers it, skipping nothing: the
    /// caller asserts on every frame it expects.
    pub async fn request(&mut self, text: &str) -> Value {
        self.send_text(text).await;
        self.recv().await
    }
}

/// A handshake the gateway refused: its HTTP status and body.
pub fn http_refusal(err: tokio_tungstenite::tungstenite::Error) -> (u16, String) {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

impl RawClient {
    /// Connects with extra handshake headers (`Authorization`, `Origin`, ...), from
    /// `source` if given (any 127.x.y.z works on Linux loopback). An HTTP refusal is
    /// the error.
    pub async fn connect_with(
        url: &str,
        subprotocol: &str,
        headers: &[(&str, String)],
        source: Option<std::net::IpAddr>,
    ) -> Result<RawClient, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(subprotocol).unwrap(),
        );
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let addr = format!(
            "{}:{}",
            request.uri().host().unwrap(),
            request.uri().port_u16().unwrap()
        );
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(ip) = source {
            socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
        }
        let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        let (ws, _) =
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await?;
        Ok(RawClient {
            ws,
            guard: HANG_GUARD,
        })
    }

    /// Sends any WebSocket message, raw frames included.
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Splits into a sender and a receiver, to read while writing a lot.
    pub fn split(self) -> (WsSink, WsSource) {
        self.ws.split()
    }
}
