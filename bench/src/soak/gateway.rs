//! A gateway under soak: a `sluice serve` process on loopback, on the embedded
//! broker or on Kafka (librdkafka's mock cluster, in this process), with its
//! admin listener on a known port for `/metrics`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;

use crate::kafka_source::MockCluster;
use crate::system::{free_port, wait_listening, write_config};

/// The topic every soak client uses.
pub const TOPIC: &str = "soak";

/// Partitions of the soak topic, on either broker.
const PARTITIONS: i32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SoakBroker {
    /// The embedded broker, as `sluice serve` runs with no broker configured.
    Embedded,
    /// Kafka: librdkafka's mock cluster, a real Kafka-protocol broker.
    Kafka,
}

impl SoakBroker {
    pub fn name(self) -> &'static str {
        match self {
            SoakBroker::Embedded => "embedded",
            SoakBroker::Kafka => "kafka",
        }
    }
}

pub struct SoakGateway {
    pub broker: SoakBroker,
    pub ws_url: String,
    pub ws_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub pid: u32,
    pub dir: PathBuf,
    child: Child,
    /// Owns the mock cluster the gateway reads, when on Kafka.
    _kafka: Option<MockCluster>,
}

impl SoakGateway {
    pub fn start(broker: SoakBroker, dir: &Path, sluice_bin: &Path) -> anyhow::Result<SoakGateway> {
        fs::create_dir_all(dir)?;
        let port = free_port()?;
        let admin_port = free_port()?;
        let (kafka, broker_section) = match broker {
            // Smaller retention than the default, so the log is full (and memory
            // should stop growing) within the warm-up of an hour's run. The log is
            // on disk with fsync always, as `sluice serve` keeps it by default.
            SoakBroker::Embedded => (
                None,
                "[broker]\nkind = \"embedded\"\n[broker.embedded]\nretention_records_max = 20000\n"
                    .to_owned(),
            ),
            SoakBroker::Kafka => {
                let cluster = MockCluster::start(TOPIC, PARTITIONS)?;
                let section = format!(
                    "[broker]\nkind = \"kafka\"\n[broker.kafka]\nbootstrap_servers = \"{}\"\n",
                    cluster.bootstrap
                );
                (Some(cluster), section)
            }
        };
        let config = write_config(
            dir,
            port,
            &format!("127.0.0.1:{admin_port}"),
            TOPIC,
            &format!(
                "[websocket]\nconnections_max = 100000\nconnections_per_ip_max = 100000\n{broker_section}"
            ),
        )?;
        let log = fs::File::create(dir.join("sluice.log"))?;
        let child = Command::new(sluice_bin)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", sluice_bin.display()))?;
        let ws_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let gateway = SoakGateway {
            broker,
            ws_url: format!("ws://{ws_addr}/v1/ws"),
            ws_addr,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            pid: child.id(),
            dir: dir.to_owned(),
            child,
            _kafka: kafka,
        };
        wait_listening(ws_addr, Duration::from_secs(30)).with_context(|| {
            format!(
                "the {} gateway did not start; see {}",
                broker.name(),
                dir.display()
            )
        })?;
        Ok(gateway)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for SoakGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
