//! The systems under test, each started as its own process on loopback with a
//! configuration sized for the load, and stopped when dropped.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::conn::{QuicClient, Target};
use crate::kafka_source::{self, MockCluster};
use crate::pinning::Pinning;
use crate::wire::{NatsWire, PusherWire, SluiceWire};

/// Which system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    Sluice,
    /// Sluice over QUIC (TLS with a generated certificate, pinned by the load).
    SluiceQuic,
    /// nats-server (Debian's package) with its WebSocket listener.
    Nats,
    /// sockudo (`cargo install sockudo`), a Pusher-protocol server.
    Sockudo,
    /// Sluice on Kafka: librdkafka's mock cluster, run in the harness (W5 only).
    SluiceKafka,
}

impl SystemKind {
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Sluice => "sluice",
            SystemKind::SluiceQuic => "sluice-quic",
            SystemKind::Nats => "nats-server",
            SystemKind::Sockudo => "sockudo",
            SystemKind::SluiceKafka => "sluice-kafka",
        }
    }
}

/// A running system.
pub struct Running {
    pub kind: SystemKind,
    pub target: Target,
    pub pid: u32,
    /// The admin listener (`/metrics`), for the systems whose metrics a scenario reads.
    pub admin: Option<SocketAddr>,
    child: Child,
    /// The mock cluster the gateway reads, owned by the run: dropped after the
    /// gateway (fields drop in order), so the gateway never sees it go.
    kafka: Option<MockCluster>,
}

impl Running {
    /// Where a Kafka producer writes, for a system on Kafka.
    pub fn kafka_bootstrap(&self) -> Option<&str> {
        self.kafka.as_ref().map(|k| k.bootstrap.as_str())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How Sluice runs, beyond what each system's start sets.
#[derive(Debug, Clone, Copy)]
pub struct SluiceOptions {
    /// On Kafka, how long the consumer lets the broker hold a fetch that finds
    /// nothing (librdkafka's `fetch.wait.max.ms`).
    pub kafka_fetch_wait_ms: u32,
    /// `[runtime] shards`.
    pub shards: usize,
    /// On Kafka: partitions of W5's topic.
    pub kafka_partitions: u32,
    /// On Kafka: `[broker.kafka] consumption`.
    pub kafka_consumption: KafkaConsumption,
}

/// `[broker.kafka] consumption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaConsumption {
    All,
    Interest,
}

impl KafkaConsumption {
    fn as_str(self) -> &'static str {
        match self {
            KafkaConsumption::All => "all",
            KafkaConsumption::Interest => "interest",
        }
    }
}

/// Starts `kind`, with its files under `dir`. `sluice_bin` is the release build
/// of the `sluice` binary. Sluice keeps its log in memory, as nats-server keeps
/// its messages.
pub fn start(
    kind: SystemKind,
    dir: &Path,
    sluice_bin: &Path,
    pinning: &Pinning,
    options: SluiceOptions,
) -> anyhow::Result<Running> {
    let runtime = format!("[runtime]\nshards = {}\n", options.shards);
    if kind == SystemKind::SluiceKafka {
        let partitions = i32::try_from(options.kafka_partitions)?;
        let cluster = MockCluster::start(kafka_source::TOPIC, partitions)?;
        // The producer keeps librdkafka's default partitioner (CRC32 of the key).
        let broker = format!(
            "{runtime}[gateway.topic_partitioners]\n{} = \"consistent\"\n[broker]\nkind = \"kafka\"\n[broker.kafka]\nbootstrap_servers = \"{}\"\nconsumption = \"{}\"\n[broker.kafka.properties]\n\"fetch.wait.max.ms\" = \"{}\"\n",
            kafka_source::TOPIC,
            cluster.bootstrap,
            options.kafka_consumption.as_str(),
            options.kafka_fetch_wait_ms
        );
        let mut running = start_with_broker(kind, dir, sluice_bin, pinning, &broker)?;
        running.kafka = Some(cluster);
        return Ok(running);
    }
    let broker = format!("{runtime}{}", embedded_broker("storage = \"memory\""));
    start_with_broker(kind, dir, sluice_bin, pinning, &broker)
}

/// The embedded broker's section with `storage` as its log's settings, and the
/// bench's bounds.
fn embedded_broker(storage: &str) -> String {
    format!("[broker.embedded]\n{storage}\npartitions = 4\nretention_records_max = 20000\n")
}

/// [`start`] with `storage` as the settings of Sluice's embedded log
/// (`[broker.embedded]` keys: `storage`, `data_dir`, `fsync`, ...).
pub fn start_with_log(
    kind: SystemKind,
    dir: &Path,
    sluice_bin: &Path,
    pinning: &Pinning,
    storage: &str,
) -> anyhow::Result<Running> {
    start_with_broker(kind, dir, sluice_bin, pinning, &embedded_broker(storage))
}

/// [`start`] with `broker` as Sluice's broker sections.
fn start_with_broker(
    kind: SystemKind,
    dir: &Path,
    sluice_bin: &Path,
    pinning: &Pinning,
    broker: &str,
) -> anyhow::Result<Running> {
    fs::create_dir_all(dir)?;
    let port = free_port()?;
    let mut admin = None;
    let (mut command, target): (Command, Target) = match kind {
        SystemKind::Sluice | SystemKind::SluiceQuic | SystemKind::SluiceKafka => {
            let mut quic = None;
            let mut tls = String::new();
            if kind == SystemKind::SluiceQuic {
                let generated = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                ])?;
                let (cert_path, key_path) = (dir.join("quic.crt"), dir.join("quic.key"));
                fs::write(&cert_path, generated.cert.pem())?;
                fs::write(&key_path, generated.signing_key.serialize_pem())?;
                let udp = free_udp_port()?;
                tls = format!(
                    "[tls]\ncert_path = {cert_path:?}\nkey_path = {key_path:?}\n[quic]\nlisten = \"127.0.0.1:{udp}\"\nconnections_max = 100000\n"
                );
                let pin = sluice_tls::Fingerprint::of(generated.cert.der());
                quic = Some(Arc::new(QuicClient::new(
                    SocketAddr::from(([127, 0, 0, 1], udp)),
                    pin,
                )?));
            }
            let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            admin = Some(admin_addr);
            let config = write_config(
                dir,
                port,
                &admin_addr.to_string(),
                kafka_source::TOPIC,
                &format!(
                    r#"publishes_in_flight_per_client_max = 65536
# The generator's few publisher connections carry the whole rate: no per-connection
# publish limit (the default, 1000/s, is an abuse guard for apps).
publish_rate_per_s = 0
message_cache_messages_per_subject_max = 16
[websocket]
ping_interval_ms = 60000
pong_timeout_ms = 120000
connections_max = 100000
connections_per_ip_max = 100000
{broker}{tls}"#
                ),
            )?;
            let mut command = pinning.server_command(sluice_bin);
            command
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", "warn");
            let target = Target {
                url: format!("ws://127.0.0.1:{port}/v1/ws"),
                wire: Arc::new(SluiceWire),
                quic,
            };
            (command, target)
        }
        SystemKind::Nats => {
            let binary = which("nats-server").context(
                "nats-server is not installed: `apt-get install nats-server` (cargo xtask bench does it)",
            )?;
            let config = dir.join("nats.conf");
            let client_port = free_port()?;
            fs::write(
                &config,
                format!(
                    "listen: 127.0.0.1:{client_port}\nmax_payload: 1048576\nwebsocket {{\n  listen: \"127.0.0.1:{port}\"\n  no_tls: true\n}}\n"
                ),
            )?;
            let mut command = pinning.server_command(binary);
            command.arg("-c").arg(&config);
            let target = Target {
                url: format!("ws://127.0.0.1:{port}"),
                wire: Arc::new(NatsWire),
                quic: None,
            };
            (command, target)
        }
        SystemKind::Sockudo => {
            let binary = which("sockudo").context(
                "sockudo is not installed: `cargo install sockudo` (cargo xtask bench does it)",
            )?;
            let (key, secret) = ("bench-key", "bench-secret");
            let metrics_port = free_port()?;
            let mut command = pinning.server_command(binary);
            command
                .current_dir(dir)
                .env("HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                // Its defaults expose metrics on 0.0.0.0:9601 and allow 20 WebSocket
                // upgrades a minute: loopback, and no limit, for a benchmark.
                .env("METRICS_ENABLED", "false")
                .env("METRICS_HOST", "127.0.0.1")
                .env("METRICS_PORT", metrics_port.to_string())
                .env("RATE_LIMITER_ENABLED", "false")
                .env("ADAPTER_DRIVER", "local")
                .env("CACHE_DRIVER", "memory")
                .env("QUEUE_DRIVER", "memory")
                .env("APP_MANAGER_DRIVER", "memory")
                .env("SOCKUDO_DEFAULT_APP_ID", "bench")
                .env("SOCKUDO_DEFAULT_APP_KEY", key)
                .env("SOCKUDO_DEFAULT_APP_SECRET", secret)
                .env("SOCKUDO_DEFAULT_APP_ENABLE_CLIENT_MESSAGES", "true")
                .env("SOCKUDO_ENABLE_CLIENT_MESSAGES", "true")
                .env("SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS", "100000")
                .env("SOCKUDO_MAX_CONNECTIONS", "100000")
                .env(
                    "SOCKUDO_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SECOND",
                    "10000000",
                )
                .env("RUST_LOG", "warn");
            let wire = PusherWire {
                key: key.to_owned(),
                secret: secret.to_owned(),
            };
            let target = Target {
                url: format!(
                    "ws://127.0.0.1:{port}/app/{key}?protocol=7&client=sluice-bench&version=1.0"
                ),
                wire: Arc::new(wire),
                quic: None,
            };
            (command, target)
        }
    };
    let log = fs::File::create(dir.join(format!("{}.log", kind.name())))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", kind.name()))?;
    let pid = child.id();
    let running = Running {
        kind,
        target,
        pid,
        admin,
        child,
        kafka: None,
    };
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(30),
    )
    .with_context(|| format!("{} did not start; see {}", kind.name(), dir.display()))?;
    Ok(running)
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes `dir/sluice.toml` for a gateway on loopback `port` exposing `topic`;
/// `rest` continues the `[gateway]` section and adds any others.
pub fn write_config(
    dir: &Path,
    port: u16,
    admin_listen: &str,
    topic: &str,
    rest: &str,
) -> std::io::Result<PathBuf> {
    let config = dir.join("sluice.toml");
    fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[admin]\nlisten = \"{admin_listen}\"\n[gateway]\nexposed_topics = [\"{topic}\"]\n{rest}"
        ),
    )?;
    Ok(config)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_listening(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on {addr} after {} s", limit.as_secs())
}

/// The path of `program` on `PATH` (or in the sbin directories Debian uses).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin")))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
