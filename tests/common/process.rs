//! `sluice serve` as a real process, for tests that run several gateways or kill one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// A gateway process on a free loopback port; killed on drop.
pub struct GatewayProcess {
    child: Child,
    pub url: String,
    /// Base URL of its admin listener, e.g. `http://127.0.0.1:40123`.
    pub admin_url: String,
    /// What it printed before it started listening.
    pub banner: Vec<String>,
    config: Option<PathBuf>,
    /// Its working directory, where the embedded log's `sluice-data` goes and
    /// its logs (`stderr.log`).
    pub dir: PathBuf,
    /// Removed on drop when [`GatewayProcess::start_with_env`] made it.
    dir_owned: bool,
}

impl GatewayProcess {
    /// Starts `sluice serve` with the given TOML config (none: the defaults).
    pub fn start(config_toml: Option<&str>) -> GatewayProcess {
        Self::start_with_env(config_toml, &[])
    }

    /// [`GatewayProcess::start`] with extra environment variables (`OTEL_*`, ...).
    pub fn start_with_env(config_toml: Option<&str>, env: &[(&str, &str)]) -> GatewayProcess {
        Self::start_in_scratch(config_toml, env, None)
    }

    /// In a directory of its own, removed on drop.
    fn start_in_scratch(
        config_toml: Option<&str>,
        env: &[(&str, &str)],
        admin: Option<std::sync::mpsc::Sender<String>>,
    ) -> GatewayProcess {
        let dir = scratch_path("sluice-gw-dir");
        std::fs::create_dir_all(&dir).unwrap();
        let mut gateway = Self::spawn(&dir, config_toml, env, admin);
        gateway.dir_owned = true;
        gateway
    }

    /// Starts `sluice serve` in the working directory `dir`, where the embedded
    /// log's `sluice-data` goes: a gateway started again in `dir` finds it. The
    /// directory is left in place.
    pub fn start_in(dir: &Path, config_toml: Option<&str>, env: &[(&str, &str)]) -> GatewayProcess {
        Self::spawn(dir, config_toml, env, None)
    }

    /// [`GatewayProcess::start`], sending the admin listener's URL on `admin` as soon
    /// as the gateway prints it: before it listens for clients, while it may still
    /// be bootstrapping. Blocks until it listens.
    pub fn start_reporting_admin(
        config_toml: Option<&str>,
        admin: std::sync::mpsc::Sender<String>,
    ) -> GatewayProcess {
        Self::start_in_scratch(config_toml, &[], Some(admin))
    }

    fn spawn(
        dir: &Path,
        config_toml: Option<&str>,
        env: &[(&str, &str)],
        admin: Option<std::sync::mpsc::Sender<String>>,
    ) -> GatewayProcess {
        let config = config_toml.map(|toml| {
            let path = scratch_path("sluice-gw").with_extension("toml");
            std::fs::write(&path, toml).unwrap();
            path
        });
        let mut command = Command::new(SLUICE);
        command
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .env_remove("SLUICE_CONFIG")
            .envs(env.iter().copied());
        if let Some(path) = &config {
            command.arg("--config").arg(path);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log file"))
            .spawn()
            .expect("sluice serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let mut admin_url = String::new();
        let url = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("sluice serve exited before listening: {banner:?}"))
                .unwrap();
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
            if let Some(rest) = line.strip_prefix("admin on ") {
                admin_url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(admin) = &admin {
                    let _ = admin.send(admin_url.clone());
                }
            }
            banner.push(line);
        };
        // Keep draining stdout so the gateway never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        GatewayProcess {
            child,
            url,
            admin_url,
            banner,
            config,
            dir: dir.to_owned(),
            dir_owned: false,
        }
    }

    /// Sends the process a signal by name (`HUP`, `TERM`, ...), as an operator would.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rest of a banner line that starts with `prefix`.
    pub fn banner_value(&self, prefix: &str) -> Option<&str> {
        self.banner
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
        if let Some(path) = &self.config {
            let _ = std::fs::remove_file(path);
        }
        if self.dir_owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh path under the temporary directory, unique across tests and processes.
fn scratch_path(prefix: &str) -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::temp_dir().join(format!("{prefix}-{}-{port}", std::process::id()))
}
