//! # sluice-portal
//!
//! The operator's side of a gateway: a JSON admin API under `/api/v1/` and a web
//! console at `/`, both on the admin listener (`docs/portal.md`).
//!
//! The Portal owns nothing the core owns. Exposing or stopping a topic is an input
//! to every shard's core ([`sluice_driver::Runtime::change_exposure`]); the lists,
//! subjects and counts it shows are read from the cores. A change is first stored
//! by the [`Backend`] where every gateway of the cluster sees it (a state file for
//! the embedded broker, a compacted topic on Kafka), and reaches the cores from
//! there, this gateway's included.
//!
//! ```text
//! HTTP ─▶ Portal ─▶ Backend::store ─▶ file / compacted topic ─▶ every gateway's
//!                                                             applier ─▶ Input::Exposure
//! HTTP ◀─ Portal ◀─ Runtime::inspect (topics, subjects) + GatewayStats (rates)
//! ```

mod api;
mod config;
mod console;
mod http;
mod metrics;
mod state;
mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use sluice_auth::AuthConfig;
use sluice_core::ExposureChange;
use sluice_driver::Runtime;

pub use config::PortalConfig;
pub use state::{change_key, ExposureState, StoredChange};

/// A boxed future, for the [`Backend`]'s methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the backend refused or failed a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The topic does not exist in Kafka (404 `unknown_topic`).
    UnknownTopic(String),
    /// The broker or the store did not answer (503 `unavailable`).
    Unavailable(String),
}

/// Where changes are stored and how the broker is looked at: the binary provides
/// one for the embedded broker and one for Kafka.
pub trait Backend: Send + Sync + 'static {
    /// `memory` or `kafka`.
    fn kind(&self) -> &'static str;
    /// Whether stored changes outlive the process (false: the embedded broker
    /// without `portal.data_dir`).
    fn durable(&self) -> bool;
    /// Before a change is stored: on Kafka, checks that an exposed topic exists;
    /// on the embedded broker, creates it.
    fn prepare<'a>(&'a self, change: &'a ExposureChange)
        -> BoxFuture<'a, Result<(), BackendError>>;
    /// Stores the change durably where every gateway sees it. Every gateway,
    /// this one included, applies it from there.
    fn store<'a>(&'a self, change: &'a StoredChange) -> BoxFuture<'a, Result<(), BackendError>>;
    /// The broker view of `GET /api/v1/broker`, as JSON.
    fn broker_view(&self) -> BoxFuture<'_, serde_json::Value>;
}

/// What a Portal is built from.
pub struct PortalParts {
    pub config: PortalConfig,
    /// `[admin] token`: required as a bearer token when set.
    pub admin_token: Option<String>,
    /// `[auth]`: the keys `POST /api/v1/tokens` signs with.
    pub auth: AuthConfig,
    /// Every shard's runtime, the first first.
    pub runtimes: Vec<Runtime>,
    pub backend: Arc<dyn Backend>,
    /// The registry of `/metrics`: the Portal registers its counters there and
    /// reads the connection gauges from it.
    pub registry: prometheus::Registry,
    /// `[websocket] allowed_origins`: the console says when its own origin is missing.
    pub allowed_origins: Vec<String>,
}

/// The admin API and console of one gateway. Cheap to clone.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    config: PortalConfig,
    admin_token: Option<String>,
    auth: AuthConfig,
    runtimes: Vec<Runtime>,
    backend: Arc<dyn Backend>,
    registry: prometheus::Registry,
    metrics: metrics::PortalMetrics,
    stats: stats::StatsHistory,
    allowed_origins: Vec<String>,
    /// The client URLs, known once the listeners are bound.
    websocket_url: OnceLock<String>,
    /// One change at a time, so each waits for its own effect.
    changing: tokio::sync::Mutex<()>,
}

impl Portal {
    /// Builds the Portal and starts its stats sampler on the current tokio runtime.
    pub fn start(parts: PortalParts) -> Result<Portal, prometheus::Error> {
        let metrics = metrics::PortalMetrics::register(&parts.registry)?;
        let stats = stats::StatsHistory::new(parts.config.stats_samples_max);
        let portal = Portal {
            inner: Arc::new(Inner {
                metrics,
                stats,
                config: parts.config,
                admin_token: parts.admin_token,
                auth: parts.auth,
                runtimes: parts.runtimes,
                backend: parts.backend,
                registry: parts.registry,
                allowed_origins: parts.allowed_origins,
                websocket_url: OnceLock::new(),
                changing: tokio::sync::Mutex::new(()),
            }),
        };
        stats::spawn_sampler(Arc::downgrade(&portal.inner));
        Ok(portal)
    }

    /// Tells the console where the gateway's WebSocket listener is.
    pub fn set_websocket_url(&self, url: String) {
        // Set once per launch; a second call keeps the first.
        let _ = self.inner.websocket_url.set(url);
    }

    /// The admin listener's routes for everything but `/metrics`, `/healthz` and
    /// `/readyz`.
    pub fn routes(&self) -> sluice_observability_routes::Routes {
        let portal = self.clone();
        Arc::new(move |peer: SocketAddr, request| {
            let portal = portal.clone();
            Box::pin(async move { api::handle(&portal.inner, peer, request).await })
        })
    }
}

/// The shape of the admin listener's routes (the same as
/// `sluice_observability::AdminRoutes`, spelled out so this crate needs no
/// dependency on the exporters).
pub mod sluice_observability_routes {
    use std::future::Future;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::{Request, Response};

    pub type Routes = Arc<
        dyn Fn(
                SocketAddr,
                Request<Incoming>,
            ) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
            + Send
            + Sync,
    >;
}
