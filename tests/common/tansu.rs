//! A real Kafka-protocol broker for the tests: tansu, on a free loopback port, with
//! SQLite storage in a temporary directory. `cargo xtask test` installs it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tansu {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tansu_binary() -> PathBuf {
    let name = "tansu";
    if let Ok(path) = std::env::var("SLUICE_TANSU") {
        return path.into();
    }
    let cargo_bin = dirs_cargo_bin().join(name);
    if cargo_bin.exists() {
        return cargo_bin;
    }
    name.into()
}

fn dirs_cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

impl Tansu {
    pub fn start() -> Tansu {
        let dir = std::env::temp_dir().join(format!(
            "sluice-tansu-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut tansu = Tansu {
            child: None,
            dir,
            port: free_port(),
        };
        tansu.restart();
        tansu
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Starts the broker process (again), on the same port and storage.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "tansu is already running");
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &self.url(),
                "--advertised-listener-url",
                &self.url(),
                "--storage-engine",
                "sqlite://tansu.db?maintenance_interval=1s",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot run tansu ({err}); the README's test command, `cargo xtask test`, installs it (or: cargo install --locked tansu --version 0.6.0 --features libsql)")
            });
        self.child = Some(child);
        let address: SocketAddr = self.bootstrap().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s; see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker process; its storage stays for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Creates a topic; `compact` sets `cleanup.policy=compact`.
    pub fn create_topic(&self, name: &str, partitions: u32, compact: bool) {
        let mut command = Command::new(tansu_binary());
        command.current_dir(&self.dir).args([
            "topic",
            "create",
            name,
            "--partitions",
            &partitions.to_string(),
            "--broker",
            &self.url(),
        ]);
        if compact {
            command.args(["--config", "cleanup.policy=compact"]);
        }
        let out = command.output().expect("tansu topic create runs");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn delete_topic(&self, name: &str) {
        let out = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args(["topic", "delete", name, "--broker", &self.url()])
            .output()
            .expect("tansu topic delete runs");
        assert!(
            out.status.success(),
            "tansu topic delete {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Points `config` at `tansu`, exposing `topics`, with short timeouts so outages
/// are noticed quickly.
pub fn use_kafka(config: &mut sluice::config::Config, tansu: &Tansu, topics: &[&str]) {
    config.gateway.exposed_topics = topics.iter().map(|t| t.to_string()).collect();
    config.gateway.publish_timeout_ms = 5_000;
    config.broker.kind = sluice::config::BrokerKind::Kafka;
    config.broker.kafka = sluice_kafka::KafkaConfig {
        bootstrap_servers: tansu.bootstrap(),
        metadata_refresh_ms: 500,
        produce_timeout_ms: 3_000,
        ..sluice_kafka::KafkaConfig::default()
    };
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            // The broker's log is the first thing to read when a Kafka test fails.
            eprintln!("tansu's directory and log kept: {}", self.dir.display());
        } else if std::env::var_os("SLUICE_KEEP_TANSU").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
