//! `sluice serve` as a real process, for tests that run several gateways or kill one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
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
}

impl GatewayProcess {
    /// Starts `sluice serve` with the given TOML config (none: the defaults).
    pub fn start(config_toml: Option<&str>) -> GatewayProcess {
        Self::start_with_env(config_toml, &[])
    }

    /// [`GatewayProcess::start`] with extra environment variables (`OTEL_*`, ...).
    pub fn start_with_env(config_toml: Option<&str>, env: &[(&str, &str)]) -> GatewayProcess {
        let config = config_toml.map(|toml| {
            let path = std::env::temp_dir().join(format!(
                "sluice-gw-{}-{}.toml",
                std::process::id(),
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            ));
            std::fs::write(&path, toml).unwrap();
            path
        });
        let mut command = Command::new(SLUICE);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .env_remove("SLUICE_CONFIG")
            .envs(env.iter().copied());
        if let Some(path) = &config {
            command.arg("--config").arg(path);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
    }
}
