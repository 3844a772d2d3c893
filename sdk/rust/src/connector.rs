//! Opens a link to one server of the list, by its URL's scheme.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::protocol::Encoding;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::config::ClientConfig;
use crate::connection::connect_once;
use crate::error::ClientError;
#[cfg(feature = "quic")]
use crate::quic_link::QuicConnector;
use crate::stats::Counters;
use crate::transport::Transport;

pub(crate) type Attempt = Pin<Box<dyn Future<Output = Result<Transport, AttemptError>> + Send>>;

/// Why a connect attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttemptError {
    pub detail: String,
    /// The gateway refused the token (HTTP 401): trying again with it is pointless.
    pub token_refused: bool,
}

impl From<String> for AttemptError {
    fn from(detail: String) -> Self {
        AttemptError {
            detail,
            token_refused: false,
        }
    }
}

impl From<&str> for AttemptError {
    fn from(detail: &str) -> Self {
        AttemptError::from(detail.to_owned())
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Everything a connect attempt needs, shared by the client's handles and its task.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    encoding: Encoding,
    timeout: Duration,
    /// TLS for `wss://` servers.
    #[cfg(feature = "quic")]
    websocket_tls: Arc<sluice_tls::rustls::ClientConfig>,
    /// The QUIC endpoint, when the list has a `quic://` server.
    #[cfg(feature = "quic")]
    quic: Option<Arc<QuicConnector>>,
    counters: Arc<Counters>,
}

impl Connector {
    pub(crate) fn new(config: &ClientConfig, servers: &[Uri]) -> Result<Connector, ClientError> {
        let counters = Arc::new(Counters::default());
        #[cfg(feature = "quic")]
        {
            let pins = config
                .tls_pins_sha256
                .iter()
                .map(|pin| pin.parse::<sluice_tls::Fingerprint>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::InvalidConfig(format!("`tls_pins_sha256`: {e}")))?;
            let websocket_tls = sluice_tls::client_config(&pins, &[], false)
                .map_err(|e| ClientError::InvalidConfig(e.to_string()))?;
            let quic = servers
                .iter()
                .any(|uri| uri.scheme_str() == Some("quic"))
                .then(|| QuicConnector::new(config, &pins, counters.clone()))
                .transpose()?
                .map(Arc::new);
            Ok(Connector {
                encoding: config.encoding,
                timeout: config.connect_timeout(),
                websocket_tls: Arc::new(websocket_tls),
                quic,
                counters,
            })
        }
        #[cfg(not(feature = "quic"))]
        {
            let _ = servers;
            Ok(Connector {
                encoding: config.encoding,
                timeout: config.connect_timeout(),
                counters,
            })
        }
    }

    /// One attempt at `uri`, within the connect timeout. A WebSocket carries
    /// `token` in its upgrade request; over QUIC the connection sends it as its
    /// first frame (`Connection::restore_subscriptions`).
    pub(crate) fn attempt(&self, uri: Uri, token: Option<String>) -> Attempt {
        let connector = self.clone();
        Box::pin(async move {
            match uri.scheme_str() {
                #[cfg(feature = "quic")]
                Some("quic") => {
                    let quic = connector
                        .quic
                        .as_ref()
                        .ok_or("internal: no QUIC endpoint")?;
                    match tokio::time::timeout(connector.timeout, quic.connect(&uri)).await {
                        Err(_) => Err(format!(
                            "no handshake within {} ms",
                            connector.timeout.as_millis()
                        )
                        .into()),
                        Ok(link) => Ok(Transport::Quic(Box::new(link?))),
                    }
                }
                #[cfg(feature = "quic")]
                Some("wss") => {
                    let tls = tokio_tungstenite::Connector::Rustls(connector.websocket_tls.clone());
                    connect_once(uri, connector.encoding, token, connector.timeout, Some(tls))
                        .await
                        .map(Transport::WebSocket)
                }
                _ => connect_once(uri, connector.encoding, token, connector.timeout, None)
                    .await
                    .map(Transport::WebSocket),
            }
        })
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    #[cfg(feature = "quic")]
    pub(crate) fn quic(&self) -> Option<&Arc<QuicConnector>> {
        self.quic.as_ref()
    }
}
