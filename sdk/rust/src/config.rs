//! How a [`crate::Client`] connects, retries and bounds its queues.

use std::time::Duration;

use sluice_core::protocol::Encoding;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::ClientError;

/// The path of the gateway's WebSocket endpoint, added to a server URL that has none.
pub const ENDPOINT_PATH: &str = "/v1/ws";

/// Upper bound of every duration setting, so deadlines cannot overflow the clock.
const DURATION_MAX_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Settings of a [`crate::Client`]. Start from [`ClientConfig::default`] and set
/// `servers`; the other defaults suit a client on a LAN or the public internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Gateway URLs, tried in this order; on connection loss the client moves on to
    /// the next one (failover), wrapping around. `ws://host:port/v1/ws`,
    /// `wss://...` (TLS) and `quic://host:port` (QUIC, always TLS) may be mixed; the
    /// last two need the `quic` feature (on by default). A WebSocket URL without a
    /// path gets [`ENDPOINT_PATH`]. Default: `ws://127.0.0.1:8080/v1/ws`.
    pub servers: Vec<String>,
    /// Wire encoding, offered as the WebSocket subprotocol. Default: JSON, the
    /// easier one to read in a packet capture; binary is smaller on the wire. QUIC
    /// always speaks binary.
    pub encoding: Encoding,
    /// SHA-256 fingerprints of the gateway certificates to trust, for `wss://` and
    /// `quic://` (`AB:CD:…` as `sluice serve` prints them; colons optional). A
    /// pinned certificate is trusted whatever its names and dates. Empty: trust
    /// certificates issued by the Mozilla root CAs for the URL's host. Default: empty.
    pub tls_pins_sha256: Vec<String>,
    /// On a reconnect to a QUIC gateway seen before, send the restoring subscribes
    /// (idempotent) in 0-RTT early data, saving a round trip; publishes always wait
    /// for the full handshake. Default: true.
    pub quic_zero_rtt: bool,
    /// A QUIC connection silent this long is dropped (and the client reconnects).
    /// Default: 60 s.
    pub quic_idle_timeout_ms: u64,
    /// The client sends a QUIC keep-alive after this long without sending, which
    /// keeps NAT bindings open. Default: 15 s.
    pub quic_keep_alive_interval_ms: u64,
    /// First reconnect delay, before jitter. Default: 100 ms.
    pub backoff_initial_ms: u64,
    /// Ceiling of the reconnect delay, so a long outage is noticed within this long
    /// of its end. Default: 10 s.
    pub backoff_max_ms: u64,
    /// Limit on one connection attempt: TCP (and TLS) plus WebSocket handshake, or
    /// the QUIC handshake, also when a 0-RTT start already sent its subscribes.
    /// Default: 5 s.
    pub connect_timeout_ms: u64,
    /// Limit on one request, from the call until its answer, including any wait for
    /// a free in-flight slot or for a reconnect. Default: 10 s.
    pub request_timeout_ms: u64,
    /// Events buffered for the application; when full, the client stops reading the
    /// socket (the gateway then sees a slow consumer) instead of growing. Default: 4096.
    pub events_queue_max: usize,
    /// Requests sent or queued but not yet answered; further calls wait for a slot.
    /// Default: 1024.
    pub requests_in_flight_max: usize,
    /// A token for gateways with `[auth] mode = "jwt"`, sent as `Authorization:
    /// Bearer` on every (re)connect. Default: none.
    pub token: Option<String>,
    /// The gateway's inbox topic (`gateway.inbox_topic`), where
    /// [`crate::Client::request`] waits for replies. Default: `_inbox`.
    pub inbox_topic: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: vec![format!("ws://127.0.0.1:8080{ENDPOINT_PATH}")],
            encoding: Encoding::Json,
            tls_pins_sha256: Vec::new(),
            quic_zero_rtt: true,
            quic_idle_timeout_ms: 60_000,
            quic_keep_alive_interval_ms: 15_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 10_000,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            events_queue_max: 4096,
            requests_in_flight_max: 1024,
            token: None,
            inbox_topic: "_inbox".to_owned(),
        }
    }
}

impl ClientConfig {
    /// A default config for these servers.
    pub fn with_servers<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            servers: servers.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Checks every setting and parses the server URLs, so a typo fails at
    /// `connect` rather than as an endless reconnect loop.
    pub(crate) fn validate(&self) -> Result<Vec<Uri>, ClientError> {
        if self.servers.is_empty() {
            return Err(ClientError::InvalidConfig("`servers` is empty".into()));
        }
        let positive = [
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("backoff_max_ms", self.backoff_max_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("quic_idle_timeout_ms", self.quic_idle_timeout_ms),
            (
                "quic_keep_alive_interval_ms",
                self.quic_keep_alive_interval_ms,
            ),
            ("events_queue_max", self.events_queue_max as u64),
            ("requests_in_flight_max", self.requests_in_flight_max as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ClientError::InvalidConfig(format!("`{name}` must be > 0")));
        }
        if let Some((name, _)) = positive[..6].iter().find(|(_, ms)| *ms > DURATION_MAX_MS) {
            return Err(ClientError::InvalidConfig(format!(
                "`{name}` must be at most {DURATION_MAX_MS} (a week)"
            )));
        }
        if self.quic_keep_alive_interval_ms >= self.quic_idle_timeout_ms {
            return Err(ClientError::InvalidConfig(
                "`quic_keep_alive_interval_ms` must be below `quic_idle_timeout_ms`".into(),
            ));
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(ClientError::InvalidConfig(
                "`backoff_max_ms` must be >= `backoff_initial_ms`".into(),
            ));
        }
        self.servers
            .iter()
            .map(|url| parse_server_url(url))
            .collect()
    }
}

/// Parses a `ws://`, `wss://` or `quic://` URL, adding [`ENDPOINT_PATH`] to a
/// WebSocket URL that has no path.
pub(crate) fn parse_server_url(url: &str) -> Result<Uri, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(scheme @ "ws") => scheme,
        Some(scheme @ ("wss" | "quic")) if cfg!(feature = "quic") => scheme,
        Some("wss" | "quic") => {
            return Err(invalid(
                "wss:// and quic:// need TLS: sluice-client's `quic` feature is off",
            ))
        }
        _ => return Err(invalid("the scheme must be ws://, wss:// or quic://")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
    if authority.host().is_empty() {
        return Err(invalid("no host"));
    }
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    if scheme == "quic" {
        if authority.port_u16().is_none() {
            return Err(invalid("a quic:// URL needs a port"));
        }
        if !(path.is_empty() || path == "/") {
            return Err(invalid("a quic:// URL has no path"));
        }
        return Ok(uri);
    }
    if path.is_empty() || path == "/" {
        let full = format!("{scheme}://{authority}{ENDPOINT_PATH}");
        return full.parse().map_err(|_| invalid("not a URL"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_path_gets_the_endpoint_path() {
        let uri = parse_server_url("ws://gw.example:8080").unwrap();
        assert_eq!(uri.to_string(), "ws://gw.example:8080/v1/ws");
        let uri = parse_server_url("ws://gw.example:8080/").unwrap();
        assert_eq!(uri.to_string(), "ws://gw.example:8080/v1/ws");
    }

    #[test]
    fn a_url_with_a_path_is_kept() {
        let uri = parse_server_url("ws://gw.example:8080/custom/ws").unwrap();
        assert_eq!(uri.to_string(), "ws://gw.example:8080/custom/ws");
    }

    #[cfg(feature = "quic")]
    #[test]
    fn tls_and_quic_urls_are_taken() {
        let uri = parse_server_url("wss://gw.example:8443").unwrap();
        assert_eq!(uri.to_string(), "wss://gw.example:8443/v1/ws");
        let uri = parse_server_url("quic://gw.example:4433").unwrap();
        assert_eq!(uri.to_string(), "quic://gw.example:4433/");
        for url in ["quic://gw.example", "quic://gw.example:4433/v1/ws"] {
            assert!(
                matches!(parse_server_url(url), Err(ClientError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        for url in ["http://gw.example/v1/ws", "gw.example"] {
            assert!(
                matches!(parse_server_url(url), Err(ClientError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn the_default_config_is_valid() {
        assert!(ClientConfig::default().validate().is_ok());
    }

    #[test]
    fn empty_servers_and_zero_limits_are_refused() {
        let config = ClientConfig {
            servers: vec![],
            ..ClientConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ClientError::InvalidConfig(_))
        ));
        let config = ClientConfig {
            events_queue_max: 0,
            ..ClientConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ClientError::InvalidConfig(_))
        ));
    }

    #[test]
    fn durations_that_would_overflow_a_deadline_are_refused() {
        let config = ClientConfig {
            request_timeout_ms: u64::MAX,
            ..ClientConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ClientError::InvalidConfig(_))
        ));
    }
}
