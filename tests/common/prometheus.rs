//! A real Prometheus server for the tests (Debian's `prometheus` package; `cargo xtask test`
//! installs it): on a free loopback port, with its config and data in a temporary
//! directory, scraping the given targets every second. Killed on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::http;

pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port` of `/metrics`) and waits
    /// until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> Prometheus {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "sluice-prometheus-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = Command::new(binary())
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts (Debian package `prometheus`; the README's test command, `cargo xtask test`, installs it)");
        let prometheus = Prometheus { child, dir, addr };
        super::eventually("Prometheus ready", || async {
            let listening = tokio::net::TcpStream::connect(addr).await.is_ok();
            (listening && http::get(addr, "/-/ready").await.0 == 200).then_some(())
        })
        .await;
        prometheus
    }

    /// An instant query's result vector (`data.result`).
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", http::encode(promql));
        let (status, body) = http::get(self.addr, &path).await;
        assert_eq!(status, 200, "query {promql}: {body}");
        let answer: Value = serde_json::from_str(&body).expect("JSON");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `promql` has a series whose value satisfies `check`; returns it.
    pub async fn wait_for(&self, promql: &str, check: impl Fn(f64) -> bool) -> f64 {
        let check = &check;
        super::eventually(
            &format!("Prometheus has {promql} as expected"),
            || async move {
                self.query(promql)
                    .await
                    .iter()
                    .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                    .find(|v| check(*v))
            },
        )
        .await
    }
}

fn binary() -> PathBuf {
    std::env::var_os("SLUICE_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "prometheus".into())
}

/// `promtool`, from the same package.
pub fn promtool() -> PathBuf {
    std::env::var_os("SLUICE_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| "promtool".into())
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
