//! A whole gateway: the configured broker, the core runtime, the admin listener
//! (metrics, health), the WebSocket listener and, when configured, the QUIC
//! listener, both behind one reloadable certificate.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use sluice_auth::{AuthMode, JwtVerifier};
use sluice_core::protocol::ALPN_QUIC;
use sluice_driver::{BrokerLink, Runtime, TokenVerifier};
use sluice_kafka::Bootstrap;
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use sluice_observability::{AdminServer, BuildInfo, GatewayObserver, Metrics, Registry};
use sluice_portal::{Backend, Portal, PortalParts};
use sluice_quic::{QuicServer, QuicStats, QuicStatsReader};
use sluice_tls::{Fingerprint, ReloadableCert};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::async_runtime::Background;
use crate::config::{BrokerKind, Config, TlsSettings};
use crate::portal_wiring::{self, Applier, KafkaBackend, MemoryBackend};
use crate::probe::{BrokerProbe, ServerProbe};
use crate::revocation_watch;
use crate::shards::{ExtraShards, ShardBroker};

/// Worker threads of the QUIC listener and its sessions.
const QUIC_WORKERS: usize = 2;

/// A gateway serving on a bound address. Dropping it stops accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    runtime: Runtime,
    extra_shards: ExtraShards,
    broker: Option<MemoryBroker>,
    admin: AdminServer,
    accept: JoinHandle<std::io::Result<()>>,
    cert: Option<Arc<ReloadableCert>>,
    quic: Option<QuicServer>,
    /// The threads QUIC runs on (see `Launched::listen`). Declared after `quic`,
    /// so the listener is dropped first.
    _quic_thread: Option<Background>,
    /// Reloads the revocation list, if one is configured.
    revocation: Option<JoinHandle<()>>,
}

/// A gateway whose broker session, core and admin listener run, but which does not
/// accept clients yet: [`Launched::listen`] waits for the snapshot bootstrap first.
/// Meanwhile `/readyz` says how far it got.
pub struct Launched {
    config: Config,
    runtime: Runtime,
    extra_shards: ExtraShards,
    broker: Option<MemoryBroker>,
    admin: AdminServer,
    bootstrap: Option<watch::Receiver<Bootstrap>>,
    /// Where the QUIC listener's counters are shown to the admin listener.
    quic_stats: Arc<OnceLock<QuicStatsReader>>,
    /// The admin API and console, told the client URL once it is bound.
    portal: Portal,
    /// The topics the listener waits for the broker to announce: all exposed ones on
    /// the embedded broker; on Kafka the configured ones still exposed (not the
    /// Portal's, one of which may be gone from Kafka).
    listed_topics: Vec<String>,
}

impl Server {
    /// Starts the broker session, the core and the admin listener, waits until the
    /// broker's snapshot bootstrap has caught up (Kafka), then binds the listener.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        Self::launch(config, None).await?.listen().await
    }

    /// [`Server::start`] on an embedded broker shared with other gateways (tests and
    /// tools run a cluster in one process this way); `config.broker` is ignored.
    pub async fn start_on(config: Config, broker: MemoryBroker) -> anyhow::Result<Server> {
        Self::launch(config, Some(broker)).await?.listen().await
    }

    /// Everything but the client listener: see [`Launched`].
    pub async fn launch(
        config: Config,
        shared_broker: Option<MemoryBroker>,
    ) -> anyhow::Result<Launched> {
        config.validate().map_err(anyhow::Error::msg)?;
        let mut config = config;
        let admin_token = config.admin.admin_token().map_err(anyhow::Error::msg)?;
        // The Portal's stored changes, folded over the config's starting set before
        // anything starts, so their topics are part of the bootstrap.
        let on_kafka = shared_broker.is_none() && config.broker.kind == BrokerKind::Kafka;
        let stored = portal_wiring::load(&config, on_kafka).await?;
        let config_topics = config.gateway.exposed_topics.clone();
        let config_patterns: Vec<String> = match config.broker.kind {
            BrokerKind::Kafka => config
                .broker
                .kafka
                .exposed_topic_pattern
                .iter()
                .cloned()
                .collect(),
            BrokerKind::Embedded => Vec::new(),
        };
        let (topics, patterns) = stored.state.effective(&config_topics, &config_patterns);
        // The embedded broker creates every exposed topic; Kafka may have lost one
        // the Portal exposed, which must not hold the start back.
        let listed_topics: Vec<String> = match on_kafka {
            true => config_topics
                .iter()
                .filter(|t| topics.contains(t))
                .cloned()
                .collect(),
            false => topics.clone(),
        };
        config.gateway.exposed_topics = topics;
        config.gateway.exposed_topic_patterns = patterns;
        let kafka = &config.broker.kafka;
        if on_kafka && kafka.consumption == sluice_kafka::Consumption::Interest {
            config.gateway.partition_release_grace_ms = Some(kafka.interest_grace_ms);
        }
        let mut kafka_parts = None;
        let mut kafka_shards = Vec::new();
        let registry = Registry::new();
        let observer: Arc<dyn sluice_driver::Observer> = Arc::new(GatewayObserver::new(
            &registry,
            config.telemetry.publish_spans_max,
        )?);
        let (link, broker, probe, bootstrap) = match (config.broker.kind, shared_broker) {
            (_, Some(broker)) => {
                let (commands, events) = broker.connect();
                let probe = BrokerProbe::Memory(broker.clone());
                (BrokerLink { commands, events }, Some(broker), probe, None)
            }
            (BrokerKind::Embedded, None) => {
                let broker = memory_broker(&config)?;
                let (commands, events) = broker.connect();
                let probe = BrokerProbe::Memory(broker.clone());
                (BrokerLink { commands, events }, Some(broker), probe, None)
            }
            (BrokerKind::Kafka, None) => {
                let mut link = sluice_kafka::connect_sharded(
                    config.broker.kafka.clone(),
                    config_topics.clone(),
                    &stored.state.to_changes(),
                    config.runtime.shard_count(),
                )?;
                kafka_shards = std::mem::take(&mut link.shards);
                kafka_parts = Some((
                    link.exposure.clone(),
                    link.lag.clone(),
                    link.reachable.clone(),
                ));
                let probe = BrokerProbe::Kafka {
                    bootstrap: link.bootstrap.clone(),
                    reachable: link.reachable.clone(),
                    lag: link.lag.clone(),
                    consumed: link.consumed.clone(),
                };
                let bootstrap = Some(link.bootstrap.clone());
                let link = BrokerLink {
                    commands: link.commands,
                    events: link.events,
                };
                (link, None, probe, bootstrap)
            }
        };
        // The runtime starts before the listener, so the bootstrap's records are
        // consumed while we wait.
        let runtime = start_runtime(&config, link, observer.clone())?;
        let shard_links = match &broker {
            Some(broker) => (1..config.runtime.shard_count())
                .map(|_| ShardBroker::Memory(broker.clone()))
                .collect(),
            None => kafka_shards
                .into_iter()
                .map(|link| ShardBroker::Kafka(Box::new(link)))
                .collect(),
        };
        let extra_shards = ExtraShards::start(shard_links, &config, &observer, start_runtime)?;
        let build = BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            broker: match probe {
                BrokerProbe::Memory(_) => "memory",
                BrokerProbe::Kafka { .. } => "kafka",
            }
            .to_owned(),
        };
        let quic_stats = Arc::new(OnceLock::new());
        let probe = Arc::new(ServerProbe {
            runtime: runtime.clone(),
            extra_shards: extra_shards.runtimes().cloned().collect(),
            broker: probe,
            quic: quic_stats.clone(),
        });
        let runtimes: Vec<Runtime> = std::iter::once(&runtime)
            .chain(extra_shards.runtimes())
            .cloned()
            .collect();
        let memory = broker
            .as_ref()
            .map(|b| (b.clone(), config.broker.embedded.partitions));
        let applier = Applier::new(
            runtimes.clone(),
            memory.clone(),
            kafka_parts.as_ref().map(|(e, l, _)| (e.clone(), l.clone())),
        );
        let backend: Arc<dyn Backend> = match (kafka_parts, memory) {
            (Some((_, lag, reachable)), _) => Arc::new(KafkaBackend::start(
                config.broker.kafka.clone(),
                config.portal.kafka_topic.clone(),
                stored.log,
                applier,
                reachable,
                lag,
            )),
            (None, Some((broker, partitions))) => Arc::new(MemoryBackend::new(
                config.portal_state_dir(),
                stored.state,
                broker,
                partitions,
                applier,
            )),
            (None, None) => anyhow::bail!("a gateway runs on the embedded broker or on Kafka"),
        };
        let portal = Portal::start(PortalParts {
            config: config.portal.clone(),
            admin_token,
            auth: config.auth.clone(),
            runtimes,
            backend,
            registry: registry.clone(),
            allowed_origins: config.websocket.allowed_origins.clone(),
        })?;
        let metrics = Arc::new(Metrics::new(registry, probe, &config.gateway, &build));
        let admin = AdminServer::start_with(config.admin.listen, metrics, Some(portal.routes()))
            .await
            .with_context(|| format!("binding the admin listener {}", config.admin.listen))?;
        tracing::info!(address = %admin.local_addr(), "admin listener serving /metrics, /healthz, /readyz, the Portal's API (/api/v1/) and console (/)");
        Ok(Launched {
            config,
            runtime,
            extra_shards,
            broker,
            admin,
            bootstrap,
            quic_stats,
            portal,
            listed_topics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The WebSocket URL clients connect to: `wss://` when TLS is on.
    pub fn url(&self) -> String {
        let scheme = if self.cert.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/v1/ws", self.local_addr)
    }

    /// The QUIC URL clients connect to, when QUIC is on.
    pub fn quic_url(&self) -> Option<String> {
        let addr = self.quic.as_ref()?.local_addr().ok()?;
        Some(format!("quic://{addr}"))
    }

    /// The QUIC listener's counters, when QUIC is on.
    pub fn quic_stats(&self) -> Option<QuicStats> {
        self.quic.as_ref().map(QuicServer::stats)
    }

    /// SHA-256 fingerprint of the certificate served now, when TLS is on.
    pub fn tls_fingerprint(&self) -> Option<Fingerprint> {
        self.cert.as_ref().map(|cert| cert.fingerprint())
    }

    /// Whether the certificate comes from files that [`Server::reload_tls`] re-reads.
    pub fn tls_is_reloadable(&self) -> bool {
        self.cert.as_ref().is_some_and(|cert| cert.is_reloadable())
    }

    /// Re-reads the certificate and key files (what SIGHUP does). New handshakes on
    /// both transports get the new certificate; open connections are untouched. On
    /// error the old certificate stays. Returns the fingerprint now served.
    pub fn reload_tls(&self) -> anyhow::Result<Option<Fingerprint>> {
        match &self.cert {
            None => Ok(None),
            Some(cert) => Ok(Some(cert.reload()?)),
        }
    }

    /// The admin listener's address (`/metrics`, `/healthz`, `/readyz`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// The first shard's runtime (the only one unless `[runtime] shards` says more).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Every shard's runtime, the first first.
    pub fn runtimes(&self) -> Vec<Runtime> {
        std::iter::once(&self.runtime)
            .chain(self.extra_shards.runtimes())
            .cloned()
            .collect()
    }

    /// The embedded broker, if this gateway runs on it: tools and tests write to it
    /// as Kafka producers would.
    pub fn broker(&self) -> Option<&MemoryBroker> {
        self.broker.as_ref()
    }

    /// Runs until the listener fails.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match (&mut self.accept).await {
            Ok(result) => result.context("WebSocket listener failed"),
            Err(err) => Err(anyhow::anyhow!("listener task ended: {err}")),
        }
    }
}

impl Launched {
    /// The admin listener's address, serving while the bootstrap runs.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// Waits for the broker's snapshot bootstrap, then accepts clients.
    pub async fn listen(self) -> anyhow::Result<Server> {
        let Launched {
            config,
            runtime,
            extra_shards,
            broker,
            admin,
            bootstrap,
            quic_stats,
            portal,
            listed_topics,
        } = self;
        // A bad certificate fails the start at once, before any waiting.
        let cert = load_certificate(&config.tls, config.listen.ip())?;
        if let Some(mut bootstrap) = bootstrap {
            wait_for_bootstrap(&mut bootstrap).await?;
            // Every shard's core applies the bootstrap's records on its own: a
            // client dealt to a shard still applying them would race its snapshots.
            for shard in std::iter::once(&runtime).chain(extra_shards.runtimes()) {
                wait_for_caught_up(shard).await;
            }
        }
        for shard in std::iter::once(&runtime).chain(extra_shards.runtimes()) {
            wait_for_topics(shard, &listed_topics).await;
        }
        let listener = sluice_websocket::bind(config.listen, &config.websocket)
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        tracing::info!(address = %local_addr, "accepting clients");
        let scheme = if cert.is_some() { "wss" } else { "ws" };
        portal.set_websocket_url(format!("{scheme}://{local_addr}/v1/ws"));
        let revocation = match &config.auth.revoked_tokens_file {
            Some(file) if config.auth.mode == AuthMode::Jwt => Some(
                revocation_watch::start(
                    file.clone(),
                    config.auth.revoked_tokens_poll_ms,
                    std::iter::once(&runtime)
                        .chain(extra_shards.runtimes())
                        .cloned()
                        .collect(),
                )
                .with_context(|| format!("reading auth.revoked_tokens_file {}", file.display()))?,
            ),
            _ => None,
        };
        let tls = match &cert {
            None => None,
            Some(cert) => Some(Arc::new(sluice_tls::server_config(
                cert.clone(),
                &[b"http/1.1"],
                config.tls.session_cache_entries_max,
                false,
            )?)),
        };
        let accept = tokio::spawn(sluice_websocket::serve_sharded(
            listener,
            runtime.clone(),
            extra_shards.websocket_shards(),
            config.websocket.clone(),
            tls,
        ));
        // QUIC on threads of its own: its handshakes and packets beside the first
        // shard's connections left that one thread short, and a storm of 2,000
        // QUIC connects lost 1-133 to handshake timeouts (on one thread of its
        // own, still some). Its sessions use the first shard's core from there.
        let (quic, quic_thread) = match (config.quic.listen, &cert) {
            (Some(addr), Some(cert)) => {
                let tls = sluice_tls::server_config(
                    cert.clone(),
                    &[ALPN_QUIC],
                    config.tls.session_cache_entries_max,
                    true,
                )?;
                let thread = Background::with_workers("sluice-quic", QUIC_WORKERS)?;
                let server = {
                    let _entered = thread.handle().enter();
                    QuicServer::bind(addr, runtime.clone(), config.quic.clone(), Arc::new(tls))
                        .with_context(|| format!("binding QUIC on udp {addr}"))?
                };
                // Bound once per launch, so the cell is always empty here.
                let _ = quic_stats.set(server.stats_reader());
                (Some(server), Some(thread))
            }
            // `Config::validate` refuses QUIC without TLS.
            _ => (None, None),
        };
        Ok(Server {
            local_addr,
            runtime,
            extra_shards,
            broker,
            admin,
            accept,
            cert,
            quic,
            _quic_thread: quic_thread,
            revocation,
        })
    }
}

fn memory_broker(config: &Config) -> anyhow::Result<MemoryBroker> {
    let settings = &config.broker.embedded;
    MemoryBroker::new(MemoryBrokerConfig {
        topics: config
            .gateway
            .exposed_topics
            .iter()
            .map(|name| TopicConfig {
                name: name.clone(),
                partitions: settings.partitions,
            })
            .collect(),
        retention_records_max: settings.retention_records_max,
        retention_bytes_max: settings.retention_bytes_max,
        retention_ms: (settings.retention_ms > 0).then_some(settings.retention_ms),
        durable: settings.durable(),
        ..MemoryBrokerConfig::default()
    })
    .map_err(|err| anyhow::anyhow!("starting the embedded broker: {err}"))
}

/// The certificate of `tls`, if TLS is on. A generated one names localhost and the
/// listen address, so a client may also verify names instead of pinning.
fn load_certificate(
    tls: &TlsSettings,
    listen_ip: IpAddr,
) -> anyhow::Result<Option<Arc<ReloadableCert>>> {
    if let (Some(cert_path), Some(key_path)) = (&tls.cert_path, &tls.key_path) {
        let cert = ReloadableCert::from_files(cert_path, key_path)?;
        return Ok(Some(Arc::new(cert)));
    }
    if !tls.self_signed {
        return Ok(None);
    }
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if !listen_ip.is_unspecified() && !listen_ip.is_loopback() {
        names.push(listen_ip.to_string());
    }
    Ok(Some(Arc::new(ReloadableCert::self_signed(&names)?)))
}

/// The core runtime, with a token verifier when `[auth] mode = "jwt"`.
fn start_runtime(
    config: &Config,
    link: BrokerLink,
    observer: Arc<dyn sluice_driver::Observer>,
) -> anyhow::Result<Runtime> {
    let mut gateway = config.gateway.clone();
    gateway.auth_required = config.auth.mode == AuthMode::Jwt;
    let verifier: Option<Arc<dyn TokenVerifier>> = match config.auth.mode {
        AuthMode::None => None,
        AuthMode::Jwt => Some(Arc::new(JwtVerifier::new(&config.auth)?)),
    };
    Ok(Runtime::start_with(gateway, link, observer, verifier))
}

/// Waits for Kafka's snapshot bootstrap, logging why it is not done yet.
async fn wait_for_bootstrap(bootstrap: &mut watch::Receiver<Bootstrap>) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let state = bootstrap.borrow_and_update().clone();
        let line = match &state {
            Bootstrap::Ready => return Ok(()),
            Bootstrap::Connecting(why) => format!("waiting for Kafka: {why}"),
            Bootstrap::Reading {
                records_done,
                records_total,
            } => format!("bootstrap: {records_done}/{records_total} records read"),
        };
        if line != last {
            tracing::info!("{line}");
            last = line;
        }
        if bootstrap.changed().await.is_err() {
            anyhow::bail!("the Kafka session ended during bootstrap");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(revocation) = &self.revocation {
            revocation.abort();
        }
    }
}

/// Waits until the core has taken in the broker's announcement of every configured
/// topic, so the first clients are not refused as `unavailable` because an event
/// was still on its way from the broker adapter. Bounded: a topic the broker never
/// announces is logged, and clients get `unavailable` for it until it appears.
/// Waits until the core has applied the bootstrap's records, which the broker
/// session has already sent: moments at most.
async fn wait_for_caught_up(runtime: &Runtime) {
    while !runtime.broker_caught_up() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn wait_for_topics(runtime: &Runtime, topics: &[String]) {
    const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);
    let started = std::time::Instant::now();
    while !runtime.topics_known(topics) {
        if started.elapsed() > WAIT_MAX {
            tracing::warn!(
                ?topics,
                "not every exposed topic was announced by the broker; listening anyway"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
