//! The systems under test, each started as its own process on loopback with a
//! configuration sized for the load, and stopped when dropped.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::wire::{NatsWire, SluiceWire, Wire};

/// Which system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    Sluice,
    /// nats-server (Debian's package) with its WebSocket listener.
    Nats,
}

impl SystemKind {
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Sluice => "sluice",
            SystemKind::Nats => "nats-server",
        }
    }
}

/// A running system.
pub struct Running {
    pub kind: SystemKind,
    pub url: String,
    pub pid: u32,
    pub wire: Arc<dyn Wire>,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kind`, with its files under `dir`. `sluice_bin` is the release build
/// of the `sluice` binary.
pub fn start(kind: SystemKind, dir: &Path, sluice_bin: &Path) -> anyhow::Result<Running> {
    fs::create_dir_all(dir)?;
    let port = free_port()?;
    let (mut command, url, wire): (Command, String, Arc<dyn Wire>) = match kind {
        SystemKind::Sluice => {
            let config = dir.join("sluice.toml");
            fs::write(
                &config,
                format!(
                    r#"listen = "127.0.0.1:{port}"
[gateway]
exposed_topics = ["bench"]
publishes_in_flight_per_client_max = 65536
message_cache_messages_per_subject_max = 16
[websocket]
ping_interval_ms = 60000
pong_timeout_ms = 120000
[broker.memory]
partitions = 4
retention_records_max = 20000
"#
                ),
            )?;
            let mut command = Command::new(sluice_bin);
            command
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", "warn");
            (
                command,
                format!("ws://127.0.0.1:{port}/v1/ws"),
                Arc::new(SluiceWire),
            )
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
            let mut command = Command::new(binary);
            command.arg("-c").arg(&config);
            (
                command,
                format!("ws://127.0.0.1:{port}"),
                Arc::new(NatsWire),
            )
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
        url,
        pid,
        wire,
        child,
    };
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(30),
    )
    .with_context(|| format!("{} did not start; see {}", kind.name(), dir.display()))?;
    Ok(running)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
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
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
